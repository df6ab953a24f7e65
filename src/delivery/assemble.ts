/**
 * The delivery half, assembled once for whoever delivers — the middleware in a shop, `runWorker()`
 * in a worker process: the HTTP client, the ledger, the store opened with the package's settings,
 * the engine over it (our pump, or the store's own), and the shutdown they share (wait, stop, close the sockets and the store, sum up).
 */
import { createHttpClient, type HttpClient } from '../http-client'
import { createLedger, type Ledger } from '../ledger'
import { createLog, type Log } from '../logger'
import { createObservers, type Observers } from '../observe'
import type { ResolvedOptions } from '../options'
import { isSelfDelivering, type AnyStore } from '../stores/contracts'
import { clampDelay, systemClock, type Clock } from '../types'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version'
import { createDeliverer } from './deliver'
import type { Engine, EngineParts } from './engine'
import { createPump } from './pump'

/** What `close()` reports. */
export interface CloseSummary {
  /** Delivered, over the middleware's life. */
  readonly sent: number
  /** Failed for good, over the middleware's life. */
  readonly failed: number
  /** Dropped: the queue was full, the store failed, or they arrived after `close()` (not counting `pending`). */
  readonly dropped: number
  /** Memory store: still pending at the deadline, abandoned (passed to `onDropped` with reason `shutdown`). */
  readonly pending: number
  /** Durable store: left in the store, delivered at the next start (no `onDropped`). */
  readonly persisted: number
}

/** The resolved options delivery needs. */
export type DeliveryOptions = Pick<
  ResolvedOptions,
  'apiKey' | 'endpoint' | 'timeoutMs' | 'logger' | 'logPersonalData' | 'hooks' | 'queue' | 'retry' | 'dedupe'
>

/** Replaceable parts, for tests and benchmarks. */
export interface DeliveryDeps {
  /** Sends one body; defaults to the package's axios client. */
  readonly send?: HttpClient
  readonly clock?: Clock
  readonly random?: () => number
}

export interface Delivery {
  readonly log: Log
  readonly clock: Clock
  readonly store: AnyStore
  readonly ledger: Ledger
  readonly engine: Engine
  readonly observers: Observers
  /**
   * Waits for `settled` up to `timeoutMs`, then stops the engine (what is left is abandoned, or left
   * in a durable store) and destroys the sockets. Never rejects.
   */
  shutdown(this: void, timeoutMs: number, settled: Promise<void>): Promise<CloseSummary>
}

export function assembleDelivery(options: DeliveryOptions, store: AnyStore, deps: DeliveryDeps = {}): Delivery {
  const log = createLog(options.logger)
  const clock = deps.clock ?? systemClock
  const { queue } = options
  const client = createHttpClient({
    endpoint: options.endpoint,
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs,
    userAgent: `${PACKAGE_NAME}/${PACKAGE_VERSION} (node ${process.version})`,
    // The socket pool follows the most requests that may be in flight.
    maxSockets: queue.concurrency === 'auto' ? queue.maxConcurrency : queue.concurrency,
  })
  const ledger = createLedger(
    { logPersonalData: options.logPersonalData, hashKey: options.apiKey, maxSize: queue.maxSize },
    options.hooks,
    log,
    clock,
  )
  const observers = createObservers()
  const deliverer = createDeliverer(
    { concurrency: queue.concurrency, maxConcurrency: queue.maxConcurrency, retry: options.retry },
    { send: deps.send ?? client.send, ledger, log, clock, random: deps.random ?? Math.random, observers },
  )
  const parts: EngineParts = {
    deliverer,
    ledger,
    log,
    clock,
    context: {
      maxSize: queue.maxSize,
      dedupeWindowMs: options.dedupe.windowMs,
      dedupeMaxEntries: options.dedupe.maxEntries,
      // A claim outlives any attempt: the deadline of one attempt, with a wide margin.
      leaseMs: Math.max(60_000, options.timeoutMs * 3),
      clock,
      logger: log.logger,
    },
  }
  // Opening recovers what a durable store holds; the engine starts delivering once it is open.
  const engine = isSelfDelivering(store) ? store.start(parts) : createPump(store, parts)

  return {
    log,
    clock,
    store,
    ledger,
    engine,
    observers,
    async shutdown(timeoutMs, settled) {
      let deadline: NodeJS.Timeout | undefined
      const expired = new Promise<void>((resolve) => (deadline = clock.setTimeout(resolve, clampDelay(timeoutMs))))
      await Promise.race([settled, expired])
      if (deadline !== undefined) clock.clearTimeout(deadline)
      const left = await engine.stop()
      client.destroy()
      if (left.persisted > 0) log.write('persisted', { persisted: left.persisted })
      const c = ledger.counts()
      return {
        sent: c.sent,
        failed: c.failed,
        dropped: c.dropped.total - c.dropped.shutdown,
        pending: left.abandoned,
        persisted: left.persisted,
      }
    },
  }
}

/** A `close({ timeoutMs })` value as given: any number ≥ 0 (clamped later), else the default. */
export function closeTimeout(value: unknown, fallback = 10_000): number {
  return typeof value === 'number' && value >= 0 && !Number.isNaN(value) ? value : fallback
}
