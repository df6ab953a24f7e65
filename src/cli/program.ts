/**
 * The `express-transactionale` program: its commands, and the one place where a command's end
 * becomes an exit code — commander's usage errors and invalid values exit 2, a command's
 * {@link CliError} its own code, anything unexpected 1.
 */
import { Command, CommanderError } from 'commander'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version'
import { fakeApiCommand } from './fake-api'
import { outboxCommand } from './outbox'
import { CliError, EXIT, Output, printable, reportError, type ExitCode, type Io, type Run } from './output'
import { sendCommand } from './send'
import { workerCommand } from './worker'

/** Runs the program on `argv` (`process.argv`: node, script, arguments…); resolves with the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok
  const run: Run = async (json, action) => {
    try {
      await action(new Output(io, json === true))
    } catch (error) {
      const failure = error instanceof CliError ? error : new CliError(EXIT.failed, messageOf(error))
      reportError(io, json === true, failure)
      exitCode = failure.exitCode
    }
  }

  const program = new Command(PACKAGE_NAME)
    .description(
      'Send, receive and inspect Transactionale touchpoints from the command line: check a key, rehearse against a local fake API, look at a durable outbox, run a Redis worker.',
    )
    .version(PACKAGE_VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(parseError(text, argv)),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 done, 1 the operation failed (e.g. the API answered non-2xx), 2 usage or validation error.
Every command takes --json for output that scripts can read.`,
    )
  for (const command of [sendCommand(run), fakeApiCommand(run), outboxCommand(run), workerCommand(run)]) {
    program.addCommand(command.copyInheritedSettings(program))
  }

  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error
    // Commander has already printed its message (or the help / version asked for).
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
  return exitCode
}

/** The end of commander's message when it suggests one of our own flags or commands: safe as it is. */
const SUGGESTION = /\n\(Did you mean [^\n]*\?\)$/

/**
 * A commander parse error as it may be printed. An option's value never appears: a secret typed as
 * `--api-key=…` (an option that does not exist) or given to a real option that refused it would
 * otherwise be echoed to the terminal, to logs that capture it, to CI output. Of an unknown option
 * only the name is shown (`--api-key`, `-k`); "argument '…' is invalid" loses the argument. What
 * remains of the arguments (an unknown command's name) is made {@link printable}. Commander's
 * messages are matched by their text: test/cli/program.test.ts fails if a new version changes them.
 */
function parseError(text: string, argv: readonly string[]): string {
  const message = text.endsWith('\n') ? text.slice(0, -1) : text
  const suggestion = SUGGESTION.exec(message)?.[0] ?? ''
  let body = message
    .slice(0, message.length - suggestion.length)
    .replace(/^(error: unknown option ')([\s\S]*)'$/, (_, head: string, flag: string) => `${head}${optionName(flag)}'`)
    .replace(/^(error: option '[^']*') argument '[\s\S]*' (is invalid\.)/, '$1 argument $2')
    .replace(/^(error: option '[^']*') value '[\s\S]*' (from env '[^']*' is invalid\.)/, '$1 value $2')
    .replace(/^(error: command-argument value) '[\s\S]*' (is invalid for argument)/, '$1 $2')
  // Any other echo of an argument written `--name=value` shows its name only.
  for (const arg of argv.slice(2)) {
    if (/^-[^=]*=/.test(arg)) body = body.split(arg).join(optionName(arg))
  }
  return `${printable(body)}${suggestion}\n`
}

/** An option's name without its value: `--api-key=x` → `--api-key`, `-kSECRET` → `-k`. */
function optionName(flag: string): string {
  if (flag.startsWith('--')) return flag.split('=', 1)[0] ?? flag
  return flag.startsWith('-') ? flag.slice(0, 2) : flag
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
