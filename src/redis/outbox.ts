/**
 * The operator's outbox of a Redis store (what the `outbox` CLI uses): counts, waiting touchpoints and
 * dead letters a page at a time, one order's touchpoints, dead letters sent again (never more than
 * the shops have room for), and purge.
 */
import type { Job } from 'bullmq'
import { DEFAULTS } from '../options'
import { maskRedisUrl } from '../redact'
import type { OutboxEntry, OutboxStats, TouchpointOutbox } from '../stores/contracts'
import { loadRedisModules, openConnection, whenReady, type ModuleLoader } from './load'
import { REDIS_STORE_DEFAULTS, type RedisConnection } from './options'
import { bounded, QUEUE_NAME, type JobData } from './queue'

export interface RedisOutboxOptions {
  /** The store's `prefix`. Defaults to `'transactionale'`. */
  readonly prefix?: string
  /** The shops' `queue.maxSize`: `retry()` keeps what waits under half of it. Defaults to `10000`. */
  readonly maxSize?: number
  /** How long opening waits for Redis. Defaults to `10000`. */
  readonly timeoutMs?: number
  readonly load?: ModuleLoader
}

/** BullMQ's states, in the order their touchpoints are sent, and what the outbox calls them. */
const STATES = [
  ['active', 'sending'],
  ['wait', 'waiting'],
  ['prioritized', 'waiting'],
  ['delayed', 'delayed'],
  ['failed', 'dead'],
] as const
type State = (typeof STATES)[number]

/** Opens the outbox of the Redis store at `connection`; rejects when Redis cannot be reached. */
export async function openRedisOutbox(
  connection: RedisConnection,
  options: RedisOutboxOptions = {},
): Promise<TouchpointOutbox> {
  const { prefix = REDIS_STORE_DEFAULTS.prefix, maxSize = DEFAULTS.queue.maxSize } = options
  const modules = loadRedisModules('openRedisOutbox', options.load)
  const { host = '127.0.0.1', port = 6379 } = typeof connection === 'string' ? {} : connection
  const name = `${typeof connection === 'string' ? maskRedisUrl(connection) : `redis://${host}:${port}`} (prefix ${prefix})`
  const client = openConnection(modules, connection, 'outbox')
  // A refused connection is an answer too: an operator's command fails at once.
  await whenReady(client, options.timeoutMs ?? 10_000, /./).catch((error: Error) => {
    client.disconnect()
    throw new Error(`${name}: cannot reach Redis (${error.message})`)
  })
  const queue = new modules.Queue<JobData>(QUEUE_NAME, { connection: client, prefix, skipVersionCheck: true })
  const counts = async (): Promise<(type: string) => number> => {
    const c = await bounded(queue.getJobCounts(...STATES.map(([type]) => type)), 'the count')
    return (type) => c[type] ?? 0
  }
  const entry = ({ id, data, failedReason, finishedOn }: Job<JobData>, state: OutboxEntry['state']): OutboxEntry => ({
    ...{ id: String(id), orderId: data.orderId, body: data.body, attempts: data.attempts ?? 0 },
    ...{ receivedAt: data.receivedAt, state, ...(failedReason ? { lastError: failedReason } : {}) },
    ...(state === 'dead' && finishedOn !== undefined ? { failedAt: finishedOn } : {}),
  })
  /** `limit` entries from `offset` on, across `states` in their order. */
  const page = async (states: readonly State[], limit: number, offset: number): Promise<OutboxEntry[]> => {
    const count = await counts()
    const out: OutboxEntry[] = []
    for (const [type, state] of states) {
      if (out.length < limit && offset < count(type)) {
        const jobs = await queue.getJobs([type], offset, offset + limit - out.length - 1, type !== 'failed')
        out.push(...jobs.map((job) => entry(job, state)))
      }
      offset = Math.max(0, offset - count(type))
    }
    return out
  }
  /** Those of `ids` that are dead letters, or the newest `count` of them. */
  const dead = async (ids: readonly string[] | undefined, count: number): Promise<Job<JobData>[]> => {
    const jobs =
      ids === undefined ? await queue.getFailed(0, count - 1) : await Promise.all(ids.map((id) => queue.getJob(id)))
    const failed = await Promise.all(jobs.map(async (job) => (job && (await job.isFailed()) ? [job] : [])))
    return failed.flat()
  }
  const stats = async (): Promise<OutboxStats & { room: number }> => {
    const count = await counts()
    const waiting = count('wait') + count('prioritized') + count('delayed')
    return {
      ...{ waiting: waiting + count('active'), beingSent: count('active'), delayed: count('delayed') },
      ...{ deadLetters: count('failed'), room: Math.max(0, Math.floor(maxSize / 2) - waiting) },
    }
  }

  return {
    name,
    stats,
    list: ({ state, limit, offset = 0 }) =>
      page(
        STATES.filter(([, as]) => (as === 'dead') === (state === 'dead')),
        limit,
        offset,
      ),
    async find(orderIdOrId) {
      const all = await page(STATES, Number.MAX_SAFE_INTEGER, 0)
      return all.filter((e) => e.orderId === orderIdOrId || e.id === orderIdOrId)
    },
    /**
     * Dead letters back to waiting (due now, attempts reset), as many as keep what waits under half of
     * `maxSize` (the rest is the shops' room for live orders). One whose order was stored again stays dead.
     */
    async retry(ids) {
      const { room } = await stats()
      let moved = 0
      if (room === 0) return 0
      for (const job of await dead(ids?.slice(0, room), room)) {
        if (job.deduplicationId && (await queue.getDeduplicationJobId(job.deduplicationId)) !== null) continue
        await job.updateData({ ...job.data, attempts: 0 })
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
        moved++
      }
      return moved
    },
    async purge(ids) {
      if (ids === undefined) return (await queue.clean(0, 0, 'failed')).length
      const jobs = await dead(ids, 0)
      await Promise.all(jobs.map((job) => job.remove()))
      return jobs.length
    },
    async close() {
      await bounded(queue.close(), 'the close').catch(() => undefined)
      client.disconnect()
    },
  }
}
