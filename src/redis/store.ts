/**
 * The Redis store: touchpoints as BullMQ jobs in one queue that every instance of the shop (and any
 * `runWorker()` process) shares. The pump drives it like any store, through BullMQ's manual job
 * processing: add = enqueue (BullMQ deduplication: id = the dedupe key, ttl = the dedupe window),
 * claim = `worker.getNextJob()`, delivered = completed and removed at once, retry = delayed with
 * the attempts made, failed = kept in BullMQ's failed set as a dead letter for `retentionMs`.
 * An outage pause of one process becomes a queue-wide pause (BullMQ's rate limit), then one probe at
 * a time in all (BullMQ's global concurrency). While Redis is unreachable, touchpoints wait in a
 * bounded local buffer.
 */
import { randomBytes } from 'node:crypto'
import type { Job, Queue, Worker } from 'bullmq'
import type IORedis from 'ioredis'
import { LOG_MESSAGES, storeErrorLog, type LogEvent, type TouchpointLogger } from '../logger'
import type {
  AddResult,
  DeadLetter,
  NewTouchpoint,
  StoreContext,
  StoreCounts,
  StoredTouchpoint,
  TouchpointStore,
} from '../stores/store'
import { systemClock, type Clock } from '../types'
import { loadRedisModules, openConnection, type ModuleLoader, type RedisModules } from './load'
import { resolveRedisStoreOptions, type RedisStoreOptions, type ResolvedRedisStoreOptions } from './options'

/** The queue's name: its keys are `<prefix>:touchpoints:*`. */
export const QUEUE_NAME = 'touchpoints'
const JOB_NAME = 'touchpoint'
/**
 * A rate limit that traffic never reaches: BullMQ applies a queue-wide pause (its rate-limit key)
 * only to workers that have a limiter.
 */
const LIMITER = { max: 1_000_000_000, duration: 60_000 } as const
/**
 * How long a shop holds a delivered job's completion, nothing else waiting, for its next add to land
 * (see `delivered()`): at 500 orders/s the next order comes within 2 ms, and its job is then fetched
 * by the completion, one round trip fewer per order (measured: 1.45 → 1.33 × the memory store's
 * CPU). A crash in that time sends the touchpoint again, as one between its delivery and its
 * completion always did.
 */
const HOLD_MS = 5
/** BullMQ never gives up on its own: the delivering process's `retry.maxAttempts` decides (at most 100). */
const JOB_ATTEMPTS = 1000
/** The longest a queue-wide pause may be (BullMQ's limiter key holds it with a TTL). */
const MAX_PAUSE_MS = 86_400_000

/** What a job holds: the wire body, the order id and when the order was received. Never the API key. */
interface JobData {
  readonly body: string
  readonly orderId?: string
  readonly receivedAt: number
}

/** Queue-wide counts, from Redis (see `queueStats()`). */
export interface QueueStats {
  /** Due now, waiting for a worker. */
  readonly waiting: number
  /** Waiting for a retry's due time. */
  readonly delayed: number
  /** Being sent by some worker. */
  readonly active: number
  /** Dead letters kept (failed for good). */
  readonly failed: number
}

/** A Redis store: a {@link TouchpointStore}, plus the queue-wide counts. */
export interface RedisTouchpointStore extends TouchpointStore {
  /**
   * Queue-wide counts read from Redis (all instances); rejects while Redis is unreachable, or when it
   * does not answer within 5 s.
   */
  queueStats(): Promise<QueueStats>
}

/** Knobs for tests and for `runWorker()`; not part of the public options. */
export interface RedisStoreInternals {
  /** How long a claim locks a job (renewed while it is held). Defaults to 30 s. */
  readonly lockDurationMs?: number
  /** How often a worker looks for jobs whose process died (their lock expired). Defaults to 30 s. */
  readonly stalledIntervalMs?: number
  /** How often counts, the shared pause and other processes' work are looked at. Defaults to 1 s. */
  readonly pollMs?: number
  /**
   * `'poll'`: the pump is woken by this process's adds, its own retries and the poll (a shop).
   * `'block'`: also by a blocking wait on the queue, as BullMQ's own workers do (a `runWorker()`).
   */
  readonly wake?: 'poll' | 'block'
  /** How long `open()` waits for Redis before starting with the local buffer. Defaults to 3 s. */
  readonly connectWaitMs?: number
  /** Loads bullmq / ioredis (tests pass one that fails). */
  readonly load?: ModuleLoader
}

const DONE: Promise<void> = Promise.resolve()
const UNAVAILABLE: Promise<AddResult> = Promise.resolve('unavailable')
const FULL: Promise<AddResult> = Promise.resolve('full')

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

export function createRedisStore(options: RedisStoreOptions, internals: RedisStoreInternals = {}): RedisStore {
  const resolved = resolveRedisStoreOptions(options)
  return new RedisStore(resolved, internals, loadRedisModules('redisStore', internals.load))
}

/** A touchpoint claimed from the queue: the job and the token its lock is held with. */
class RedisTouchpoint implements StoredTouchpoint {
  readonly id: string
  readonly body: string
  readonly orderId: string | undefined
  readonly dedupeKey: string | undefined
  readonly receivedAt: number
  readonly attempts: number

