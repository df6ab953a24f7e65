/**
 * The `express-transactionale` program: its commands, and the one place where a command's end
 * becomes an exit code — commander's usage errors and invalid values exit 2, a command's
 * {@link CliError} its own code, anything unexpected 1.
 */
import { Command, CommanderError } from 'commander'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version'
import { fakeApiCommand } from './fake-api'
import { outboxCommand } from './outbox'
import { CliError, EXIT, Output, reportError, type ExitCode, type Io, type Run } from './output'
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
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
