// How the Redis store claims, in round trips: a claim does not look at the queue for jobs it does not
// know of while a completion under way looks for it (the completion fetches the next job), yet
// another process's job is still found, a job added while such a completion runs is still claimed,
// and a recount that overlaps a fetch does not leave the count short. A completion with nothing
// waiting is held for the next add, whose job it then fetches; held, it is still completed soon, and
// at close, even on a worker connection that is reconnecting.
import type { Worker } from 'bullmq'
import IORedis from 'ioredis'
import pino from 'pino'
import { createRedisStore, type RedisStore } from '../../src/redis/store'
import type { NewTouchpoint, StoredTouchpoint } from '../../src/stores/store'
import { systemClock, type Clock } from '../../src/types'
import { ManualClock } from '../helpers/manual-clock'
import { closeSharedRedis, deletePrefix, describeRedis, HAS_REDIS, sharedRedis, uniquePrefix } from './redis-server'

let url = ''
const prefixes: string[] = []
const stores: RedisStore[] = []

beforeAll(async () => {
  if (HAS_REDIS) url = await sharedRedis()
})
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})
afterAll(async () => {
  if (!HAS_REDIS) return
  for (const prefix of prefixes.splice(0)) await deletePrefix(url, prefix)
  await closeSharedRedis()
})

/** A store on `prefix` (a new one by default), opened; the poll is slow, so only the store's own wake-ups count. */
async function openStore(
  prefix = uniquePrefix('claims'),
  clock: Clock = systemClock,
): Promise<{ store: RedisStore; prefix: string }> {
  if (!prefixes.includes(prefix)) prefixes.push(prefix)
  const store = createRedisStore({ connection: url, prefix }, { pollMs: 60_000 })
  stores.push(store)
  await store.open({
    maxSize: 1000,
    dedupeWindowMs: 60_000,
    dedupeMaxEntries: 1000,
    leaseMs: 30_000,
    clock,
    logger: pino({ level: 'silent' }),
  })
  return { store, prefix }
}

const tp = (id: string): NewTouchpoint => ({
  body: `{"order":"${id}"}`,
  orderId: id,
  dedupeKey: id,
  receivedAt: Date.now(),
})

/** Counts the worker's fetches (BullMQ's moveToActive, one round trip each). */
function countFetches(store: RedisStore): { readonly count: number } {
  const worker = (store as unknown as { worker: Worker }).worker
  const fetch = worker.getNextJob.bind(worker)
  const counter = { count: 0 }
  worker.getNextJob = (...args: Parameters<Worker['getNextJob']>) => {
    counter.count++
    return fetch(...args)
  }
  return counter
}

/** Resolves at the store's next onAvailable call. */
function nextWake(store: RedisStore): Promise<void> {
  return new Promise((resolve) => store.onAvailable(resolve))
}

async function claimOne(store: RedisStore): Promise<StoredTouchpoint> {
  const [claimed] = await store.claim(8)
  if (claimed === undefined) throw new Error('nothing claimed')
  return claimed
}

