/**
 * Logging: every line the package writes (one table of messages, which the README's log table
 * mirrors), written through a child of the shop's pino logger or a default one, with the API key's
 * header redacted, and guarded so that a logger that throws never breaks the shop or delivery.
 */
import type { Logger } from 'pino'
import type Pino from 'pino'
import { loadDependency } from './load-dependency'
import { throttle } from './throttle'

/** The minimum a logger must offer: pino's, or anything with the same methods and levels. */
export type TouchpointLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'child'> &
  Partial<Pick<Logger, 'isLevelEnabled'>>

/** A log level the package writes at. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** Every line the package writes: its level and its message. The README's log table lists the same. */
export const LOG_MESSAGES = {
  skippedStatus: ['debug', 'touchpoint skipped: response status is not a success'],
  skippedRedirect: ['warn', 'touchpoint skipped: the order route answered with a redirect (see isSuccess)'],
  skippedNoCustomer: ['debug', 'touchpoint skipped: the mapper returned nothing'],
  deduped: ['debug', 'touchpoint skipped: duplicate order'],
  invalidMapper: ['warn', 'touchpoint not sent: the mapper threw'],
  invalidMapperTimeout: ['warn', 'touchpoint not sent: the mapper did not settle within mapperTimeoutMs'],
  invalidIsSuccess: ['warn', 'touchpoint not sent: isSuccess threw'],
  invalidCustomer: ['warn', 'touchpoint not sent: invalid customer'],
  droppedOptional: ['warn', 'touchpoint sent without invalid optional fields'],
  countryDefaulted: ['warn', 'touchpoint country taken from the country option: the mapper gave none we know'],
  sent: ['debug', 'touchpoint sent'],
  dryRun: ['info', 'dry run: touchpoint not sent'],
  retrying: ['debug', 'touchpoint attempt failed, will retry'],
  failed: ['error', 'touchpoint not delivered'],
  keyRejected: ['error', 'API key rejected by Transactionale: check the apiKey option (touchpoints are failing)'],
  paused: ['warn', 'Transactionale API unavailable: deliveries paused, then probed one at a time'],
  resumed: ['info', 'Transactionale API reachable again: deliveries resumed'],
  concurrencyChanged: ['debug', 'concurrency limit changed'],
  queueFull: ['warn', 'touchpoint queue full: newest touchpoints are being dropped'],
  droppedClosed: ['warn', 'touchpoint dropped: the middleware is closed'],
  storeFailed: ['error', 'touchpoint store failed: touchpoint dropped'],
  storeError: ['error', 'touchpoint store error'],
  storeUnavailable: [
    'error',
    'touchpoint store (Redis) unreachable: touchpoints wait in the local buffer, dropped when it is full',
  ],
  storeReachable: ['info', 'touchpoint store (Redis) reachable again: buffered touchpoints enqueued'],
  abandoned: ['error', 'touchpoints abandoned at close(): still pending at the deadline'],
  persisted: ['info', 'touchpoints left in the durable store at close(): delivered at the next start'],
  exitPending: ['warn', 'process exiting with touchpoints pending: they are lost (call close() before exit)'],
  hookThrew: ['warn', 'a touchpoint hook threw'],
  internalError: ['error', 'touchpoint pipeline failed'],
  routeNeverMatched: ['warn', 'touchpoint route never matched: orders went by on a path that ends with it'],
  waitUntilIgnored: ['warn', 'waitUntil did not take the touchpoint work (called outside a request?)'],
} as const satisfies Record<string, readonly [LogLevel, string]>

/** A key of {@link LOG_MESSAGES}. */
export type LogEvent = keyof typeof LOG_MESSAGES

/** The package's log: one call per line, never throws. */
export interface Log {
  /** Writes one of the package's lines; fields are built only when the level is enabled. */
  write(event: LogEvent, fields?: Record<string, unknown> | (() => Record<string, unknown>)): void
  /** True when lines at `level` are written (so callers can skip building costly fields). */
  enabled(level: LogLevel): boolean
  /** The underlying pino child, for stores that log their own lines. */
  readonly logger: TouchpointLogger
}

