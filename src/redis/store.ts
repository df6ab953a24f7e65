/**
 * `redisStore()`: a store that brings its own engine. The engine enqueues through `queue.ts` and, with
 * `worker: true` (and in `runWorker()`), delivers through BullMQ's `Worker` (`worker.ts`). Why BullMQ's
 * public API only: docs/decisions/0003-bullmq-public-api.md.
 */
import type { Engine, EngineParts } from '../delivery/engine'
import type { SelfDeliveringStore } from '../stores/contracts'
import { loadRedisModules, type ModuleLoader } from './load'
import { resolveRedisStoreOptions, type RedisStoreOptions } from './options'
import { openQueue, type QueueStats, type TouchpointQueue } from './queue'
import { startWorker, type DeliveryWorker, type WorkerTimings } from './worker'

/** A Redis store: its own engine, and the queue-wide counts. */
export interface RedisTouchpointStore extends SelfDeliveringStore {
  /** Queue-wide counts from Redis (all instances); rejects while Redis is unreachable or does not answer within 5 s. */
  queueStats(): Promise<QueueStats>
}

/** Knobs for tests, benchmarks and `runWorker()`, not public options: the poll (1 s by default), the loader. */
export interface RedisStoreInternals extends WorkerTimings {
  readonly pollMs?: number
  readonly load?: ModuleLoader
}

/**
 * A store on Redis, through BullMQ: one queue shared by every instance of the shop, deduplicated
 * across all of them, delivered by each instance (`worker: true`) or by `runWorker()` processes.
 *
 * @throws {TouchpointConfigError} `ERR_TOUCHPOINT_REDIS` when the options are wrong or bullmq /
 *   ioredis is not installed.
 * @example
 * store: redisStore({ connection: process.env.REDIS_URL })
 */
export function redisStore(options: RedisStoreOptions): RedisTouchpointStore {
  return createRedisStore(options)
}

export function createRedisStore(
  input: RedisStoreOptions,
  internals: RedisStoreInternals = {},
): RedisTouchpointStore & { queue(): TouchpointQueue | undefined } {
  const options = resolveRedisStoreOptions(input)
  const modules = loadRedisModules('redisStore', internals.load)
  let q: TouchpointQueue | undefined
  return {
    kind: 'redis',
    durable: true,
    /** The queue once started (`runWorker()` waits on its connection). */
    queue: () => q,
    counts: () => q?.counts() ?? { waiting: 0, deadLetters: 0 },
    queueStats: () =>
      q?.stats() ?? Promise.reject(new Error('the Redis store is not started: pass it to the middleware')),
    start(parts: EngineParts): Engine {
      if (q !== undefined) throw new Error('a Redis store serves one middleware: make a redisStore() for each')
      const { logger, maxSize, dedupeWindowMs } = parts.context
      const pollMs = internals.pollMs ?? 1000
      q = openQueue(modules, options, { logger, maxSize, dedupeWindowMs, pollMs, now: () => parts.clock.now() })
      return redisEngine(q, options.worker ? startWorker(modules, options, q, parts, internals) : undefined, parts)
    },
  }
}

function redisEngine(
  q: TouchpointQueue,
  worker: DeliveryWorker | undefined,
  { deliverer, ledger }: EngineParts,
): Engine {
  let stopping: Promise<{ abandoned: number; persisted: number }> | undefined
  let flushing: Promise<void> | undefined
  const sleep = (ms: number): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, ms).unref())
  const busy = (): boolean => q.storing() > 0 || deliverer.inFlight > 0 || (worker?.busy() ?? 0) > 0
  /** Polls until nothing of this process is being stored or sent; `empty`: nor waits in the queue it delivers. */
  const until = async (empty: boolean): Promise<void> => {
    while (stopping === undefined) {
      if (!busy()) {
        if (!empty || worker === undefined) return
        const s = await q.stats().catch(() => undefined)
        if (s !== undefined && s.waiting + s.delayed + s.active === 0 && !busy()) return
      }
      await sleep(50)
    }
  }
  return {
    submit(touchpoint) {
      if (stopping !== undefined) return Promise.resolve(ledger.dropped('closed', touchpoint))
      deliverer.arrived()
      return q.add(touchpoint).then(
        (result) => {
          if (result === 'duplicate') ledger.deduped(touchpoint.orderId)
          else if (result !== 'added')
            ledger.dropped(result === 'full' ? 'queue_full' : 'store_unavailable', touchpoint)
        },
        (error: unknown) => void (q.logError('add', error), ledger.dropped('store_error', touchpoint)),
      )
    },
    flush: () => (flushing ??= until(true).finally(() => (flushing = undefined))),
    settleInFlight: () => (worker?.drain(), until(false)),
    stop: () =>
      (stopping ??= (async () => {
        await worker?.stop(deliverer.stop())
        await Promise.race([q.refresh(), sleep(1000)]) // what is left for the next start (Redis may not answer)
        const persisted = q.counts().waiting
        await q.close()
        return { abandoned: 0, persisted }
      })()),
    pendingOrderIds: (limit) => deliverer.inFlightOrderIds(limit),
    stats: () => ({
      queued: q.storing(),
      inFlight: deliverer.inFlight,
      state: worker?.state() ?? deliverer.state,
      limit: deliverer.limit,
    }),
  }
}
