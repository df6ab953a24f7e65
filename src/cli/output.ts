/**
 * What every command shares: the exit codes, the error a command throws to end with one, and how
 * results reach the terminal — text for people on stdout, diagnostics on stderr, and with `--json`
 * one JSON document (or JSON lines, for a stream) on stdout for scripts.
 */
import { InvalidArgumentError } from 'commander'
import { TouchpointConfigError, type ConfigProblem } from '../errors'

/** The exit codes, documented in the README's "Command line" section. */
export const EXIT = {
  /** Done; for `send`, the API answered 2xx. */
  ok: 0,
  /** The operation failed: the API answered non-2xx or not at all, a store could not be read, … */
  failed: 1,
  /** The command line was wrong: an unknown option, a missing or invalid value, a missing API key. */
  usage: 2,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** The environment variable that holds the API key: never a flag, so it stays out of shell history. */
export const API_KEY_ENV = 'TRANSACTIONALE_API_KEY'

/** What to say when the key is needed and {@link API_KEY_ENV} is not set. */
export const MISSING_API_KEY = `${API_KEY_ENV} is not set: export the API key from the "Integrate" section of your Transactionale account`

/**
 * Ends a command with `exitCode` and `message` on stderr; with `--json`, also as JSON on stdout,
 * unless the command has printed its own JSON result already (`resultPrinted`: stdout holds one
 * document either way).
 */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** One line per problem, e.g. `--email: not a valid email address`. */
    readonly problems: readonly string[] = [],
    readonly resultPrinted = false,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** A usage error: exit code 2. */
export const usageError = (message: string, problems: readonly string[] = []): CliError =>
  new CliError(EXIT.usage, message, problems)

/**
 * The problems of a package configuration error (`resolveOptions`, `openOutbox`, `runWorker` …) as
 * lines, each option named as the command line sets it (`sources`: option → flag).
 */
export function configProblems(
  problems: readonly ConfigProblem[],
  sources: Readonly<Record<string, string>>,
): string[] {
  return problems.map((p) => `${sources[p.option] ?? p.option}: ${p.message} (${p.code})`)
}

/** Runs `open`, turning a configuration error of the package into a usage error (exit code 2). */
export function asUsageError<T>(what: string, sources: Readonly<Record<string, string>>, open: () => T): T {
  try {
    return open()
  } catch (error) {
    if (error instanceof TouchpointConfigError) throw usageError(what, configProblems(error.problems, sources))
    throw error
  }
}

/** Where a command writes; the process's streams, or others in tests. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean }
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean }
  readonly env: NodeJS.ProcessEnv
}

/**
 * Characters a terminal acts on or that hide or reorder what it shows: C0 and C1 controls and DEL
 * (a CR/LF in an `--endpoint` would forge output lines, ESC starts escape sequences), format
 * characters (bidi overrides, zero-width characters), line/paragraph separators, lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }
const hex = (n: number, digits: number): string => n.toString(16).toUpperCase().padStart(digits, '0')

/**
 * `text` as it may be printed: every character of {@link UNPRINTABLE} written as an escape (`\n`,
 * `\x1B`, `\u202E`, `\u{E0001}`), so that what the CLI prints from its arguments (or from what it
 * received) is one line that shows everything it holds.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const named = NAMED_ESCAPES[char]
    if (named !== undefined) return named
    const code = char.codePointAt(0) ?? 0
    if (code <= 0xff) return `\\x${hex(code, 2)}`
    return code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${hex(code, 1)}}`
  })
}

/** What JSON.stringify leaves raw but a terminal acts on: DEL, C1 controls, format characters, U+2028/9. */
const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu

/** JSON text with {@link UNPRINTABLE_IN_JSON} as `\uXXXX` escapes: the same JSON value, safe to print. */
function printableJson(json: string): string {
  return json.replace(UNPRINTABLE_IN_JSON, (char) => {
    let escaped = ''
    for (let i = 0; i < char.length; i++) escaped += `\\u${hex(char.charCodeAt(i), 4).toLowerCase()}`
    return escaped
  })
}

/** Writes a command's results: as text, or (with `--json`) as JSON; either way, {@link printable}. */
export class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}

  /** A line for people (skipped with `--json`). */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(`${printable(text)}\n`)
  }

  /** A JSON document or JSON line on stdout (only with `--json`). */
  data(value: unknown): void {
    if (this.json) this.io.stdout.write(`${printableJson(JSON.stringify(value))}\n`)
  }
}

/** Runs a command's action with its output, turning a thrown {@link CliError} into its exit code. */
export type Run = (json: boolean | undefined, action: (output: Output) => Promise<void>) => Promise<void>

/** Prints a command's failure: always on stderr, and as `{ ok: false, … }` on stdout with `--json`. */
export function reportError(io: Io, json: boolean, error: CliError): void {
  const lines = [`express-transactionale: ${error.message}`, ...error.problems.map((p) => `  - ${p}`)]
  io.stderr.write(`${lines.map(printable).join('\n')}\n`)
  if (json && !error.resultPrinted) {
    const result = { ok: false, exitCode: error.exitCode, error: error.message, problems: error.problems }
    io.stdout.write(`${printableJson(JSON.stringify(result))}\n`)
  }
}

/**
 * The API key as it may be shown: its first three and last two characters (`trx…f3`) when it is
 * long enough that these give nothing away, otherwise `****`.
 */
export function maskKey(key: string): string {
  return key.length >= 16 ? `${key.slice(0, 3)}…${key.slice(-2)}` : '****'
}

/** A whole number from `min` to `max`, for commander's option parsers (`--port 4599`). */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = /^\d+$/.test(value.trim()) ? Number(value) : NaN
    if (!Number.isSafeInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`)
    }
    return number
  }
}

/** Resolves with the first SIGINT or SIGTERM; a second one then ends the process the default way. */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