// Defence in depth: nothing we log carries these, but a shop's serializers or a future change might.
const REDACT = [
  'apiKey',
  'headers["x-authorization"]',
  'headers["X-Authorization"]',
  'config.headers',
  '*.apiKey',
  '*.headers["X-Authorization"]',
]

const LEVEL_METHODS = ['debug', 'info', 'warn', 'error'] as const

/** The package's child of a logger: the one call both {@link isPinoCompatible} and {@link createLog} make. */
function childOf(base: TouchpointLogger): TouchpointLogger {
  return base.child({ component: 'express-transactionale' }, { redact: REDACT })
}

/**
 * True for a pino logger or one that behaves like it: the four level methods taking
 * `(fields, message)`, `child()`, and pino's `levels.values` table. winston and bunyan loggers have
 * the methods too but read the arguments the other way round, so they are refused at start rather
 * than printing `[object Object]` on every line. `child()` is called once, as {@link createLog} will
 * call it, and must give a logger with the level methods. Never throws: a logger whose property
 * reads or `child()` throw (a Proxy, a revoked Proxy, a half-built wrapper) is simply not compatible,
 * so the options parser reports it as a problem of the `logger` option instead of the factory
 * throwing a raw error.
 */
export function isPinoCompatible(value: unknown): value is TouchpointLogger {
  if (typeof value !== 'object' || value === null) return false
  try {
    const logger = value as Record<string, unknown>
    const levels = logger.levels as { values?: unknown } | undefined
    if (
      ![...LEVEL_METHODS, 'child'].every((m) => typeof logger[m] === 'function') ||
      typeof levels !== 'object' ||
      levels === null ||
      typeof levels.values !== 'object' ||
      levels.values === null
    ) {
      return false
    }
    const child = childOf(value as TouchpointLogger) as unknown
    if (typeof child !== 'object' || child === null) return false
    const methods = child as Record<string, unknown>
    return LEVEL_METHODS.every((m) => typeof methods[m] === 'function')
  } catch {
    return false
  }
}

/** The package's log: a child of the shop's logger, or a pino logger of our own, behind a guard. */
export function createLog(shopLogger: TouchpointLogger | undefined): Log {
  let logger: TouchpointLogger
  // pino is loaded here, at factory time, rather than when the package is imported.
  const ours = (): TouchpointLogger =>
    loadDependency<typeof Pino>('pino')({ name: 'express-transactionale', redact: REDACT })
  try {
    logger = childOf(shopLogger ?? ours())
  } catch {
    logger = ours()
  }
  const enabled = (level: LogLevel): boolean => {
    try {
      return logger.isLevelEnabled?.(level) ?? true
    } catch {
      return false
    }
  }
  return {
    enabled,
    logger,
    write(event, fields) {
      const [level, message] = LOG_MESSAGES[event]
      if (!enabled(level)) return
      try {
        const object = typeof fields === 'function' ? fields() : fields
        if (object === undefined) logger[level](message)
        else logger[level](object, message)
      } catch {
        // A logger (or its destination) that throws must not break the checkout or delivery: the
        // outcome it describes has been counted and its hook fired; the line is lost, nothing else.
      }
    },
  }
}

const STORE_ERROR_INTERVAL_MS = 60_000

/**
 * A store's error line (`touchpoint store error`): once a minute per operation, with how many were
 * suppressed since, through the store's logger when it has one; never throws.
 */
export function storeErrorLog(
  logger: () => TouchpointLogger | undefined,
  store: Record<string, unknown>,
): (operation: string, fields: Record<string, unknown>) => void {
  const throttled = throttle(Date.now)
  return (operation, fields) =>
    throttled(operation, STORE_ERROR_INTERVAL_MS, (suppressed) =>
      storeEvent(logger(), 'storeError', { ...store, operation, ...fields, suppressedSinceLastLine: suppressed }),
    )
}

/** One of a store's own log lines, through its logger when it has one; never throws. */
export function storeEvent(
  logger: TouchpointLogger | undefined,
  event: LogEvent,
  fields: Record<string, unknown>,
): void {
  const [level, message] = LOG_MESSAGES[event]
  try {
    logger?.[level](fields, message)
  } catch {
    // A logger that throws must not break delivery.
  }
}
