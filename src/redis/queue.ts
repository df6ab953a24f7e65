/**
 * Enqueueing into BullMQ (public API only): one job per touchpoint — the wire body, the order id,
 * when it was received, never the API key — deduplicated across instances and restarts by a
 * deduplication id that is a hash of the order's dedupe key (its TTL: the dedupe window), removed
 * once delivered, kept `retentionMs` once failed (the dead letters). While Redis is unreachable,
 * adds wait in a bounded local buffer and are enqueued, in order, once it answers again. A poll
 * reads the queue-wide counts (`stats()`, the `full` check) and the queue-wide pause.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Queue } from 'bullmq'
import { LOG_MESSAGES, storeErrorLog, type LogEvent, type TouchpointLogger } from '../logger'
import type { AddResult, NewTouchpoint, StoreCounts } from '../stores/contracts'
import { openConnection, whenReady, type RedisModules } from './load'
import type { ResolvedRedisStoreOptions } from './options'

/** The queue's name: its keys are `<prefix>:touchpoints:*`. */
export const QUEUE_NAME = 'touchpoints'
/** A limiter traffic never reaches: BullMQ applies a queue-wide pause (`rateLimit`) only to workers with one. */
export const LIMITER = { max: 1_000_000_000, duration: 100 } as const
/** The longest one Redis call of an add, a count or a close step may take before it counts as failed. */
export const DEADLINE_MS = 5000
export const AUTH_ERROR = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i
const CONNECTION_ERROR =
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|MaxRetries|did not answer/i

