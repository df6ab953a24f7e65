/**
 * Enqueueing into BullMQ: one job per touchpoint (the wire body, the order id, when it was received;
 * never the API key), deduplicated across instances and restarts by a hash of the order's dedupe key
 * (TTL: the dedupe window), removed once delivered, kept `retentionMs` once failed (dead letters).
 * While Redis is unreachable, adds wait (ioredis's offline queue: sent in order once it answers), at
 * most `localBufferSize` of them. A poll reads the queue-wide counts (`stats()`, `full`) and the
 * queue-wide pause, and finds a Redis that stopped answering on a connection that never dropped.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rejectAfter } from '../deadline'
import { storeErrorLog, storeEvent, type TouchpointLogger } from '../logger'
import type { AddResult, NewTouchpoint } from '../stores/contracts'
import { openConnection, whenReady, type RedisModules } from './load'
import type { ResolvedRedisStoreOptions } from './options'

export const QUEUE_NAME = 'touchpoints'
const unavailable = Promise.resolve<AddResult>('unavailable')
/**
 * A limiter traffic never reaches: BullMQ applies a queue-wide pause (`rateLimit`) only to workers with
 * one; its window is how long a worker waits after giving a job back with no pause set.
 */
export const LIMITER = { max: 1_000_000_000, duration: 100 } as const
const AUTH_ERROR = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i
const CONNECTION_ERROR = /Connection is closed|Stream isn't writeable|ECONN|EPIPE|ETIMEDOUT|MaxRetries|did not answer/i

/** What a job holds; `attempts`: those made before its last retry (BullMQ's own count is not ours). */
export interface JobData {
  readonly body: string
  readonly orderId?: string
  readonly receivedAt: number
  readonly attempts?: number
}

/** Queue-wide counts, from Redis: due now, waiting for a retry, being sent, dead letters. */
export interface QueueStats {
  readonly waiting: number
  readonly delayed: number
  readonly active: number
  readonly failed: number
}

/** The deduplication id: 96 bits of SHA-256 of the shop's dedupe key, so Redis never holds the key itself. */
export const dedupeId = (key: string): string => createHash('sha256').update(key).digest('base64url').slice(0, 16)

export type TouchpointQueue = ReturnType<typeof openQueue>

