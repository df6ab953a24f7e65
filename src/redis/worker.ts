/**
 * Delivery from the shared queue: a BullMQ `Worker` whose processor is `deliver()`. BullMQ fetches,
 * locks, and brings back the jobs of a process that died (stalled jobs); the processor turns each
 * settlement into BullMQ's terms: delivered → completed (removed), failed → `UnrecoverableError` (a
 * dead letter), retry → `moveToDelayed` + `DelayedError`, released → `RateLimitError` (back to the
 * queue, unattempted). An outage pause becomes the queue's rate limit, so every process pauses; a
 * process whose own requests did not fail then probes one at a time. `concurrency` follows the limit.
 */
import type { Job } from 'bullmq'
import type { EngineParts } from '../delivery/engine'
import type { OutageState } from '../delivery/outage'
import type { Settlement, StoredTouchpoint } from '../stores/contracts'
import { openConnection, type RedisModules } from './load'
import type { ResolvedRedisStoreOptions } from './options'
import { bounded, LIMITER, QUEUE_NAME, type JobData, type TouchpointQueue } from './queue'

/** How long a job's lock lasts, and how often stalled jobs are looked for (30 s each by default). */
export interface WorkerTimings {
  readonly lockDurationMs?: number
  readonly stalledIntervalMs?: number
}

export type DeliveryWorker = ReturnType<typeof startWorker>

export function startWorker(
  modules: RedisModules,
  options: ResolvedRedisStoreOptions,
  q: TouchpointQueue,
  { deliverer, clock }: EngineParts,
  timings: WorkerTimings,
) {
  const { Worker, DelayedError, UnrecoverableError } = modules
  const connection = openConnection(modules, options.connection, 'worker')
  const held = new Map<StoredTouchpoint, { job: Job<JobData>; token: string }>()
  const waiters: (() => void)[] = []
  let [draining, busy, sharedUntil, gate] = [false, 0, 0, false]

  /** How long the queue stays paused for this process: a pause of its own, or another's (then it probes after). */
  const pauseLeft = (): number => {
    if (q.pausedUntil() > sharedUntil) [sharedUntil, gate] = [q.pausedUntil(), gate || deliverer.state === 'open']
    return Math.max(sharedUntil, deliverer.state === 'paused' ? deliverer.resumesAt() : 0) - clock.now()
  }
  const mayStart = (): boolean =>
    (!gate || deliverer.inFlight === 0) && deliverer.freeSlots(q.counts().waiting + waiters.length) > 0
  const wake = (): void => {
    for (const resolve of waiters.splice(0)) resolve()
    const limit = Math.max(1, deliverer.limit)
    if (!draining && worker.concurrency !== limit) worker.concurrency = limit
  }
  /** Shares a pause of this process's deliverer as the queue's rate limit, unless a longer one is set. */
  const sharePause = async (): Promise<void> => {
    const until = deliverer.resumesAt()
    if (deliverer.state !== 'paused' || until <= sharedUntil) return
    sharedUntil = until
    if ((await q.queue.getRateLimitTtl(LIMITER.max)) < until - clock.now()) await q.queue.rateLimit(until - clock.now())
  }
  /** What to throw to BullMQ, once Redis holds what the next attempt needs (rejects if Redis fails). */
  const settle = async (job: Job<JobData>, token: string, settlement: Settlement): Promise<Error | undefined> => {
    if (settlement.kind === 'delivered') return void (gate = false)
    if (settlement.kind === 'released') return Worker.RateLimitError()
    await job.updateData({ ...job.data, attempts: settlement.attempts })
    if (settlement.kind === 'failed') {
      await job.removeDeduplicationKey() // its order may come again
      return new UnrecoverableError(settlement.reason)
    }
    await sharePause().catch((error: unknown) => q.logError('pause', error))
    await job.moveToDelayed(settlement.dueAt, token)
    return new DelayedError()
  }

  const processor = async (job: Job<JobData>, token = ''): Promise<void> => {
    busy++
    try {
      for (;;) {
        // Back to the queue, unattempted: BullMQ waits out the queue's rate limit before it fetches again.
        if (draining || pauseLeft() > 0) throw Worker.RateLimitError()
        if (mayStart()) break
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
      const t = touchpointOf(job)
      held.set(t, { job, token })
      const settlement = await deliverer.deliver(t)
      held.delete(t)
      wake()
      // Redis failing mid-settlement: the job goes back (or, Redis gone, comes back once its lock expires).
      const error = await settle(job, token, settlement).catch(
        (e: unknown) => (q.logError('settle', e), Worker.RateLimitError()),
      )
      if (error !== undefined) throw error
    } finally {
      busy--
    }
  }

  const worker = new Worker<JobData>(QUEUE_NAME, processor, {
    connection,
    prefix: options.prefix,
    concurrency: Math.max(1, deliverer.limit),
    limiter: { ...LIMITER },
    lockDuration: timings.lockDurationMs ?? 30_000,
    stalledInterval: timings.stalledIntervalMs ?? 30_000,
    maxStalledCount: 1000, // a touchpoint cannot crash its worker: one whose process died is always sent again
    runRetryDelay: 1000,
    drainDelay: 5,
  })
  worker.on('error', (error: unknown) => draining || q.logError('worker', error))
  deliverer.onWake(wake)

  const drain = (): void => void ((draining = true), wake())
  return {
    drain,
    /** Processors between a fetch and the end of their settlement in Redis. */
    busy: () => busy,
    /** The deliverer's state, or this process's view of a queue-wide pause another process started. */
    state: (): OutageState =>
      deliverer.state !== 'open' ? deliverer.state : pauseLeft() > 0 ? 'paused' : gate ? 'probing' : 'open',
    /** Gives the jobs of `cut` (in flight, stopped) back to the queue, then closes, bounded. */
    async stop(cut: readonly StoredTouchpoint[]): Promise<void> {
      drain()
      const back = cut.flatMap((t) => held.get(t) ?? []).map(({ job, token }) => job.moveToWait(token))
      await bounded(Promise.allSettled(back), 'the release').catch(() => undefined)
      await bounded(worker.close(true), 'the worker close').catch(() => undefined)
      // QUIT answers after the commands before it (the last settlements); a Redis that does not answer is cut.
      await bounded(connection.quit(), 'QUIT').catch(() => connection.disconnect())
    },
  }
}

function touchpointOf(job: Job<JobData>): StoredTouchpoint {
  const { body, orderId, receivedAt, attempts } = job.data
  return { id: String(job.id), body, orderId, dedupeKey: undefined, receivedAt, attempts: attempts ?? 0 }
}
