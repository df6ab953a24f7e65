/**
 * The operator's outbox of a Redis store (what the `outbox` CLI uses): counts, waiting touchpoints and
 * dead letters a page at a time, one order's touchpoints, dead letters sent again in pages that leave
 * room for the shops' live orders, and purge.
 */
import type { Job } from 'bullmq'
import { DEFAULTS } from '../options'
import type { OutboxEntry, TouchpointOutbox } from '../stores/contracts'
import { loadRedisModules, openConnection, whenReady, type ModuleLoader } from './load'
import { maskRedisUrl, REDIS_STORE_DEFAULTS, type RedisConnection } from './options'
import { bounded, QUEUE_NAME, type JobData } from './queue'

export interface RedisOutboxOptions {
  /** The store's `prefix`. Defaults to `'transactionale'`. */
  readonly prefix?: string
  /** The shops' `queue.maxSize`: `retry()` keeps what waits under half of it. Defaults to `10000`. */
  readonly maxSize?: number
  /** How long `retry()` waits for the shops to make room before it stops. Defaults to `60000`. */
  readonly roomWaitMs?: number
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
const PAGE = 500

/** Opens the outbox of the Redis store at `connection`; rejects when Redis cannot be reached. */
export async function openRedisOutbox(
  connection: RedisConnection,
  options: RedisOutboxOptions = {},
): Promise<TouchpointOutbox> {
  const { prefix = REDIS_STORE_DEFAULTS.prefix, maxSize = DEFAULTS.queue.maxSize, roomWaitMs = 60_000 } = options
  const modules = loadRedisModules('openRedisOutbox', options.load)
  const where =
    typeof connection === 'string'
      ? maskRedisUrl(connection)
      : `redis://${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`
  const name = `${where} (prefix ${prefix})`
  const client = openConnection(modules, connection, 'producer')
  // A refused connection is an answer too: an operator's command fails at once.
  await whenReady(client, options.timeoutMs ?? 10_000, /./).catch((error: Error) => {
    client.disconnect()
    throw new Error(`${name}: cannot reach Redis (${error.message})`)
  })
  const queue = new modules.Queue<JobData>(QUEUE_NAME, { connection: client, prefix, skipVersionCheck: true })
  const counts = (): Promise<Record<string, number>> =>
    bounded(queue.getJobCounts(...STATES.map(([type]) => type)), 'the count')
  const entry = (job: Job<JobData>, state: OutboxEntry['state']): OutboxEntry => ({
    ...{ id: String(job.id), orderId: job.data.orderId, body: job.data.body, attempts: job.data.attempts ?? 0 },
    ...{ receivedAt: job.data.receivedAt, state, ...(job.failedReason ? { lastError: job.failedReason } : {}) },
    ...(state === 'dead' && job.finishedOn !== undefined ? { failedAt: job.finishedOn } : {}),
  })
  /** `limit` entries from `offset` on, across `states` in their order. */
  const page = async (
    states: typeof STATES extends readonly (infer S)[] ? S[] : never,
    limit: number,
    offset: number,
  ) => {
    const c = await counts()
    const out: OutboxEntry[] = []
    for (const [type, state] of states) {
      if (out.length < limit && offset < (c[type] ?? 0)) {
        const jobs =
          type === 'failed'
            ? await queue.getFailed(offset, offset + limit - out.length - 1)
            : await queue.getJobs([type], offset, offset + limit - out.length - 1, true)
        out.push(...jobs.map((job) => entry(job, state)))
      }
      offset = Math.max(0, offset - (c[type] ?? 0))
    }
    return out
  }
  /** Those of `ids` that are dead letters, or the newest `count` of them. */
  const dead = async (ids: readonly string[] | undefined, count: number): Promise<Job<JobData>[]> => {
    const jobs =
      ids === undefined ? await queue.getFailed(0, count - 1) : await Promise.all(ids.map((id) => queue.getJob(id)))
    const failed = await Promise.all(
      jobs.map(async (job) => (job !== undefined && (await job.isFailed()) ? [job] : [])),
    )
    return failed.flat()
  }

  return {
    name,
    async stats() {
      const c = await counts()
      const [active, delayed] = [c.active ?? 0, c.delayed ?? 0]
      return {
        waiting: active + (c.wait ?? 0) + (c.prioritized ?? 0) + delayed,
        beingSent: active,
        delayed,
        deadLetters: c.failed ?? 0,
      }
    },
    list: ({ state, limit, offset = 0 }) =>
      page(
        STATES.filter(([, as]) => (as === 'dead') === (state === 'dead')),
        limit,
        offset,
      ),
    async find(orderIdOrId) {
      const all = await page([...STATES], Number.MAX_SAFE_INTEGER, 0)
      return all.filter((e) => e.orderId === orderIdOrId || e.id === orderIdOrId)
    },
    /**
     * Dead letters back to waiting (due now, attempts reset) in pages that keep what waits under half of
     * `maxSize`, the rest being the shops' room for live orders; between pages it waits for the shops
     * to deliver, at most `roomWaitMs` without room. One whose order was stored again since stays dead.
     */
    async retry(ids) {
      const left = ids === undefined ? undefined : [...new Set(ids)]
      const tried = new Set<string>()
      let [moved, since] = [0, Date.now()]
      for (;;) {
        const c = await counts()
        const room = Math.min(PAGE, Math.floor(maxSize / 2) - (c.wait ?? 0) - (c.prioritized ?? 0) - (c.delayed ?? 0))
        if (room <= 0 && Date.now() - since > roomWaitMs) return moved
        if (room <= 0) {
          await new Promise((resolve) => setTimeout(resolve, 200))
          continue
        }
        const jobs = (await dead(left?.splice(0, room), room)).filter((job) => !tried.has(String(job.id)))
        if (jobs.length === 0 && !left?.length) return moved
        for (const job of jobs) {
          tried.add(String(job.id))
          if (job.deduplicationId && (await queue.getDeduplicationJobId(job.deduplicationId)) !== null) continue
          await job.updateData({ ...job.data, attempts: 0 })
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
          moved++
        }
        since = Date.now()
      }
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