  constructor(
    readonly job: Job<JobData>,
    readonly token: string,
  ) {
    const data = job.data
    this.id = String(job.id)
    this.body = typeof data.body === 'string' ? data.body : ''
    this.orderId = typeof data.orderId === 'string' ? data.orderId : undefined
    this.dedupeKey = job.deduplicationId ?? undefined
    this.receivedAt = typeof data.receivedAt === 'number' ? data.receivedAt : job.timestamp
    this.attempts = job.attemptsMade
  }
}

/** A touchpoint held while Redis is unreachable, and how to tell its `add()` caller what became of it. */
interface Buffered {
  readonly touchpoint: NewTouchpoint
  readonly resolve: (result: AddResult | Promise<AddResult>) => void
}

export class RedisStore implements RedisTouchpointStore {
  readonly kind = 'redis'
  readonly durable = true

  private state: 'new' | 'open' | 'closing' | 'closed' = 'new'
  private closing: Promise<void> | undefined
  private clock: Clock = systemClock
  private logger: TouchpointLogger | undefined
  private maxSize = Infinity
  private dedupeWindowMs = 0
  private producer: IORedis | undefined
  private queue: Queue<JobData> | undefined
  private workerConnection: IORedis | undefined
  private worker: Worker<JobData> | undefined
  private readonly lockDurationMs: number
  private readonly pollMs: number
  private listener: (() => void) | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private renewTimer: NodeJS.Timeout | undefined
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()

  /** The queue finished BullMQ's setup (see replaceQueueIfLost()). */
  private queueSetUp = false
  /** The producer's 'ready' events since the queue was made. */
  private readiesSinceQueue = 0
  /** Whether the producer connection is up; while it is not, adds go to the local buffer. */
  private reachable = false
  private unreachableSince: number | undefined
  private droppedWhileUnreachable = 0
  private readonly buffer: Buffered[] = []
  private readonly adding = new Set<Promise<AddResult>>()

  /** Queue-wide waiting and dead letters as last read, plus this process's changes since. */
  private waiting = 0
  private dead = 0
  /** Bumped by every local change: a recount that overlapped one is discarded. */
  private version = 0

  private readonly claimed = new Map<string, RedisTouchpoint>()
  /** Jobs a blocking wait took before the pump asked (`wake: 'block'`): handed out by the next claim. */
  private readonly prefetched: RedisTouchpoint[] = []
  /** Completions held for this process's next add (see delivered()), and the timer that ends the hold. */
  private readonly held: { readonly t: RedisTouchpoint; readonly resolve: (done: Promise<void>) => void }[] = []
  private holdTimer: NodeJS.Timeout | undefined
  /**
   * Completions under way (see complete()). close() waits for them before it closes the
   * connections: a completion still queued on a worker connection that is reconnecting would be
   * dropped with it, and its job, left active, delivered again by another process after its lock.
   */
  private readonly completing = new Set<Promise<void>>()
  /** Completions under way that fetch the next job (see delivered()). */
  private fetchingNext = 0
  /** Claim waves under way. */
  private fetching = 0
  private waiterRunning = false
  /** Due times (store clock) of this process's retries, by job id, for `nextDueAt()`. */
  private readonly retriesDue = new Map<string, number>()
  /** Until when (store clock) the queue is paused for everyone, as far as this process knows. */
  private pausedUntil = 0
  /** The queue is in its "one probe at a time" state (BullMQ global concurrency 1). */
  private probing = false
  private tokenSeq = 0
  private readonly tag = randomBytes(6).toString('hex')
  private jobSeq = 0
  private errorLog: ((operation: string, fields: Record<string, unknown>) => void) | undefined

  constructor(
    readonly options: ResolvedRedisStoreOptions,
    private readonly internals: RedisStoreInternals,
    private readonly modules: RedisModules,
  ) {
    this.lockDurationMs = internals.lockDurationMs ?? 30_000
    this.pollMs = internals.pollMs ?? 1000
  }

  async open(context: StoreContext): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'open'
    this.clock = context.clock
    this.logger = context.logger
    this.maxSize = context.maxSize
    this.dedupeWindowMs = context.dedupeWindowMs
    const { Worker } = this.modules
    const { prefix, connection } = this.options

    const producer = openConnection(this.modules, connection, 'producer')
    this.producer = producer
    producer.on('ready', () => {
      this.replaceQueueIfLost()
      this.onReachable()
    })
    producer.on('close', () => this.onUnreachable(undefined))
    producer.on('error', (error: unknown) => this.onUnreachable(error))
    this.queue = this.openQueue(producer)

    if (this.options.worker) {
      const workerConnection = openConnection(this.modules, connection, 'worker')
      this.workerConnection = workerConnection
      this.worker = new Worker<JobData>(QUEUE_NAME, null, {
        connection: workerConnection,
        prefix,
        autorun: false,
        lockDuration: this.lockDurationMs,
        stalledInterval: this.internals.stalledIntervalMs ?? 30_000,
        // A touchpoint cannot crash its worker: a job whose process died is always sent again.
        maxStalledCount: 1000,
        limiter: { ...LIMITER },
        drainDelay: 5,
      })
      this.worker.on('error', (error: unknown) => this.logError('worker', error))
      void this.worker.startStalledCheckTimer().catch((error: unknown) => this.logError('stalled check', error))
      this.renewTimer = setInterval(() => this.renewLocks(), Math.max(100, Math.floor(this.lockDurationMs / 2)))
      this.renewTimer.unref()
    }

