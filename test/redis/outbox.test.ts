// The Redis outbox (what the `outbox` CLI opens with openRedisOutbox): counts, waiting touchpoints
// and dead letters a page at a time, one order's touchpoints, purge, and dead letters sent again no
// more than the room live orders leave: sending again more dead letters than a running shop's
// queue.maxSize, page after page as the CLI's `retry --all` does, drops none of its new orders.
import { maskRedisUrl } from '../../src/redact'
import { openRedisOutbox } from '../../src/redis/outbox'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { inProcessShop, type InProcessShop } from './in-process-shop'
import { waitFor } from './processes'
import { closeSharedRedis, deletePrefix, describeRedis, HAS_REDIS, sharedRedis, uniquePrefix } from './redis-server'

jest.setTimeout(60_000)

let url = ''
let api: FakeTransactionaleApi
const prefixes: string[] = []
const closing: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  if (HAS_REDIS) url = await sharedRedis()
  api = await startFakeTransactionaleApi()
})
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})
afterAll(async () => {
  await api.close()
  if (!HAS_REDIS) return
  for (const prefix of prefixes.splice(0)) await deletePrefix(url, prefix)
  await closeSharedRedis()
})

function shop(prefix: string, worker: boolean, maxSize = 10_000): InProcessShop {
  const s = inProcessShop({ connection: url, prefix, worker }, { endpoint: api.endpoint, queue: { maxSize } })
  closing.push(() => s.touchpoint.close())
  return s
}

/** A fresh prefix with `count` dead letters (the API answering 400), made by a shop that is closed again. */
async function deadLetters(count: number): Promise<string> {
  const prefix = uniquePrefix('outbox')
  prefixes.push(prefix)
  const s = shop(prefix, true)
  api.setDefaultReply({ status: 400 })
  try {
    for (let i = 0; i < count; i++) await s.order(`${prefix}-d${i}`)
    await s.touchpoint.flush()
  } finally {
    api.setDefaultReply({ status: 200 })
  }
  await s.touchpoint.close()
  return prefix
}

describeRedis('openRedisOutbox', () => {
  test('stats, list (waiting and dead, paged), find, retry by id, purge', async () => {
    const prefix = await deadLetters(5)
    const enqueuing = shop(prefix, false)
    for (const id of ['w1', 'w2', 'w3']) await enqueuing.order(id)
    await enqueuing.touchpoint.flush()
    const outbox = await openRedisOutbox(url.replace('redis://', 'redis://:@'), { prefix })
    closing.push(() => outbox.close())
    // The name shows the URL as maskRedisUrl shows it (here an empty password: nothing to hide).
    expect(outbox.name).toBe(`${maskRedisUrl(url.replace('redis://', 'redis://:@'))} (prefix ${prefix})`)
    expect(await outbox.stats()).toEqual({ waiting: 3, beingSent: 0, delayed: 0, deadLetters: 5, room: 4997 })

    const waiting = await outbox.list({ state: 'waiting', limit: 2, offset: 1 })
    expect(waiting.map((e) => [e.orderId, e.state])).toEqual([
      ['w2', 'waiting'],
      ['w3', 'waiting'],
    ])
    const dead = [
      ...(await outbox.list({ state: 'dead', limit: 3 })),
      ...(await outbox.list({ state: 'dead', limit: 3, offset: 3 })),
    ]
    expect(new Set(dead.map((e) => e.orderId)).size).toBe(5)
    expect(dead.every((e) => e.state === 'dead' && e.lastError === 'rejected (400)' && e.attempts === 1)).toBe(true)
    expect(JSON.parse(dead[0]?.body ?? '{}')).toMatchObject({ first_name: 'Ada' })

    expect((await outbox.find('w2')).map((e) => e.state)).toEqual(['waiting'])
    const [letter] = dead
    expect(await outbox.find(letter?.id ?? '')).toEqual([letter])
    expect(await outbox.retry([letter?.id ?? '', 'no-such-id'])).toBe(1)
    expect(await outbox.stats()).toMatchObject({ waiting: 4, deadLetters: 4 })
    expect((await outbox.find(letter?.orderId ?? '')).map((e) => [e.state, e.attempts])).toEqual([['waiting', 0]])
    expect(await outbox.purge([dead[1]?.id ?? ''])).toBe(1)
    expect(await outbox.purge()).toBe(3)
    expect(await outbox.stats()).toMatchObject({ deadLetters: 0 })
  })

  test("retry() again and again for more dead letters than the shops' queue.maxSize, with a shop taking orders between pages: each page fits the room, no order dropped", async () => {
    const prefix = await deadLetters(300)
    const running = shop(prefix, true, 100)
    const outbox = await openRedisOutbox(url, { prefix, maxSize: 100 })
    closing.push(() => outbox.close())
    // Live orders come between pages, 5 after each, so what they add between two of the shop's
    // counts of the queue (1 s apart) stays within the half that retry() leaves them, however
    // slowly this machine delivers.
    let [retried, pages, live] = [0, 0, 0]
    while (retried < 300) {
      const moved = await outbox.retry()
      expect(moved).toBeLessThanOrEqual(50) // half of maxSize at most, whatever the room
      retried += moved
      if (moved === 0) await new Promise((resolve) => setTimeout(resolve, 100))
      else for (pages++; live < 5 * pages; live++) await running.order(`${prefix}-live${live}`)
    }
    expect(pages).toBeGreaterThanOrEqual(6)
    await running.touchpoint.flush()
    expect(running.touchpoint.stats()).toMatchObject({ sent: 300 + live, dropped: { total: 0, queue_full: 0 } })
    await waitFor(async () => (await outbox.stats()).deadLetters === 0, 'no dead letter left')
  })
})
