// `worker --redis`, run as the real binary against a real Redis (REDIS_URL, or a private
// redis-server; skipped with a banner where there is neither, failed under CI=true): it delivers what
// a shop enqueued and closes on SIGTERM with exit 0, writing nothing after its "stopped" line; a
// Redis that refuses its password (WRONGPASS, NOAUTH) or never answers fails it within 15 s with exit
// code 1 and a clear message. (The `outbox` command's Redis outbox is tested in test/redis/outbox.)
import { createServer, type Server, type Socket } from 'node:net'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { inProcessShop } from '../redis/in-process-shop'
import {
  closeSharedRedis,
  deletePrefix,
  describeOwnRedis,
  describeRedis,
  RedisServer,
  sharedRedis,
  uniquePrefix,
} from '../redis/redis-server'
import { buildCli, finished, removeCli, runCli, startCli, waitForLine } from './cli-binary'

const KEY = 'trx_test_worker_key_00f3'

let url: string
let fake: FakeTransactionaleApi
const prefixes: string[] = []

beforeAll(async () => {
  await buildCli()
}, 120_000)
afterAll(() => removeCli())

describeRedis('worker with Redis', () => {
  beforeAll(async () => {
    url = await sharedRedis()
    fake = await startFakeTransactionaleApi({ apiKey: KEY })
  })

  afterAll(async () => {
    await Promise.all(prefixes.map((prefix) => deletePrefix(url, prefix)))
    await fake.close()
    await closeSharedRedis()
  })

  test('worker delivers what a shop enqueued to the endpoint, then SIGTERM closes it with exit 0 and nothing written after "stopped"', async () => {
    const prefix = uniquePrefix('cli')
    prefixes.push(prefix)
    const shop = inProcessShop({ connection: url, prefix, worker: false }, { endpoint: fake.endpoint })
    await shop.order('R-1')
    await shop.order('R-2')
    await shop.touchpoint.close()
    const before = fake.requests.length

    const child = startCli(['worker', '--redis', url, '--prefix', prefix, '--endpoint', fake.endpoint, '--json'], {
      env: { TRANSACTIONALE_API_KEY: KEY },
    })
    const done = finished(child)
    const started = JSON.parse((await waitForLine(child, (line) => line.includes('"started"'))).line) as unknown
    expect(started).toEqual({ event: 'started', redis: url, prefix, endpoint: fake.endpoint, pid: child.pid })

    const received = await fake.waitForRequests(before + 2)
    expect(
      received
        .slice(before)
        .map((request) => (request.body as { email: string }).email)
        .sort(),
    ).toEqual(['r-1@example.org', 'r-2@example.org'])
    expect(received.slice(before).every((request) => request.headers['x-authorization'] === KEY)).toBe(true)

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
    expect(result.stderr).toBe('')
    expect(result.stdout + result.stderr).not.toContain(KEY)
  }, 60_000)

  test('outbox list --waiting on a Redis queue with 3 waiting touchpoints (API down) shows their order ids; --json parses', async () => {
    const prefix = uniquePrefix('cli-outbox')
    prefixes.push(prefix)
    const down = await startFakeTransactionaleApi({ apiKey: KEY })
    await down.stop()
    // worker: false, so nothing claims them: they wait in the queue as a shop with the API down leaves them.
    const shop = inProcessShop({ connection: url, prefix, worker: false }, { endpoint: down.endpoint })
    for (const id of ['W-1', 'W-2', 'W-3']) await shop.order(id)
    await shop.touchpoint.close()
    await down.close()

    const text = await runCli(['outbox', url, 'list', '--waiting', '--prefix', prefix])
    expect(text.code).toBe(0)
    for (const id of ['W-1', 'W-2', 'W-3']) expect(text.stdout).toContain(id)
    expect(text.stdout).not.toContain('@example.org') // customer fields masked

    const json = await runCli(['outbox', url, 'list', '--waiting', '--prefix', prefix, '--json'])
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.stdout) as { ok: boolean; touchpoints?: { orderId?: string }[] }
    expect(parsed.ok).toBe(true)
    expect(JSON.stringify(parsed)).toContain('W-2')
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
  }, 30_000)
})

describeOwnRedis('worker with a Redis it cannot use', () => {
  let secured: RedisServer
  let silent: Server
  const sockets: Socket[] = []

  beforeAll(async () => {
    secured = await RedisServer.start(['--requirepass', 'right-password'])
    // Accepts connections and never answers: a frozen or wrong server.
    silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    await secured.close()
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  /** Runs the worker on `redis` until it ends by itself (at most 20 s); resolves with the result and how long it ran. */
  async function failing(redis: string): Promise<Awaited<ReturnType<typeof runCli>> & { ms: number }> {
    const started = Date.now()
    const result = await runCli(['worker', '--redis', redis, '--json'], { env: { TRANSACTIONALE_API_KEY: KEY } })
    return { ...result, ms: Date.now() - started }
  }

  test.each([
    ['a wrong password', (port: number) => `redis://:wrong-password@127.0.0.1:${port}`, /WRONGPASS/],
    ['no password', (port: number) => `redis://127.0.0.1:${port}`, /NOAUTH/],
  ])(
    '%s: exit 1 within 15 s, saying Redis refused it, the password masked',
    async (_name, redis, reason) => {
      const result = await failing(redis(secured.port))
      expect(result.code).toBe(1)
      expect(result.ms).toBeLessThan(15_000)
      expect(JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ ok: false, exitCode: 1 })
      expect(result.stderr).toMatch(reason)
      expect(result.stderr).toContain(`cannot use Redis at redis://`)
      expect(result.stdout + result.stderr).not.toContain('wrong-password')
      expect(result.stdout).not.toContain('"started"')
    },
    30_000,
  )

  test('a server that never answers: exit 1 within 15 s, saying so', async () => {
    const address = silent.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const result = await failing(`redis://127.0.0.1:${port}`)
    expect(result.code).toBe(1)
    expect(result.ms).toBeLessThan(15_000)
    expect(result.stderr).toContain(
      `cannot use Redis at redis://127.0.0.1:${port} (prefix transactionale): no answer within 10 s`,
    )
  }, 30_000)
})