    // Wait a little for Redis, so the first orders go straight to it; if it is down, start anyway
    // with the local buffer (the checkout must not wait for Redis).
    const ready = this.queue.waitUntilReady().then(
      () => true,
      () => false,
    )
    const up = await Promise.race([ready, this.sleep(this.internals.connectWaitMs ?? 3000).then(() => false)])
    if (up) await this.recount()
    else this.onUnreachable(new Error('not connected'))
    this.pollTimer = setInterval(() => this.poll(), this.pollMs)
    this.pollTimer.unref()
  }

  add(touchpoint: NewTouchpoint): Promise<AddResult> {
    if (this.state !== 'open') return UNAVAILABLE
    if (this.waiting >= this.maxSize) return FULL
    // Behind what is buffered, to keep the order.
    if (!this.reachable || this.buffer.length > 0) return this.hold(touchpoint)
    return this.enqueue(touchpoint)
  }

  async claim(limit: number): Promise<StoredTouchpoint[]> {
    const out: StoredTouchpoint[] = []
    const worker = this.worker
    if (this.state !== 'open' || worker === undefined || !(limit > 0)) return out
    if (this.pausedUntil <= this.clock.now()) {
      while (out.length < limit && this.prefetched.length > 0) out.push(this.hand(this.prefetched.shift()))
    }
    // Each job is one round trip (BullMQ's moveToActive script): in waves of concurrent fetches, as
    // many as the queue is believed to hold (this process's adds, and the queue-wide count at each
    // poll), so a backlog is claimed in one or two round trips; the next waves only while more are
    // believed to wait. Completions under way that fetch the next job (see delivered()) each bring
    // one for a slot: only the rest are fetched here.
    // With none believed to wait, the first wave still looks for one (another process's jobs),
    // unless a look is already under way: a completion that fetches the next job (or one held to,
    // see delivered()) looks at the queue after this claim's fetch would, and a job handed out from
    // `prefetched` came from such a look (its completion will look again). The pump claims after
    // every delivery: at 500 orders/s a look of its own each time cost a third of a round trip per
    // order, and nearly always found nothing.
    const goal = limit - this.fetchingNext
    const handedPrefetched = out.length > 0
    for (let first = true; out.length < goal; first = false) {
      const believed = this.waiting - this.fetchingNext
      if (believed <= 0 && !(first && this.fetchingNext === 0 && this.held.length === 0 && !handedPrefetched)) break
      const size = Math.max(1, Math.min(goal - out.length, believed))
      const tokens = Array.from({ length: size }, () => this.nextToken())
      // A recount that overlaps a fetch would miss the jobs it moves to active (see recount()).
      this.fetching++
      this.version++
      const results = await Promise.allSettled(tokens.map((token) => worker.getNextJob(token, { block: false })))
      this.fetching--
      const got: RedisTouchpoint[] = []
      let empty = false
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          this.logError('claim', r.reason)
          empty = true
        } else if (r.value === undefined) empty = true
        else got.push(new RedisTouchpoint(r.value, tokens[i] as string))
      })
      if (this.state !== 'open') {
        await this.giveBack(got)
        break
      }
      for (const t of got) out.push(this.hand(t))
      if (empty) break
    }
    if (out.length < limit) this.waitForWork()
    return out
  }

  delivered(touchpoint: StoredTouchpoint): Promise<void> {
    const t = this.settle(touchpoint)
    if (t === undefined) return DONE
    // Nothing believed to wait: held for this process's next add to land, at most HOLD_MS, so its
    // completion fetches that job (see complete()) in the round trip a claim would otherwise make.
    if (
      this.state === 'open' &&
      this.internals.wake !== 'block' &&
      this.unfetched() <= 0 &&
      this.pausedUntil <= this.clock.now()
    ) {
      return new Promise<void>((resolve) => {
        this.held.push({ t, resolve })
        this.holdTimer ??= this.clock.setTimeout(() => {
          this.holdTimer = undefined
          this.releaseHeld(this.held.length)
        }, HOLD_MS)
        this.holdTimer.unref?.()
      })
    }
    return this.complete(t)
  }

  /** Completes `count` held completions (see delivered()), oldest first. */
  private releaseHeld(count: number): void {
    for (const { t, resolve } of this.held.splice(0, count)) resolve(this.complete(t))
    if (this.held.length === 0 && this.holdTimer !== undefined) {
      this.clock.clearTimeout(this.holdTimer)
      this.holdTimer = undefined
    }
  }

  private complete(t: RedisTouchpoint): Promise<void> {
    // Unless the queue is paused or closing, the same script that completes this job also moves
    // the next one to active for this worker (as BullMQ's own workers do): with a backlog, one
    // command per delivery instead of two; without one, the look for another process's job the
    // claim that follows a delivery would otherwise make with a command of its own (see claim()).
    // The next claim hands it out.
    const fetchNext = this.state === 'open' && this.pausedUntil <= this.clock.now()
    if (fetchNext) {
      this.fetchingNext++
      this.version++
    }
    const done = t.job.moveToCompleted('sent', t.token, fetchNext).then(
      (next: unknown) => {
        this.completing.delete(done)
        if (fetchNext) {
          this.fetchingNext--
          this.takeFetched(next, t.token)
        }
        // Any delivery shows the API is back: lift a probe limit whose owner may have died.
        if (this.probing && this.pausedUntil <= this.clock.now()) this.resumeAll()
      },
      (error: unknown) => {
        this.completing.delete(done)
        if (fetchNext) {
          this.fetchingNext--
          this.claimLeftOver()
        }
        this.logError('delivered', error)
      },
    )
    this.completing.add(done)
    return done
  }

  retry(touchpoint: StoredTouchpoint, attempts: number, dueAt: number): Promise<void> {
    const t = this.settle(touchpoint)
    if (t === undefined) return DONE
    const delay = Math.max(0, dueAt - this.clock.now())
    if (delay > 0) this.retriesDue.set(t.id, dueAt)
    this.waiting++
    this.version++
    return this.setAttempts(t, attempts)
      .then(() => t.job.moveToDelayed(Date.now() + delay, t.token))
      .catch((error: unknown) => this.logError('retry', error))
  }

  failed(touchpoint: StoredTouchpoint, attempts: number, reason: string): Promise<void> {
    const t = this.settle(touchpoint)
    if (t === undefined) return DONE
    this.dead++
    this.version++
    // Moving to failed counts one more attempt.
    return this.setAttempts(t, attempts - 1)
      .then(() => t.job.moveToFailed(new this.modules.UnrecoverableError(reason), t.token, false))
      .then(() => t.job.removeDeduplicationKey())
      .then(
        () => undefined,
        (error: unknown) => this.logError('failed', error),
      )
  }

  release(touchpoints: readonly StoredTouchpoint[]): Promise<void> {
    const mine: RedisTouchpoint[] = []
    for (const touchpoint of touchpoints) {
      const t = this.settle(touchpoint)
      if (t !== undefined) mine.push(t)
    }
    return this.giveBack(mine)
  }

  drain(): Promise<StoredTouchpoint[]> {
    // Durable: what waits stays in Redis for the other instances and the next start.
    return Promise.resolve([])
  }

  forget(dedupeKey: string): void {
    if (this.state !== 'open' || this.queue === undefined || !this.reachable) return
    this.queue.removeDeduplicationKey(dedupeKey).catch((error: unknown) => this.logError('forget', error))
  }

  counts(): StoreCounts {
    return { waiting: Math.max(0, this.waiting), deadLetters: Math.max(0, this.dead) }
  }

  nextDueAt(): number | undefined {
    const now = this.clock.now()
    let next: number | undefined
    for (const [id, at] of this.retriesDue) {
      if (at <= now) this.retriesDue.delete(id)
      else if (next === undefined || at < next) next = at
    }
    if (this.pausedUntil > now && (next === undefined || this.pausedUntil < next)) next = this.pausedUntil
    return next
  }

  onAvailable(listener: () => void): void {
    this.listener = listener
  }

  async deadLetters(options: { readonly limit?: number } = {}): Promise<DeadLetter[]> {
    const queue = this.queue
    if (this.state !== 'open' || queue === undefined) return []
    const limit = options.limit === undefined ? 1000 : Math.max(0, Math.floor(options.limit))
    if (limit === 0) return []
    const jobs = await queue.getFailed(0, limit - 1)
    return jobs.filter((job) => job !== undefined).map(deadLetterOf)
  }

  async retryDeadLetters(ids?: readonly string[]): Promise<number> {
    const queue = this.queue
    if (this.state !== 'open' || queue === undefined || this.producer === undefined) return 0
    // Oldest first, so they come back in the order they failed.
    const jobs = (await this.failedJobs(ids)).reverse()
    let moved = 0
    for (const job of jobs) {
      const key = job.deduplicationId
      if (key !== undefined && key !== '' && this.dedupeWindowMs > 0) {
        // The order counts as seen again; unless it came again since, and that one holds the key.
        const deKey = `${queue.toKey('de')}:${key}`
        const set = await this.producer.set(deKey, String(job.id), 'PX', this.dedupeWindowMs, 'NX')
        if (set === null && (await this.producer.get(deKey)) !== String(job.id)) continue
      }
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
      moved++
    }
    this.waiting += moved
    this.dead = Math.max(0, this.dead - moved)
    this.version++
    if (moved > 0) this.notify()
    return moved
  }

  async purgeDeadLetters(ids?: readonly string[]): Promise<number> {
    if (this.state !== 'open' || this.queue === undefined) return 0
    let removed = 0
    for (const job of await this.failedJobs(ids)) {
      await job.remove()
      removed++
    }
    this.dead = Math.max(0, this.dead - removed)
    this.version++
    return removed
  }

  async queueStats(): Promise<QueueStats> {
    const queue = this.queue
    if (this.state !== 'open' || queue === undefined) return { waiting: 0, delayed: 0, active: 0, failed: 0 }
    // Bounded: a Redis that does not answer (or a command dropped by a quick reconnection of the
    // producer, which does not resend) must not hang the caller (the CLI, a dashboard).
    const c = await withDeadline(
      queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed'),
      ADD_DEADLINE_MS,
      'the counts',
    )
    return {
      waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
      active: c.active ?? 0,
      failed: c.failed ?? 0,
    }
  }

  pauseAll(until: number): void {
    const queue = this.queue
    const client = this.producer
    if (this.state !== 'open' || queue === undefined || client === undefined || this.worker === undefined) return
    const ms = Math.min(MAX_PAUSE_MS, Math.ceil(until - this.clock.now()))
    if (!(ms > 0)) return
    this.pausedUntil = Math.max(this.pausedUntil, until)
    this.probing = true
    // Lengthen BullMQ's queue-wide rate limit, never shorten it (another process may have been told
    // to wait longer), and let one job at a time through once it ends.
    client
      .eval(
        EXTEND_PAUSE,
        2,
        queue.toKey('limiter'),
        queue.toKey('meta'),
        String(ms),
        String(Number.MAX_SAFE_INTEGER),
        String(LIMITER.max),
      )
      .catch((error: unknown) => this.logError('pause', error))
  }

  resumeAll(): void {
    if (!this.probing || this.state !== 'open' || this.queue === undefined) return
    this.probing = false
    this.queue.removeGlobalConcurrency().catch((error: unknown) => this.logError('resume', error))
    this.notify()
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  // -------------------------------------------------------------------------------------------

  private async shutdown(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'closed'
      return
    }
    this.state = 'closing'
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer)
    for (const sleep of this.sleeps) {
      clearTimeout(sleep.timer)
      sleep.resolve()
    }
    // What only this process holds gets one last chance (before the adds under way are waited for:
    // an add that failed twice while connected waits in the buffer, and would wait for ever).
    // Nothing goes to the buffer from now on: an add failing while closing fails.
    const held = this.buffer.splice(0)
    const lastChance: Promise<void>[] = []
    for (const b of held) {
      if (!this.reachable) b.resolve('unavailable')
      else lastChance.push(this.enqueue(b.touchpoint, true).then(b.resolve, () => b.resolve('unavailable')))
    }
    // Bounded, as everything below: a Redis that is up but does not answer (frozen, overloaded)
    // must not hold the shop's shutdown; past the deadline the connections are cut.
    const redisDone = async (): Promise<void> => {
      await Promise.allSettled([...lastChance, ...this.adding])
      this.releaseHeld(this.held.length)
      // A Redis that does not come back within the deadline leaves those jobs to its lock.
      await withDeadline(Promise.allSettled([...this.completing]), ADD_DEADLINE_MS).catch(() => undefined)
      await this.giveBack([...this.prefetched.splice(0), ...this.claimed.values()])
    }
    await withDeadline(redisDone(), CLOSE_STEP_MS).catch(() =>
      this.logError('close', new Error('Redis did not answer in time')),
    )
    this.claimed.clear()
    this.state = 'closed'
    const disconnect = async (): Promise<void> => {
      await this.worker?.close().catch((error: unknown) => this.logError('close', error))
      await this.queue?.close().catch((error: unknown) => this.logError('close', error))
      await Promise.all([quit(this.producer), quit(this.workerConnection)])
    }
    // BullMQ's worker.close() waits for a blocking wait to end (up to its drainDelay, 5 s).
    await withDeadline(disconnect(), CLOSE_STEP_MS).catch(() => {
      this.producer?.disconnect()
      this.workerConnection?.disconnect()
    })
  }

  private enqueue(touchpoint: NewTouchpoint, closing = false, again = false): Promise<AddResult> {
    const queue = this.queue as Queue<JobData>
    // Our own id: BullMQ answers a deduplicated add with the id of the job that holds the key.
    const jobId = `${this.tag}-${(++this.jobSeq).toString(36)}`
    const key = this.dedupeWindowMs > 0 ? touchpoint.dedupeKey : undefined
    const data: JobData =
      touchpoint.orderId === undefined
        ? { body: touchpoint.body, receivedAt: touchpoint.receivedAt }
        : { body: touchpoint.body, orderId: touchpoint.orderId, receivedAt: touchpoint.receivedAt }
    // Counted at once, so a burst cannot overshoot maxSize while its adds are in flight.
    this.waiting++
    this.version++
    const added: Promise<AddResult> = withDeadline(
      queue.add(
        JOB_NAME,
        data,
        key === undefined ? { jobId } : { jobId, deduplication: { id: key, ttl: this.dedupeWindowMs } },
      ),
      ADD_DEADLINE_MS,
    ).then(
      (job) => {
        if (job.id === jobId) {
          // A held completion fetches this job (see delivered()): the claim that follows leaves it.
          if (this.held.length > 0) this.releaseHeld(1)
          return 'added'
        }
        this.waiting--
        this.version++
        return 'duplicate'
      },
      (error: unknown) => {
        this.waiting--
        this.version++
        if (!closing && this.state === 'open' && isConnectionError(error, this.producer)) {
          // The error may come from the connection that broke, after the new one is up (the
          // 'ready' that drains the buffer has then been and gone): send it again at once.
          if (!again && this.reachable && this.producer?.status === 'ready') {
            return this.enqueue(touchpoint, closing, true)
          }
          this.onUnreachable(error)
          return this.hold(touchpoint)
        }
        throw error
      },
    )
    this.adding.add(added)
    const untrack = (): void => void this.adding.delete(added)
    added.then(untrack, untrack)
    return added
  }

  /** Keeps a touchpoint in the local buffer until Redis is back, or refuses it when the buffer is full. */
  private hold(touchpoint: NewTouchpoint): Promise<AddResult> {
    if (this.buffer.length >= this.options.localBufferSize) {
      this.droppedWhileUnreachable++
      return UNAVAILABLE
    }
    return new Promise<AddResult>((resolve) => this.buffer.push({ touchpoint, resolve }))
  }

  /** The BullMQ queue the producer adds with, counts and pauses through. */
  private openQueue(producer: IORedis): Queue<JobData> {
    const queue = new this.modules.Queue<JobData>(QUEUE_NAME, {
      connection: producer,
      prefix: this.options.prefix,
      defaultJobOptions: {
        removeOnComplete: true,
        removeOnFail: { age: Math.ceil(this.options.retentionMs / 1000) },
        attempts: JOB_ATTEMPTS,
        stackTraceLimit: 0,
      },
      // The events stream holds job ids and reasons only; keep it short.
      streams: { events: { maxLen: 1000 } },
    })
    queue.on('error', (error: unknown) => this.logError('queue', error))
    this.queueSetUp = false
    this.readiesSinceQueue = 0
    queue.waitUntilReady().then(
      () => {
        if (this.queue === queue) this.queueSetUp = true
      },
      () => undefined,
    )
    return queue
  }

  /**
   * BullMQ sets a queue up once: at the producer's first 'ready' it sends a command of its own
   * (INFO, its version check), and every call of the queue waits for that setup. Should Redis go
   * away before it answers, the producer (`maxRetriesPerRequest: 1`, no resend) fails the command,
   * or drops it at a quick reconnection: the setup then fails or never ends, and so does every add
   * of that queue for good, Redis up or not (the store would count itself unreachable with the
   * connection up, and the buffer would never drain). So at each later 'ready', a queue still not
   * set up is replaced (on the same connection, which BullMQ does not own) before the buffer
   * drains.
   */
  private replaceQueueIfLost(): void {
    const producer = this.producer
    const lost = this.queue
    if (this.state !== 'open' || producer === undefined || lost === undefined) return
    if (this.queueSetUp || ++this.readiesSinceQueue < 2) return
    this.logError('queue', new Error('the queue was not set up before Redis went away: set up again'))
    this.queue = this.openQueue(producer)
    this.readiesSinceQueue = 1
    void lost.close().catch(() => undefined)
  }

  private onReachable(): void {
    // Also when already reachable but something was buffered since (an error that arrived from the
    // broken connection after the new one was up): drain it.
    if (this.state !== 'open' || (this.reachable && this.buffer.length === 0)) return
    this.reachable = true
    if (this.unreachableSince !== undefined) {
      this.write('storeReachable', {
        buffered: this.buffer.length,
        dropped: this.droppedWhileUnreachable,
        unavailableMs: Date.now() - this.unreachableSince,
      })
      this.unreachableSince = undefined
      this.droppedWhileUnreachable = 0
    }
    // In arrival order; one that fails again goes back to the buffer.
    for (const b of this.buffer.splice(0)) b.resolve(this.enqueue(b.touchpoint))
    void this.recount()
    this.notify()
  }

  private onUnreachable(error: unknown): void {
    if (this.state !== 'open') return
    this.reachable = this.producer?.status === 'ready' && error === undefined ? this.reachable : false
    if (this.reachable || this.unreachableSince !== undefined) return
    this.unreachableSince = Date.now()
    this.write('storeUnavailable', {
      localBufferSize: this.options.localBufferSize,
      error: error instanceof Error ? error.message.slice(0, 200) : 'connection closed',
    })
  }

  /**
   * The next job a completion fetched (`[job, id, rate-limit ttl, delay]`, BullMQ's
   * `moveToFinished` answer; no job when none was due or the queue is paused): locked by this
   * worker with the completed job's token, held for the next claim.
   */
  private takeFetched(next: unknown, token: string): void {
    const worker = this.worker
    const [json, id] = Array.isArray(next) ? (next as [unknown, unknown]) : []
    if (
      worker === undefined ||
      json === null ||
      typeof json !== 'object' ||
      (typeof id !== 'string' && typeof id !== 'number')
    ) {
      return this.claimLeftOver()
    }
    const job = this.modules.Job.fromJSON(worker, json as Parameters<typeof this.modules.Job.fromJSON>[1], String(id))
    const t = new RedisTouchpoint(job as Job<JobData>, token)
    if (this.state !== 'open') {
      void this.giveBack([t])
      return
    }
    this.prefetched.push(t)
    this.version++
    this.notify()
  }

  /**
   * A completion that was to fetch the next job brought none: claims that counted on it (see
   * claim()) left jobs believed to wait unfetched (an add that landed after the completion ran).
   */
  private claimLeftOver(): void {
    if (this.unfetched() > 0) this.notify()
  }

  /** Jobs believed to wait that no fetch under way will bring and that are not prefetched already. */
  private unfetched(): number {
    return this.waiting - this.fetchingNext - this.prefetched.length
  }

  /** Takes a claimed touchpoint into this process's hands. */
  private hand(t: RedisTouchpoint | undefined): RedisTouchpoint {
    const touchpoint = t as RedisTouchpoint
    this.claimed.set(touchpoint.id, touchpoint)
    this.retriesDue.delete(touchpoint.id)
    this.waiting--
    this.version++
    return touchpoint
  }

  /** Ends this process's claim, once: a touchpoint settled twice, or not claimed here, gives `undefined`. */
  private settle(touchpoint: StoredTouchpoint | undefined): RedisTouchpoint | undefined {
    if (!(touchpoint instanceof RedisTouchpoint) || this.claimed.get(touchpoint.id) !== touchpoint) return undefined
    this.claimed.delete(touchpoint.id)
    return this.state === 'closed' ? undefined : touchpoint
  }

  /** Back to the front of the queue, unattempted, keeping their order. */
  private async giveBack(touchpoints: readonly RedisTouchpoint[]): Promise<void> {
    if (touchpoints.length === 0) return
    this.waiting += touchpoints.length
    this.version++
    // Each goes to the front: the last first, so the first ends up first in line.
    const moves = [...touchpoints].reverse().map((t) => t.job.moveToWait(t.token))
    const results = await Promise.allSettled(moves)
    for (const r of results) if (r.status === 'rejected') this.logError('release', r.reason)
    this.notify()
  }

  /** Sets the attempts made on the job (BullMQ's `attemptsMade`), on the worker's connection, before it moves. */
  private setAttempts(t: RedisTouchpoint, attempts: number): Promise<unknown> {
    const client = this.workerConnection
    const queue = this.queue
    if (client === undefined || queue === undefined) return DONE
    return client.hset(queue.toKey(t.id), 'atm', Math.max(0, attempts))
  }

  private nextToken(): string {
    return `${this.tag}:${++this.tokenSeq}`
  }

  /** `wake: 'block'`: waits on the queue as BullMQ's workers do, and takes the next job for the pump. */
  private waitForWork(): void {
    if (this.internals.wake !== 'block' || this.waiterRunning || this.state !== 'open') return
    this.waiterRunning = true
    this.waitLoop().then(
      () => (this.waiterRunning = false),
      (error: unknown) => {
        this.waiterRunning = false
        this.logError('wait', error)
      },
    )
  }

  private async waitLoop(): Promise<void> {
    const worker = this.worker
    const queue = this.queue
    if (worker === undefined || queue === undefined) return
    while (this.state === 'open' && this.prefetched.length === 0) {
      const token = this.nextToken()
      let job: Job<JobData> | undefined
      try {
        job = await worker.getNextJob(token, { block: true })
      } catch (error) {
        // Closing cuts a blocking wait short: not an error.
        if (this.state !== 'open') return
        this.logError('wait', error)
        await this.sleep(this.pollMs)
        continue
      }
      if (job !== undefined) {
        const t = new RedisTouchpoint(job, token)
        if (this.state !== 'open') return this.giveBack([t])
        // Still counted in `waiting` (as the recount counts held jobs) until a claim hands it out.
        this.prefetched.push(t)
        this.version++
        return this.notify()
      }
      if (this.state !== 'open') return
      // Nothing came: a queue-wide pause, or the wait timed out.
      const ttl = await queue.getRateLimitTtl(LIMITER.max).catch(() => 0)
      if (ttl > 0) {
        this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ttl)
        await this.sleep(ttl)
        this.notify()
      }
    }
  }

  private renewLocks(): void {
    const worker = this.worker
    const held = [...this.claimed.values(), ...this.prefetched, ...this.held.map((h) => h.t)]
    if (worker === undefined || held.length === 0 || this.state !== 'open') return
    worker
      .extendJobLocks(
        held.map((t) => t.id),
        held.map((t) => t.token),
        this.lockDurationMs,
      )
      .then(
        (lost) => {
          if (lost.length > 0) this.logError('lock', new Error(`lost the lock of ${lost.length} job(s)`))
        },
        (error: unknown) => this.logError('lock', error),
      )
  }

  private poll(): void {
    if (this.state !== 'open') return
    // Adds that failed twice while the producer was up (see enqueue()) counted Redis unreachable,
    // and no 'ready' will come to drain the buffer: try again.
    if (!this.reachable && this.producer?.status === 'ready') this.onReachable()
    if (this.reachable) void this.recount()
    this.notify()
  }

  /** Reads the queue-wide counts, the shared pause and the probe limit (at most once a poll). */
  private async recount(): Promise<void> {
    const queue = this.queue
    if (queue === undefined || this.state !== 'open') return
    const version = this.version
    try {
      const [counts, limitTtl, concurrency] = await Promise.all([
        queue.getJobCounts('wait', 'prioritized', 'delayed', 'failed'),
        queue.getRateLimitTtl(LIMITER.max),
        queue.getGlobalConcurrency(),
      ])
      if (limitTtl > 0) this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + limitTtl)
      this.probing = concurrency !== null && concurrency !== undefined
      // A local change while the counts were read would be lost or counted twice: keep ours then.
      // So would a fetch under way (a claim's, or a completion's that fetches the next job): the
      // job it moved to active is not counted, yet it is still counted here until it is handed
      // out, and the count would stay one short (bumping `version` at each fetch catches those
      // that began during the recount).
      if (version !== this.version || this.fetching > 0 || this.fetchingNext > 0) return
      this.waiting = (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0) + this.prefetched.length
      this.dead = counts.failed ?? 0
    } catch (error) {
      this.logError('count', error)
    }
  }

  /** The job ids of dead letters: all, or those of `ids` that are dead letters. */
  private async failedJobs(ids: readonly string[] | undefined): Promise<Job<JobData>[]> {
    const queue = this.queue as Queue<JobData>
    const all = (await queue.getFailed(0, -1)).filter((job) => job !== undefined)
    if (ids === undefined) return all
    const wanted = new Set(ids)
    return all.filter((job) => wanted.has(String(job.id)))
  }

  private notify(): void {
    const listener = this.listener
    if (listener === undefined || this.state !== 'open' || this.worker === undefined) return
    try {
      listener()
    } catch (error) {
      this.logError('onAvailable listener', error)
    }
  }

  /** A timer that close() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const entry = {
        resolve,
        timer: setTimeout(() => {
          this.sleeps.delete(entry)
          resolve()
        }, ms),
      }
      entry.timer.unref()
      this.sleeps.add(entry)
    })
  }

  private write(event: LogEvent, fields: Record<string, unknown>): void {
    const [level, message] = LOG_MESSAGES[event]
    try {
      this.logger?.[level]({ store: 'redis', prefix: this.options.prefix, ...fields }, message)
    } catch {
      // A logger that throws must not break delivery.
    }
  }

  /** One line per operation per minute: a store error repeats for every touchpoint. */
  private logError(operation: string, error: unknown): void {
    this.errorLog ??= storeErrorLog(() => this.logger, { store: 'redis', prefix: this.options.prefix })
    this.errorLog(operation, { error: error instanceof Error ? error.message.slice(0, 300) : typeof error })
  }
}

