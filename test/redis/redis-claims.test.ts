// How the Redis store claims, in round trips: a claim does not look at the queue for jobs it does not
// know of while a completion under way looks for it (the completion fetches the next job), yet
// another process's job is still found, a job added while such a completion runs is still claimed,
// and a recount that overlaps a fetch does not leave the count short. A completion with nothing
// waiting is held for the next add, whose job it then fetches; held, it is still completed soon, and
// at close, even on a worker connection that is reconnecting. Adds that come together share a round trip.
import type { Queue, Worker } from 'bullmq'
import IORedis from 'ioredis'
import pino from 'pino'
import { createRedisStore, type RedisStore } from '../../src/redis/store'
import type { NewTouchpoint, StoredTouchpoint } from '../../src/stores/store'
import { systemClock, type Clock } from '../../src/types'
import { ManualClock, until } from '../helpers/manual-clock'
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

/**
 * Holds the store's next adds back before they are sent (a producer connection slower than the
 * worker's): they land when `land()` is called.
 */
function delayAdds(store: RedisStore): { land(): void } {
  const queue = (store as unknown as { queue: { add: (...args: unknown[]) => Promise<unknown> } }).queue
  const add = queue.add.bind(queue)
  let land: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (land = resolve))
  queue.add = async (...args: unknown[]) => {
    await gate
    return add(...args)
  }
  return { land: () => land() }
}

/** As the pump does: claims at each onAvailable call; what it claimed. */
function claimOnWake(store: RedisStore): StoredTouchpoint[] {
  const claimed: StoredTouchpoint[] = []
  store.onAvailable(() => void store.claim(8).then((got) => claimed.push(...got)))
  return claimed
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

  test('a delivery while an add is on its way is held for it: its completion fetches the job, the claim between makes no fetch', async () => {
    const { store, prefix } = await openStore(undefined, new ManualClock())
    expect(await store.add(tp('U-1'))).toBe('added')
    const fetches = countFetches(store)
    const first = await claimOne(store)
    // The next add is sent before the delivery ends and lands after it.
    const adds = delayAdds(store)
    const adding = store.add(tp('U-2'))
    let done = false
    const completed = store.delivered(first).then(() => (done = true))
    // The claim the pump makes after a delivery: the held completion will look once the add lands.
    expect(await store.claim(8)).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(done).toBe(false)
    const woken = nextWake(store)
    adds.land()
    expect(await adding).toBe('added')
    expect(await store.claim(8)).toEqual([])
    await woken
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['U-2'])
    await completed
    expect(fetches.count).toBe(1)
    const client = new IORedis(url)
    expect(await client.exists(`${prefix}:touchpoints:${first.id}`)).toBe(0)
    client.disconnect()
  })

  test('a held completion that comes back empty while an add is on its way leaves that job to the claim its landing brings: one fetch', async () => {
    const clock = new ManualClock()
    const { store } = await openStore(undefined, clock)
    expect(await store.add(tp('L-1'))).toBe('added')
    const fetches = countFetches(store)
    const first = await claimOne(store)
    const claimed = claimOnWake(store)
    const adds = delayAdds(store)
    const adding = store.add(tp('L-2'))
    const completed = store.delivered(first)
    // No add lands within the hold: the completion goes, and finds nothing.
    clock.advance(5)
    await completed
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(fetches.count).toBe(1)
    adds.land()
    expect(await adding).toBe('added')
    await store.claim(8).then((got) => claimed.push(...got))
    await until(() => claimed.length > 0, 'L-2 claimed')
    expect(claimed.map((t) => t.orderId)).toEqual(['L-2'])
    expect(fetches.count).toBe(2)
    expect(store.counts().waiting).toBe(0)
  })

  test('each held completion waits its own HOLD_MS: one held just before an older one is due still fetches the next add', async () => {
    const clock = new ManualClock()
    const { store } = await openStore(undefined, clock)
    expect(await store.add(tp('P-1'))).toBe('added')
    expect(await store.add(tp('P-2'))).toBe('added')
    const [p1, p2] = await store.claim(8)
    const fetches = countFetches(store)
    let done1 = false
    let done2 = false
    const completed1 = store.delivered(p1 as StoredTouchpoint).then(() => (done1 = true))
    clock.advance(4)
    const completed2 = store.delivered(p2 as StoredTouchpoint).then(() => (done2 = true))
    clock.advance(1)
    await completed1
    expect(done1).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(done2).toBe(false)
    const woken = nextWake(store)
    expect(await store.add(tp('P-3'))).toBe('added')
    expect(await store.claim(8)).toEqual([])
    await woken
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['P-3'])
    await completed2
    expect(fetches.count).toBe(0)
  })
})

describeRedis('redisStore adds', () => {
  /** Counts the round trips the store's adds make (BullMQ's add, or addBulk for several). */
  function countAdds(store: RedisStore): { trips: number; jobs: number } {
    const queue = (store as unknown as { queue: Queue }).queue
    const counter = { trips: 0, jobs: 0 }
    const add = queue.add.bind(queue)
    const addBulk = queue.addBulk.bind(queue)
    queue.add = (...args: Parameters<typeof add>) => {
      counter.trips++
      counter.jobs++
      return add(...args)
    }
    queue.addBulk = (jobs: Parameters<typeof addBulk>[0]) => {
      counter.trips++
      counter.jobs += jobs.length
      return addBulk(jobs)
    }
    return counter
  }

  test('adds that come together go to Redis in one round trip; each is answered for itself (a duplicate too)', async () => {
    const { store, prefix } = await openStore()
    const adds = countAdds(store)
    const results = await Promise.all(['B-1', 'B-2', 'B-1', 'B-3'].map((id) => store.add(tp(id))))
    expect(results).toEqual(['added', 'added', 'duplicate', 'added'])
    expect(adds).toEqual({ trips: 1, jobs: 4 })
    expect(store.counts().waiting).toBe(3)
    const client = new IORedis(url)
    expect(await client.llen(`${prefix}:touchpoints:wait`)).toBe(3)
    client.disconnect()
    expect((await store.claim(8)).map((t) => t.orderId)).toEqual(['B-1', 'B-2', 'B-3'])
  })

  test('an add alone goes within a few ms; at close(), an add waiting for its batch goes at once', async () => {
    const { store, prefix } = await openStore()
    const started = Date.now()
    expect(await store.add(tp('S-1'))).toBe('added')
    expect(Date.now() - started).toBeLessThan(1000)
    const pending = store.add(tp('S-2'))
    await store.close()
    expect(await pending).toBe('added')
    const client = new IORedis(url)
    expect(await client.llen(`${prefix}:touchpoints:wait`)).toBe(2)
    client.disconnect()
  })
})
