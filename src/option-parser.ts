/**
 * The one options parser behind every entry point (`transactionaleTouchpoint`, `sqliteStore`,
 * `redisStore`, `runWorker`, `registerMetrics`): a table names each option with its default (as the
 * docs show it) and a typed parser that applies it; parsing checks the object, reports unknown keys
 * with a "did you mean" hint and a throwing getter, runs every parser, and throws one
 * {@link TouchpointConfigError} that lists every problem.
 */
import { reportUnknownKeys } from './did-you-mean'
import { TouchpointConfigError, type ConfigErrorCode, type ConfigProblem } from './errors'

/** Reports one problem of the option being parsed (`path` defaults to the option's name). */
export type Report = (message: string, path?: string) => void

/** One row of an option table: the default as the docs show it, and the typed parser that applies it. */
export interface OptionSpec<T> {
  /** The default as the docs' options table shows it. */
  readonly default: string
  /** Validates the value (reporting every problem) and returns it resolved, with its default applied. */
  readonly parse: (value: unknown, report: Report) => T
}

export const spec = <T>(defaultText: string, parse: (value: unknown, report: Report) => T): OptionSpec<T> => ({
  default: defaultText,
  parse,
})

/** What a table resolves to. */
export type Resolved<Table> = { readonly [K in keyof Table]: Table[K] extends OptionSpec<infer T> ? T : never }

export interface ParserSettings {
  /** What the whole object must be, with an example: "pass an object, e.g. …". */
  readonly notAnObject: string
  /** The code of a problem with an option (`''` for the object itself, `'unknown'` for an unknown key). */
  readonly code: (option: string) => ConfigErrorCode
  /** How a problem names where it is (defaults to the option's path as reported, `options` for the object). */
  readonly path?: (path: string) => string
}

/** Parses `input` with `table`; throws a {@link TouchpointConfigError} listing every problem. */
export function parseOptions<Table extends Record<string, OptionSpec<unknown>>>(
  input: unknown,
  table: Table,
  settings: ParserSettings,
): Resolved<Table> {
  const problems: ConfigProblem[] = []
  const add = (option: string, path: string, message: string): void =>
    void problems.push({ option: settings.path?.(path) ?? path, code: settings.code(option), message })
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    add('', 'options', settings.notAnObject)
    throw new TouchpointConfigError(problems)
  }
  const raw = input as Record<string, unknown>
  const names = Object.keys(table)
  try {
    reportUnknownKeys(raw, names, (key, message) => add('unknown', key, message))
  } catch {
    add('', 'options', 'could not be read (a proxy that throws?)')
  }
  const resolved: Record<string, unknown> = {}
  for (const name of names) {
    const report: Report = (message, path = name) => add(name, path, message)
    let value: unknown
    try {
      value = raw[name]
    } catch {
      report('could not be read (its getter threw)')
      continue
    }
    resolved[name] = (table[name] as OptionSpec<unknown>).parse(value, report)
  }
  if (problems.length > 0) throw new TouchpointConfigError(problems)
  return resolved as Resolved<Table>
}

/** What a value is, for a problem's message: its kind, never its text (it may be a secret). */
export function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
}

/** A parser of a whole number from `min` to `max` (`unit`: `' of ms'`); `undefined` is `fallback`. */
export const wholeNumber =
  (fallback: number, [min, max]: readonly [number, number], unit = '') =>
  (value: unknown = fallback, report: Report): number => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
    report(`must be a whole number${unit} from ${min} to ${max} (got ${kindOf(value)})`)
    return fallback
  }

/** A parser of a boolean; `undefined` is `fallback`. */
export const boolean =
  (fallback: boolean) =>
  (value: unknown = fallback, report: Report): boolean => {
    if (typeof value === 'boolean') return value
    report(`must be a boolean (got ${kindOf(value)})`)
    return fallback
  }