/**
 * Lengthens the queue-wide pause (BullMQ's limiter key, set as BullMQ's own `rateLimit()` sets it)
 * to ARGV[1] ms unless a pause already lasts longer (ARGV[3]: the limiter's max), and lets one job at a time through once it ends
 * (BullMQ's global concurrency, in the queue's meta hash).
 */
const EXTEND_PAUSE = `
-- The key also counts jobs (its TTL then is the limiter's window): only a value past the
-- limiter's max is a pause.
local paused = tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[3])
if not paused or redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
end
redis.call('HSET', KEYS[2], 'concurrency', 1)
return 1
`

function deadLetterOf(job: Job<JobData>): DeadLetter {
  const data = job.data
  return {
    id: String(job.id),
    orderId: typeof data.orderId === 'string' ? data.orderId : undefined,
    body: typeof data.body === 'string' ? data.body : '',
    attempts: job.attemptsMade,
    reason: job.failedReason ?? '',
    receivedAt: typeof data.receivedAt === 'number' ? data.receivedAt : job.timestamp,
    failedAt: job.finishedOn ?? job.timestamp,
  }
}

function isConnectionError(error: unknown, client: IORedis | undefined): boolean {
  if (client !== undefined && client.status !== 'ready') return true
  const message = error instanceof Error ? error.message : ''
  return /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|MaxRetriesPerRequest/i.test(message)
}

async function quit(client: IORedis | undefined): Promise<void> {
  if (client === undefined || client.status === 'end') return
  try {
    if (client.status === 'ready') await client.quit()
    else client.disconnect()
  } catch {
    client.disconnect()
  }
}

/**
 * An add that neither lands nor fails (a command caught in a connection that broke mid-flight) must
 * not hold its order forever: past the deadline it fails as a connection error and is sent again or
 * buffered; should the first one land after all, the dedupe key (BullMQ's deduplication id) makes the
 * second a duplicate — an order without one may then be sent twice, never lost.
 */
const ADD_DEADLINE_MS = 5000
/**
 * The longest each step of close() waits for Redis (the last adds, completions and give-backs; then
 * BullMQ's closes and QUIT, which wait up to the worker's 5 s blocking wait) before cutting the
 * connections.
 */
const CLOSE_STEP_MS = 2 * ADD_DEADLINE_MS

function withDeadline<T>(promise: Promise<T>, ms: number, what = 'the add'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new Error(`Connection is closed. (${what} did not settle in time)`) as Error & { code?: string }
      error.code = 'ECONNRESET'
      reject(error)
    }, ms)
    timer.unref()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  })
}
