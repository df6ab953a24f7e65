/**
 * `runWorker()`: a process that only delivers. It assembles the same delivery as the middleware
 * (HTTP client, ledger, `deliver()` with its outage and retry policy) over a Redis store with
 * `worker: true`, validating the delivery options with the middleware's own parsers.
 */
import { assembleDelivery, closeTimeout, type CloseSummary } from '../delivery/assemble'
import type { OutageState } from '../delivery/outage'
import { CONFIG_ERROR_CODES, TouchpointConfigError, type ConfigProblem } from '../errors'
import type { HttpClient } from '../http-client'
import type { LedgerCounts } from '../ledger'
import type { CloseOptions } from '../middleware'
import { reportUnknownKeys } from '../did-you-mean'
import { DEFAULTS, OPTION_TABLE, type Options, type ResolvedOptions } from '../options'
import type { Clock } from '../types'
import { REDIS_OPTION_PARSERS, redisProblem, type RedisConnection } from './options'
import type { QueueStats } from './queue'
import { createRedisStore, type RedisStoreInternals } from './store'

/** Options of {@link runWorker}: where the queue is, and the middleware's delivery options. */
export interface RunWorkerOptions extends Pick<
  Options,
  'endpoint' | 'timeoutMs' | 'retry' | 'queue' | 'logger' | 'hooks'
> {
  /** The shop's Transactionale API key. Required. */
  apiKey: string
  /** The Redis of the shops' `redisStore()`: a URL or ioredis options. Required. */
  connection: RedisConnection
  /** The shops' `prefix`. Defaults to `'transactionale'`. */
  prefix?: string
}

/** What a worker has done (this process only), and its delivery state. */
export interface WorkerStats extends Pick<LedgerCounts, 'sent' | 'failed' | 'retried'> {
  /** HTTP attempts under way. */
  inFlight: number
  /** `open`, `paused` or `probing`. */
  state: OutageState
  /** Requests allowed in flight now. */
  limit: number
}

/** A running worker. */
export interface TouchpointWorker {
  /**
   * Stops claiming, waits up to `timeoutMs` (default 10000) for the requests in flight, gives back
   * what is left (it stays queued in Redis, `persisted`) and closes the connections. Never rejects.
   */
  close(options?: CloseOptions): Promise<CloseSummary>
  /** This process's counts; synchronous. */
  stats(): WorkerStats
  /** Queue-wide counts, read from Redis; rejects while Redis is unreachable or does not answer within 5 s. */
  queueStats(): Promise<QueueStats>
  /**
   * Resolves once Redis answers. Rejects at once when Redis refuses the credentials (`NOAUTH`,
   * `WRONGPASS`), or after `timeoutMs` (default 10000) without an answer; the worker keeps trying
   * meanwhile, so a caller that gives up closes it.
   */
  connected(options?: { timeoutMs?: number }): Promise<void>
}

/** Replaceable parts, for tests. */
export interface RunWorkerDeps {
  readonly send?: HttpClient
  readonly clock?: Clock
  readonly internals?: RedisStoreInternals
}

const DELIVERY_OPTIONS = ['apiKey', 'endpoint', 'timeoutMs', 'retry', 'queue', 'logger', 'hooks'] as const
const REDIS_OPTIONS = ['connection', 'prefix'] as const
const KNOWN = [...DELIVERY_OPTIONS, ...REDIS_OPTIONS]

type Report = (message: string, path?: string) => void
type DeliverySettings = { readonly [K in (typeof DELIVERY_OPTIONS)[number]]: ResolvedOptions[K] }

/**
 * Starts a worker that delivers the touchpoints shops enqueue with `redisStore()` (typically shops
 * with `worker: false`), with the middleware's delivery policy: retries, the outage pause (shared by
 * every process on the queue) and the concurrency limit.
 *
 * @throws {TouchpointConfigError} when the options are wrong (every problem listed at once), or
 *   bullmq / ioredis is not installed.
 * @example
 * const worker = runWorker({ apiKey: process.env.TRANSACTIONALE_API_KEY!, connection: process.env.REDIS_URL! })
 * process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)))
 */
export function runWorker(options: RunWorkerOptions, deps: RunWorkerDeps = {}): TouchpointWorker {
  const { settings, connection, prefix } = resolveWorkerOptions(options)
  const store = createRedisStore({ connection, prefix, worker: true }, deps.internals)
  const { ledger, engine, shutdown } = assembleDelivery(
    {
      ...settings,
      logPersonalData: false,
      // Used when dead letters are sent again: their orders count as seen for the shops' default window.
      dedupe: { windowMs: DEFAULTS.dedupe.windowMs, maxEntries: DEFAULTS.dedupe.maxEntries, key: 'orderId' },
    },
    store,
    deps,
  )
  let closing: Promise<CloseSummary> | undefined

  return {
    close(closeOptions = {}) {
      // What is queued stays in Redis for the other workers: wait only for what is in flight.
      closing ??= shutdown(closeTimeout(closeOptions.timeoutMs), engine.settleInFlight())
      return closing
    },
    stats() {
      const c = ledger.counts()
      const { inFlight, state, limit } = engine.stats()
      return { sent: c.sent, failed: c.failed, retried: c.retried, inFlight, state, limit }
    },
    queueStats: () => store.queueStats(),
    connected: ({ timeoutMs = 10_000 } = {}) => store.queue()?.connected(timeoutMs) ?? Promise.resolve(),
  }
}

/** Validates with the middleware's parsers (delivery options) and the store's (connection, prefix). */
function resolveWorkerOptions(input: unknown): {
  settings: DeliverySettings
  connection: RedisConnection
  prefix: string
} {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TouchpointConfigError([
      redisProblem('runWorker', 'pass an object, e.g. runWorker({ apiKey, connection: process.env.REDIS_URL })'),
    ])
  }
  const raw = input as Record<string, unknown>
  const problems: ConfigProblem[] = []
  reportUnknownKeys(raw, KNOWN, (key, message) =>
    problems.push({ option: key, code: CONFIG_ERROR_CODES.unknown, message }),
  )
  const settings: Record<string, unknown> = {}
  for (const name of DELIVERY_OPTIONS) {
    const report: Report = (message, path = name) =>
      void problems.push({ option: path, code: CONFIG_ERROR_CODES[name], message })
    settings[name] = (OPTION_TABLE[name].parse as (value: unknown, report: Report) => unknown)(raw[name], report)
  }
  const redisReport = (name: string) => (message: string) => void problems.push(redisProblem(name, message))
  const connection = REDIS_OPTION_PARSERS.connection(raw.connection, redisReport('connection'))
  const prefix = REDIS_OPTION_PARSERS.prefix(raw.prefix, redisReport('prefix'))
  if (problems.length > 0) throw new TouchpointConfigError(problems)
  return { settings: settings as DeliverySettings, connection, prefix }
}