describeRedis('redisStore claims', () => {
  test('the claim that follows a delivery, nothing waiting, makes no fetch: the completion looks for the next job', async () => {
    const { store } = await openStore()
    expect(await store.add(tp('A-1'))).toBe('added')
    const fetches = countFetches(store)
    const a = await claimOne(store)
    expect(fetches.count).toBe(1)
    // As the pump does: settle, then claim for the freed slot in the same turn.
    const completed = store.delivered(a)
    expect(await store.claim(8)).toEqual([])
    await completed
    expect(fetches.count).toBe(1)
    expect(store.counts().waiting).toBe(0)
  })

  test("a delivery with nothing waiting is completed as the next add lands, fetching that add's job: no fetch of its own", async () => {
    // A clock that stands still: the completion is held until the add, however long it takes.
    const { store, prefix } = await openStore(undefined, new ManualClock())
    expect(await store.add(tp('H-1'))).toBe('added')
    const fetches = countFetches(store)
    const first = await claimOne(store)
    let done = false
    const completed = store.delivered(first).then(() => (done = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(done).toBe(false)
    const woken = nextWake(store)
    expect(await store.add(tp('H-2'))).toBe('added')
    // The claim the add's landing brings leaves the job to the completion now under way.
    expect(await store.claim(8)).toEqual([])
    await woken
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['H-2'])
    expect(fetches.count).toBe(1)
    await completed
    expect(done).toBe(true)
    const client = new IORedis(url)
    expect(await client.exists(`${prefix}:touchpoints:${first.id}`)).toBe(0)
    client.disconnect()
  })

  test('a held completion is done within a few ms when no add comes, and at close()', async () => {
    const { store, prefix } = await openStore()
    expect(await store.add(tp('K-1'))).toBe('added')
    expect(await store.add(tp('K-2'))).toBe('added')
    const [k1, k2] = await store.claim(8)
    const started = Date.now()
    await store.delivered(k1 as StoredTouchpoint)
    expect(Date.now() - started).toBeLessThan(1000)
    const completed = store.delivered(k2 as StoredTouchpoint)
    await store.close()
    await completed
    const client = new IORedis(url)
    expect(await client.llen(`${prefix}:touchpoints:active`)).toBe(0)
    expect(await client.llen(`${prefix}:touchpoints:wait`)).toBe(0)
    expect(await client.exists(`${prefix}:touchpoints:${(k2 as StoredTouchpoint).id}`)).toBe(0)
    client.disconnect()
  })

  test('close() waits for a completion queued on a worker connection that is reconnecting: the job is completed, not left active', async () => {
    // A clock that stands still: the completion is held until close() releases it.
    const { store, prefix } = await openStore(undefined, new ManualClock())
    expect(await store.add(tp('Q-1'))).toBe('added')
    const q1 = await claimOne(store)
    const completed = store.delivered(q1)
    // The worker connection breaks: the completion close() sends waits in its offline queue.
    const connection = (store as unknown as { workerConnection: IORedis }).workerConnection
    connection.stream.destroy()
    await store.close()
    await completed
    const client = new IORedis(url)
    expect(await client.llen(`${prefix}:touchpoints:active`)).toBe(0)
    expect(await client.exists(`${prefix}:touchpoints:${q1.id}`)).toBe(0)
    client.disconnect()
  })

  test("another process's job (not counted here) is found by the completion's look and handed to the next claim", async () => {
    const { store: a, prefix } = await openStore()
    const { store: b } = await openStore(prefix)
    expect(await a.add(tp('B-1'))).toBe('added')
    const first = await claimOne(a)
    expect(await b.add(tp('B-2'))).toBe('added')
    const woken = nextWake(a)
    await a.delivered(first)
    await woken
    expect((await a.claim(8)).map((t) => t.orderId)).toEqual(['B-2'])
  })

  test('a job added while a completion that fetches the next job is under way is claimed when it comes back without one', async () => {
    const { store } = await openStore()
    expect(await store.add(tp('C-1'))).toBe('added')
    const first = await claimOne(store)
    // Hold the completion's answer until the add has landed: it ran before the add.
    let landed: () => void = () => undefined
    const added = new Promise<void>((resolve) => (landed = resolve))
    const job = (first as unknown as { job: { moveToCompleted: (...args: unknown[]) => Promise<unknown> } }).job
    const complete = job.moveToCompleted.bind(job)
    job.moveToCompleted = async (...args: unknown[]) => {
      const next = await complete(...args)
      await added
      return next
    }
    const completed = store.delivered(first)
    expect(await store.add(tp('C-2'))).toBe('added')
    // The completion under way counts as the look for it: this claim leaves it.
    expect(await store.claim(8)).toEqual([])
    const woken = nextWake(store)
    landed()
    await completed
    await woken
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['C-2'])
  })

  test('a recount while a fetch is under way keeps the count: the fetched job is not counted out twice', async () => {
    const { store } = await openStore()
    expect(await store.add(tp('D-1'))).toBe('added')
    // The recount reads the queue after the fetch moved D-1 to active, and is back before it.
    const worker = (store as unknown as { worker: Worker }).worker
    const fetch = worker.getNextJob.bind(worker)
    const recount = (store as unknown as { recount(): Promise<void> }).recount.bind(store)
    worker.getNextJob = async (...args: Parameters<Worker['getNextJob']>) => {
      const job = await fetch(...args)
      await recount()
      return job
    }
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['D-1'])
    worker.getNextJob = fetch
    expect(await store.add(tp('D-2'))).toBe('added')
    expect(store.counts().waiting).toBe(1)
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['D-2'])
  })
})