export function openQueue(
  modules: RedisModules,
  { connection, prefix, localBufferSize, retentionMs }: ResolvedRedisStoreOptions,
  context: { logger: TouchpointLogger; maxSize: number; dedupeWindowMs: number; pollMs: number; now: () => number },
) {
  const producer = openConnection(modules, connection, 'producer')
  // On our connection (BullMQ does not close it); no version check: BullMQ's own first command, lost
  // if Redis goes away before it answers, would leave the queue unusable for good.
  const queue = new modules.Queue<JobData>(QUEUE_NAME, {
    connection: producer,
    prefix,
    skipVersionCheck: true,
    streams: { events: { maxLen: 100 } },
    defaultJobOptions: { removeOnComplete: true, removeOnFail: { age: Math.ceil(retentionMs / 1000) } },
  })
  const tag = randomBytes(4).readUInt32BE().toString(36)
  let [seq, landed, waiting, dead, pausedUntil, storing, closed] = [0, 0, 0, 0, 0, 0, false]
  let down: { since: number; dropped: number } | undefined
  const adding = new Set<Promise<unknown>>()
  let cutAdds: (result: AddResult) => void = () => undefined
  const cut = new Promise<AddResult>((resolve) => (cutAdds = resolve))
  const logger = (): TouchpointLogger | undefined => (closed ? undefined : context.logger)
  const errorLog = storeErrorLog(logger, { store: 'redis', prefix })
  const logError = (operation: string, error: unknown): void => errorLog(operation, { error: messageOf(error) })

  const enqueue = async ({ body, orderId, receivedAt, dedupeKey }: NewTouchpoint): Promise<AddResult> => {
    const jobId = `${tag}.${(++seq).toString(36)}`
    const data: JobData = orderId === undefined ? { body, receivedAt } : { body, orderId, receivedAt }
    const dedupe = dedupeKey !== undefined && context.dedupeWindowMs > 0
    const deduplication = { id: dedupeId(dedupeKey ?? ''), ttl: context.dedupeWindowMs }
    // Sent again after a reconnection, an add finds its own job id: still `added`, once.
    const request = queue.add('t', data, dedupe ? { jobId, deduplication } : { jobId })
    // Unanswered for 5 s (a frozen Redis): Redis counts as unreachable; the add waits on, within the bound.
    void bounded(request, 'the add').catch((e: unknown) => CONNECTION_ERROR.test(messageOf(e)) && unreachable(e))
    const job = await request
    reachable()
    if (job.id !== jobId) return 'duplicate'
    waiting++
    landed++
    return 'added'
  }
  const unreachable = (error: unknown): void => {
    if (closed || down !== undefined) return
    down = { since: Date.now(), dropped: 0 }
    storeEvent(logger(), 'storeUnavailable', { store: 'redis', prefix, localBufferSize, error: messageOf(error) })
  }
  const reachable = (): void => {
    if (closed || down === undefined) return
    const { dropped, since } = down
    down = undefined
    storeEvent(logger(), 'storeReachable', {
      ...{ store: 'redis', prefix, buffered: storing, dropped, unavailableMs: Date.now() - since },
    })
  }
  const refresh = async (): Promise<void> => {
    // Never skipped while one is unanswered: on a Redis slowed by its disk, each count sent is a
    // sample of the queue-wide pause when Redis gets to it, so a pause that ends before one slow
    // answer is still seen by a count sent during it.
    if (closed || producer.status !== 'ready') return
    try {
      const before = landed
      const [c, pause] = await bounded(
        Promise.all([
          queue.getJobCounts('wait', 'prioritized', 'delayed', 'failed'),
          queue.getRateLimitTtl(LIMITER.max),
        ]),
        'the count',
      )
      // A count read while an add of ours landed may miss it: then ours stands until the next one.
      if (landed === before) waiting = (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0)
      dead = c.failed ?? 0
      // Kept once it is over (a later count does not reset it): on a slow Redis the worker's first
      // fetch after a pause can be answered after a count that saw the pause end, and the worker must
      // still learn that there was one, to probe before it sends more.
      if (pause > 0) pausedUntil = Math.max(pausedUntil, context.now() + pause)
      reachable() // Redis answers again on a connection that never dropped (it was frozen)
    } catch (error) {
      if (CONNECTION_ERROR.test(messageOf(error))) unreachable(error)
      else logError('count', error)
    }
  }
  producer.on('ready', () => void (reachable(), refresh()))
  producer.on('close', () => unreachable(new Error('connection closed')))
  producer.on('error', (error: unknown) => producer.status !== 'ready' && unreachable(error))
  queue.on('error', (error: unknown) => CONNECTION_ERROR.test(messageOf(error)) || logError('queue', error))
  const poll = setInterval(() => void refresh(), context.pollMs)
  poll.unref()

  return {
    queue,
    logError,
    refresh,
    /** The end (ms epoch) of the latest queue-wide pause read; it stays after the pause is over. */
    pausedUntil: () => pausedUntil,
    /** Adds not answered yet, the buffered ones included. */
    storing: () => storing,
    counts: () => ({ waiting, deadLetters: dead }),
    add(touchpoint: NewTouchpoint): Promise<AddResult> {
      if (closed || (down !== undefined && storing >= localBufferSize)) return (down && down.dropped++, unavailable)
      if (waiting + storing >= context.maxSize) return Promise.resolve('full')
      storing++
      // Cut by close() before Redis answered: not stored. A refused add (a full Redis) rejects.
      const added = Promise.race([enqueue(touchpoint), cut]).finally(() => void (storing--, adding.delete(added)))
      adding.add(added)
      return added
    },
    async stats(): Promise<QueueStats> {
      const c = await bounded(queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed'), 'queueStats()')
      const count = (type: string): number => c[type] ?? 0
      return {
        waiting: count('wait') + count('prioritized'),
        delayed: count('delayed'),
        active: count('active'),
        failed: count('failed'),
      }
    },
    /** Resolves once Redis answers; rejects at once when it refuses the credentials, else after `ms`. */
    connected: (ms: number) => whenReady(producer, ms, AUTH_ERROR),
    /** Waits (bounded) for the adds under way unless Redis is unreachable; those still waiting answer `unavailable`. */
    async close(): Promise<void> {
      if (closed) return
      closed = true
      clearInterval(poll)
      if (down === undefined) await bounded(Promise.allSettled([...adding]), 'the last adds').catch(() => undefined)
      cutAdds('unavailable')
      await bounded(queue.close(), 'the close').catch(() => undefined)
      producer.disconnect()
    },
  }
}

/** `promise`, or a rejection once Redis has not answered `what` within 5 s. */
export const bounded = <T>(promise: Promise<T>, what: string): Promise<T> =>
  rejectAfter(promise, 5000, `Redis did not answer ${what} within 5 s`)

export const messageOf = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 300)