/** What a job holds. `attempts`: attempts made before its last retry (BullMQ's own count is not ours). */
export interface JobData {
  readonly body: string
  readonly orderId?: string
  readonly receivedAt: number
  readonly attempts?: number
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

export interface TouchpointQueue {
  readonly queue: Queue<JobData>
  add(touchpoint: NewTouchpoint): Promise<AddResult>
  /** Queue-wide, as last read plus this process's adds since. */
  counts(): StoreCounts
  /** Until when (ms epoch) the queue is paused for every worker, as last read. */
  readonly pausedUntil: number
  /** Adds not answered yet, the buffered ones included. */
  readonly storing: number
  stats(): Promise<QueueStats>
  /** Reads the counts and the pause again; never rejects. */
  refresh(): Promise<void>
  logError(operation: string, error: unknown): void
  /** Resolves once Redis answers; rejects at once when it refuses the credentials, else after `ms` without an answer. */
  connected(ms: number): Promise<void>
  /** Buffered adds resolve `unavailable`; waits (bounded) for the adds under way, then cuts the connection. */
  close(): Promise<void>
}

export interface QueueContext {
  readonly logger: TouchpointLogger
  readonly maxSize: number
  readonly dedupeWindowMs: number
  readonly pollMs: number
  readonly now: () => number
}

/** The deduplication id: a hash of the shop's dedupe key (96 bits), so Redis never holds the key itself. */
export const dedupeId = (key: string): string => createHash('sha256').update(key).digest('base64url').slice(0, 16)

export function openQueue(
  modules: RedisModules,
  options: ResolvedRedisStoreOptions,
  context: QueueContext,
): TouchpointQueue {
  const { prefix, localBufferSize } = options
  const producer = openConnection(modules, options.connection, 'producer')
  // Made on our own connection, which BullMQ does not close; no version check (a command of its own
  // that a Redis going away before it answers would leave the queue unusable for good).
  const queue = new modules.Queue<JobData>(QUEUE_NAME, {
    connection: producer,
    prefix,
    skipVersionCheck: true,
    streams: { events: { maxLen: 100 } },
    defaultJobOptions: { removeOnComplete: true, removeOnFail: { age: Math.ceil(options.retentionMs / 1000) } },
  })
  const tag = randomBytes(4).readUInt32BE().toString(36)
  let seq = 0
  let waiting = 0
  /** Adds since the start: a count read while one landed would miss it, and is not taken. */
  let adds = 0
  let dead = 0
  let pausedUntil = 0
  let storing = 0
  let closed = false
  let down: { since: number; dropped: number } | undefined
  const buffer: { touchpoint: NewTouchpoint; resolve: (result: Promise<AddResult>) => void }[] = []
  const adding = new Set<Promise<AddResult>>()
  const write = (event: LogEvent, fields: Record<string, unknown>): void => {
    const [level, message] = LOG_MESSAGES[event]
    try {
      if (!closed) context.logger[level]({ store: 'redis', prefix, ...fields }, message)
    } catch {
      // A logger that throws must not break delivery.
    }
  }
  const errorLog = storeErrorLog(() => (closed ? undefined : context.logger), { store: 'redis', prefix })
  const logError = (operation: string, error: unknown): void => errorLog(operation, { error: messageOf(error) })

  const enqueue = async ({ body, orderId, receivedAt, dedupeKey }: NewTouchpoint): Promise<AddResult> => {
    const jobId = `${tag}.${(++seq).toString(36)}`
    const data: JobData = orderId === undefined ? { body, receivedAt } : { body, orderId, receivedAt }
    const dedupe = dedupeKey !== undefined && context.dedupeWindowMs > 0
    const deduplication = { id: dedupe ? dedupeId(dedupeKey) : '', ttl: context.dedupeWindowMs }
    const job = await bounded(queue.add('t', data, dedupe ? { jobId, deduplication } : { jobId }), 'the add')
    if (job.id !== jobId) return 'duplicate'
    waiting++
    adds++
    return 'added'
  }
  const attempt = async (touchpoint: NewTouchpoint): Promise<AddResult> => {
    if (!closed && producer.status === 'ready' && down === undefined && buffer.length === 0) {
      try {
        return await enqueue(touchpoint)
      } catch (error) {
        // Not a connection problem (a full Redis, a refused command): the add failed for good.
        if (producer.status === 'ready' && !CONNECTION_ERROR.test(messageOf(error))) throw error
        unreachable(error)
      }
    }
    if (closed || buffer.length >= localBufferSize) {
      if (down !== undefined) down.dropped++
      return 'unavailable'
    }
    return new Promise((resolve) => buffer.push({ touchpoint, resolve }))
  }
  const unreachable = (error: unknown): void => {
    if (closed || down !== undefined) return
    down = { since: Date.now(), dropped: 0 }
    write('storeUnavailable', { localBufferSize, error: messageOf(error) })
  }
  const reachable = (): void => {
    if (closed) return
    if (down !== undefined) {
      write('storeReachable', {
        buffered: buffer.length,
        dropped: down.dropped,
        unavailableMs: Date.now() - down.since,
      })
      down = undefined
    }
    // In arrival order; one that fails again goes back to the buffer.
    for (const b of buffer.splice(0)) b.resolve(attempt(b.touchpoint))
  }
  const refresh = async (): Promise<void> => {
    if (closed || producer.status !== 'ready') return
    try {
      const before = adds
      const [c, ttl] = await bounded(
        Promise.all([
          queue.getJobCounts('wait', 'prioritized', 'delayed', 'failed'),
          queue.getRateLimitTtl(LIMITER.max),
        ]),
        'the count',
      )
      if (adds === before) waiting = (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0)
      dead = c.failed ?? 0
      pausedUntil = ttl > 0 ? context.now() + ttl : 0
      // Redis answers again on a connection that never dropped (it was frozen, or an add timed out).
      if (down !== undefined) reachable()
    } catch (error) {
      if (!CONNECTION_ERROR.test(messageOf(error))) logError('count', error)
    }
  }
  producer.on('ready', () => {
    reachable()
    void refresh()
  })
  producer.on('close', () => unreachable(new Error('connection closed')))
  producer.on('error', (error: unknown) => producer.status !== 'ready' && unreachable(error))
  queue.on('error', (error: unknown) => CONNECTION_ERROR.test(messageOf(error)) || logError('queue', error))
  const poll = setInterval(() => void refresh(), context.pollMs)
  poll.unref()

  return {
    queue,
    add(touchpoint) {
      if (closed) return Promise.resolve('unavailable')
      if (waiting + storing >= context.maxSize) return Promise.resolve('full')
      storing++
      const added = attempt(touchpoint).finally(() => {
        storing--
        adding.delete(added)
      })
      adding.add(added)
      return added
    },
    counts: () => ({ waiting, deadLetters: dead }),
    get pausedUntil() {
      return pausedUntil
    },
    get storing() {
      return storing
    },
    async stats() {
      const c = await bounded(queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed'), 'queueStats()')
      return {
        waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
        delayed: c.delayed ?? 0,
        active: c.active ?? 0,
        failed: c.failed ?? 0,
      }
    },
    refresh,
    logError,
    connected: (ms) => whenReady(producer, ms, AUTH_ERROR),
    async close() {
      if (closed) return
      closed = true
      clearInterval(poll)
      for (const b of buffer.splice(0)) b.resolve(Promise.resolve('unavailable'))
      await bounded(Promise.allSettled([...adding]), 'the last adds').catch(() => undefined)
      await bounded(queue.close(), 'the close').catch(() => undefined)
      producer.disconnect()
    },
  }
}

/** `promise`, or a rejection once Redis has not answered within {@link DEADLINE_MS}. */
export function bounded<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${what} within ${ms / 1000} s`)), ms)
    timer.unref()
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

export const messageOf = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 300)
