/**
 * `loggerFrom()`: the shop's own logger — winston, bunyan, NestJS's `Logger` (or any `LoggerService`)
 * or `console` — adapted to the pino-shaped logger the package writes through, so every line keeps
 * its message, its level and the same fields whichever logger prints it.
 */
import { CONFIG_ERROR_CODES, TouchpointConfigError } from './errors'
import { isPinoCompatible, type LogLevel, type TouchpointLogger } from './logger'

/**
 * A logger `loggerFrom()` can adapt: a winston or bunyan logger, NestJS's `Logger`/`LoggerService`,
 * `console` (or a `Console`), or anything with `warn` and `error` methods taking a message first.
 */
export interface ForeignLogger {
  warn(...args: never[]): unknown
  error(...args: never[]): unknown
  debug?(...args: never[]): unknown
  info?(...args: never[]): unknown
  log?(...args: never[]): unknown
  verbose?(...args: never[]): unknown
  fatal?(...args: never[]): unknown
  child?(...args: never[]): unknown
}

/** Options of {@link loggerFrom}. */
export interface LoggerFromOptions {
  /**
   * The lowest level passed on. Defaults to `'info'` for `console` (which has no levels of its own)
   * and to `'debug'` for the others, whose own level setting then decides.
   */
  level?: LogLevel
}

/** pino's (and bunyan's) level numbers. */
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const satisfies Record<LogLevel, number>

/** Where an adapted line goes: the message, and the fields (bindings of `child()` included). */
interface Sink {
  readonly kind: 'winston' | 'bunyan' | 'nest' | 'console'
  write(level: LogLevel, fields: Record<string, unknown>, message: string): void
  /** False when the logger itself would drop the level (so fields are not built for nothing). */
  enabled(level: LogLevel): boolean
}

type Methods = Record<string, unknown>
type Call = (this: unknown, ...args: unknown[]) => unknown

/**
 * Adapts the shop's logger for the `logger` option: winston (`logger.log(level, message, fields)`),
 * bunyan (`logger.warn(fields, message)`), NestJS's `Logger` and `console` (one readable line:
 * the message, then the fields as JSON). A pino logger is returned as it is.
 *
 * @throws {TouchpointConfigError} (`ERR_TOUCHPOINT_LOGGER`) for something that is not a logger.
 * @example
 * app.use(transactionaleTouchpoint({ apiKey, route: '/checkout', logger: loggerFrom(winstonLogger) }))
 */
export function loggerFrom(
  logger: ForeignLogger | TouchpointLogger,
  options: LoggerFromOptions = {},
): TouchpointLogger {
  if (isPinoCompatible(logger)) return logger
  const sink = sinkOf(logger as unknown as Methods)
  if (sink === undefined) {
    throw new TouchpointConfigError([
      {
        option: 'logger',
        code: CONFIG_ERROR_CODES.logger,
        message:
          "loggerFrom() takes a winston or bunyan logger, NestJS's Logger, console, or an object with info/warn/error methods taking a message",
      },
    ])
  }
  const lowest = LEVELS[options.level ?? (sink.kind === 'console' ? 'info' : 'debug')]
  return adapt(sink, {}, lowest)
}

function adapt(sink: Sink, bindings: Record<string, unknown>, lowest: number): TouchpointLogger {
  const enabled = (level: LogLevel): boolean => LEVELS[level] >= lowest && sink.enabled(level)
  // pino's two call forms: (fields, message) and (message).
  const method =
    (level: LogLevel) =>
    (first?: unknown, second?: unknown): void => {
      if (!enabled(level)) return
      const fields = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {}
      const message = typeof first === 'string' ? first : typeof second === 'string' ? second : ''
      sink.write(level, { ...bindings, ...fields }, message)
    }
  const adapted = {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (childBindings: Record<string, unknown>) => adapt(sink, { ...bindings, ...childBindings }, lowest),
    isLevelEnabled: (level: string) => level in LEVELS && enabled(level as LogLevel),
    // What isPinoCompatible() looks for: the adapter speaks pino's API.
    levels: { values: { ...LEVELS }, labels: { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' } },
  }
  return adapted as unknown as TouchpointLogger
}

function sinkOf(logger: Methods): Sink | undefined {
  const has = (...names: string[]): boolean => names.every((name) => typeof logger[name] === 'function')
  const call = (name: string, ...args: unknown[]): void => void (logger[name] as Call).apply(logger, args)

  // winston: log(level, message, meta); its level names may be syslog's ('warning').
  if (has('log', 'add', 'isLevelEnabled') && typeof logger.levels === 'object' && logger.levels !== null) {
    const known = logger.levels as Record<string, unknown>
    const name = (level: LogLevel): string => (level === 'warn' && !('warn' in known) ? 'warning' : level)
    return {
      kind: 'winston',
      write: (level, fields, message) => call('log', name(level), message, fields),
      enabled: (level) => (logger.isLevelEnabled as Call).call(logger, name(level)) === true,
    }
  }
  // bunyan: the same (fields, message) order as pino, and the same level numbers.
  if (has('addStream', 'levels', 'level', 'child')) {
    return {
      kind: 'bunyan',
      write: (level, fields, message) => call(level, fields, message),
      enabled: (level) => {
        const current = (logger.level as Call).call(logger)
        return typeof current !== 'number' || current <= LEVELS[level]
      },
    }
  }
  // NestJS's Logger / LoggerService: log, warn, error (debug optional), a message and a context.
  if (has('log', 'warn', 'error') && !has('info')) {
    const names = { debug: 'debug', info: 'log', warn: 'warn', error: 'error' } as const
    return {
      kind: 'nest',
      write: (level, fields, message) => {
        if (has(names[level])) call(names[level], line(message, fields))
      },
      enabled: (level) => has(names[level]),
    }
  }
  // console, or a console-like logger.
  if (has('info', 'warn', 'error')) {
    return {
      kind: 'console',
      write: (level, fields, message) => call(has(level) ? level : 'info', line(message, fields)),
      enabled: () => true,
    }
  }
  return undefined
}

/** One readable line: the message, then the fields as JSON. */
function line(message: string, fields: Record<string, unknown>): string {
  if (Object.keys(fields).length === 0) return message
  try {
    return `${message} ${JSON.stringify(fields)}`
  } catch {
    return message
  }
}
