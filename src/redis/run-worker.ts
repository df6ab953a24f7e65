/**
 * `runWorker()`: a process that only delivers. It assembles the same delivery as the middleware
 * (HTTP client, ledger, `deliver()` with its outage and retry policy) over a Redis store with
 * `worker: true`, validating the delivery options with the middleware's own parsers.
 */
import { assembleDelivery, closeTimeout, type CloseSummary } from '../delivery/assemble'
import type { OutageState } from '../delivery/outage'
import { CONFIG_ERROR_CODES } from '../errors'
import type { HttpClient } from '../http-client'
import type { LedgerCounts } from '../ledger'
import type { CloseOptions } from '../middleware'
import { parseOptions } from '../option-parser'
import { DEFAULTS, OPTION_TABLE, type Options } from '../options'
import type { Clock } from '../types'
import { REDIS_OPTION_TABLE, type RedisConnection } from './options'
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

/** runWorker()'s option table: the middleware's rows for the delivery options, the store's for where Redis is. */
const WORKER_OPTION_TABLE = {
  ...(Object.fromEntries(DELIVERY_OPTIONS.map((name) => [name, OPTION_TABLE[name]])) as Pick<
    typeof OPTION_TABLE,
    (typeof DELIVERY_OPTIONS)[number]
  >),
  connection: REDIS_OPTION_TABLE.connection,
  prefix: REDIS_OPTION_TABLE.prefix,
}

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
  const { connection, prefix, ...settings } = parseOptions(options, WORKER_OPTION_TABLE, {
    notAnObject: 'pass an object, e.g. runWorker({ apiKey, connection: process.env.REDIS_URL })',
    code: (option) =>
      option === '' || option === 'connection' || option === 'prefix'
        ? CONFIG_ERROR_CODES.redis
        : CONFIG_ERROR_CODES[option as keyof typeof CONFIG_ERROR_CODES],
    path: (path) => (path === 'options' ? 'runWorker' : path),
  })
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
