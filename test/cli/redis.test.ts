// `worker --redis` and `outbox redis://…`, run as the real binary against a real Redis (REDIS_URL,
// or a private redis-server; skipped with a banner where there is neither, failed under CI=true):
// the worker delivers what a shop enqueued and closes on SIGTERM with exit 0; the outbox counts,
// lists, sends again and purges dead letters made through the store's own API.
import pino from 'pino'
import { redisStore, type RedisTouchpointStore } from '../../src/redis'
import type { NewTouchpoint } from '../../src/stores/store'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { systemClock } from '../../src/types'
import { closeSharedRedis, deletePrefix, describeRedis, sharedRedis, uniquePrefix } from '../redis/redis-server'
import { buildCli, finished, matching, removeCli, runCli, startCli, waitForLine } from './cli-binary'

const KEY = 'trx_test_worker_key_00f3'

let url: string
let fake: FakeTransactionaleApi
const prefixes: string[] = []
const stores: RedisTouchpointStore[] = []

/** A store of a shop on `prefix`: `worker: true` to claim and fail touchpoints itself. */
async function shopStore(prefix: string, worker: boolean): Promise<RedisTouchpointStore> {
  const store = redisStore({ connection: url, prefix, worker })
  stores.push(store)
  await store.open({
    maxSize: 10_000,
    dedupeWindowMs: 86_400_000,
    dedupeMaxEntries: 10_000,
    leaseMs: 30_000,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
  })
  return store
}

const order = (n: number): NewTouchpoint => ({
  body: JSON.stringify({ country: 'IT', email: `r${n}@example.com`, first_name: 'Ada' }),
  orderId: `R-${n}`,
  dedupeKey: `R-${n}`,
  receivedAt: Date.now(),
})

function freshPrefix(): string {
  const prefix = uniquePrefix('cli')
  prefixes.push(prefix)
  return prefix
}

describeRedis('with Redis', () => {
  beforeAll(async () => {
    await buildCli()
    url = await sharedRedis()
    fake = await startFakeTransactionaleApi({ apiKey: KEY })
  }, 120_000)

  afterAll(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()))
    await Promise.all(prefixes.map((prefix) => deletePrefix(url, prefix)))
    await fake.close()
    await closeSharedRedis()
    removeCli()
  })

  test('worker delivers what a shop enqueued to the endpoint, then SIGTERM closes it with exit 0', async () => {
    const prefix = freshPrefix()
    const shop = await shopStore(prefix, false)
    expect(await shop.add(order(1))).toBe('added')
    expect(await shop.add(order(2))).toBe('added')
    const before = fake.requests.length

    const child = startCli(['worker', '--redis', url, '--prefix', prefix, '--endpoint', fake.endpoint, '--json'], {
      env: { TRANSACTIONALE_API_KEY: KEY },
    })
    const done = finished(child)
    const started = JSON.parse((await waitForLine(child, (line) => line.includes('"started"'))).line) as unknown
    expect(started).toEqual({ event: 'started', redis: url, prefix, endpoint: fake.endpoint, pid: child.pid })

    const received = await fake.waitForRequests(before + 2)
    expect(received.slice(before).map((request) => request.body)).toEqual(
      expect.arrayContaining([JSON.parse(order(1).body), JSON.parse(order(2).body)]) as unknown[],
    )
    expect(received.slice(before).every((request) => request.headers['x-authorization'] === KEY)).toBe(true)
    // Delivered means settled in Redis too: nothing waits any more.
    await waitFor(async () => (await shop.queueStats()).waiting + (await shop.queueStats()).active === 0)

    child.kill('SIGTERM')
    const result = await done
    expect(result.code).toBe(0)
    const lines = result.stdout.trim().split('\n')
    expect(JSON.parse(lines.at(-1) ?? '')).toEqual({
      event: 'stopped',
      signal: 'SIGTERM',
      sent: 2,
      failed: 0,
      dropped: 0,
      pending: 0,
      persisted: 0,
    })
    expect(result.stdout + result.stderr).not.toContain(KEY)
  })

  test('worker: no key, a URL that is not Redis, a missing --redis: exit 2', async () => {
    const noKey = await runCli(['worker', '--redis', url])
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain('TRANSACTIONALE_API_KEY is not set')

    const notRedis = await runCli(['worker', '--redis', 'http://127.0.0.1:6379'], {
      env: { TRANSACTIONALE_API_KEY: KEY },
    })
    expect(notRedis.code).toBe(2)
    expect(notRedis.stderr).toContain('--redis: must be a redis:// or rediss:// URL')

    const missing = await runCli(['worker'], { env: { TRANSACTIONALE_API_KEY: KEY } })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("required option '--redis <url>' not specified")
  })

  test('outbox redis://: stats, list --failed, retry, purge --failed on dead letters made by the store', async () => {
    const prefix = freshPrefix()
    const shop = await shopStore(prefix, true)
    for (let n = 1; n <= 4; n++) expect(await shop.add(order(n))).toBe('added')
    const claimed = await shop.claim(3)
    expect(claimed).toHaveLength(3)
    for (const touchpoint of claimed) await shop.failed(touchpoint, 1, 'rejected (400)')
    await waitFor(async () => (await shop.queueStats()).failed === 3)
    await shop.close()
    const outbox = (...args: string[]) => runCli(['outbox', url, ...args, '--prefix', prefix])

    const stats = await outbox('stats', '--json')
    expect(stats.code).toBe(0)
    expect(JSON.parse(stats.stdout)).toEqual({
      ok: true,
      store: `${url} (prefix ${prefix})`,
      waiting: 1,
      beingSent: 0,
      delayed: 0,
      deadLetters: 3,
    })

    const list = await outbox('list', '--failed', '--json')
    expect(list.code).toBe(0)
    const letters = (JSON.parse(list.stdout) as { deadLetters: { id: string; orderId: string; reason: string }[] })
      .deadLetters
    expect(letters.map((letter) => letter.orderId).sort()).toEqual(claimed.map((t) => t.orderId).sort())
    expect(letters.every((letter) => letter.reason === 'rejected (400)')).toBe(true)

    const [first, ...others] = letters
    const retryOne = await outbox('retry', first?.id ?? '')
    expect(retryOne.code).toBe(0)
    expect(retryOne.stdout).toBe(`${first?.id}  sent again (due now)\n`)

    const purge = await outbox('purge', '--failed', '--json')
    expect(JSON.parse(purge.stdout)).toEqual({ ok: true, store: `${url} (prefix ${prefix})`, purged: others.length })

    const after = await outbox('stats')
    expect(after.stdout).toBe(
      [
        `${url} (prefix ${prefix})`,
        '  waiting       2  (0 being sent now, 0 waiting for a retry)',
        '  dead letters  0',
        '',
      ].join('\n'),
    )
  })

  test('outbox of a Redis that cannot be reached: exit 1 with the reason', async () => {
    const result = await runCli(['outbox', 'redis://127.0.0.1:1', 'stats', '--json'])
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      exitCode: 1,
      error: matching(/^redis:\/\/127\.0\.0\.1:1: cannot reach Redis \(connect ECONNREFUSED/),
    })
  }, 30_000)
})

/** Polls a condition of Redis (there is no event for another process's writes), 20 ms apart, up to 10 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
