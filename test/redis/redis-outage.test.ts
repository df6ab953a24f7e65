// Redis itself failing, with real processes and a private redis-server (AOF on): restarted during a
// run, nothing is lost; stopped during checkouts, the responses do not change, touchpoints wait in
// the shop's local buffer (the overflow dropped as store_unavailable) and are delivered once it is
// back, with the outage and the recovery logged once each; frozen (SIGSTOP), close() and
// queueStats() still end within their deadlines.
import pino from 'pino'
import { LOG_MESSAGES } from '../../src/logger'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { deliveredIds, getJson, postOrder, runLoad, startChild, trackReplies, waitFor, type Child } from './processes'
import { inProcessShop, type InProcessShop } from './in-process-shop'
import { describeOwnRedis, RedisServer, uniquePrefix } from './redis-server'

jest.setTimeout(120_000)

const children: Child[] = []
const apis: FakeTransactionaleApi[] = []
let server: RedisServer | undefined

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()))
  await Promise.all(apis.splice(0).map((a) => a.close()))
  await server?.close()
  server = undefined
})

async function setup(): Promise<{ api: FakeTransactionaleApi; env: Record<string, string>; redis: RedisServer }> {
  const redis = await RedisServer.start()
  server = redis
  const api = await startFakeTransactionaleApi()
  apis.push(api)
  return { api, redis, env: { REDIS_URL: redis.url, PREFIX: uniquePrefix('outage'), ENDPOINT: api.endpoint } }
}

async function shop(env: Record<string, string>): Promise<Child> {
  const child = await startChild('redis-shop', env)
  children.push(child)
  return child
}

const messages = (child: Child): unknown[] => child.lines.map((l) => l.msg)

/** A shop in this process on `url` that only enqueues. */
const enqueuing = (url: string, logger: pino.Logger): InProcessShop =>
  inProcessShop(
    { connection: url, prefix: uniquePrefix('frozen'), worker: false, internals: { pollMs: 60_000 } },
    { endpoint: 'http://127.0.0.1:1', logger },
  )

describeOwnRedis('Redis failing', () => {
  test('Redis restarted (AOF) in the middle of 600 orders at 200/s over two shops: every order delivered', async () => {
    const { api, env, redis } = await setup()
    const ok = trackReplies(api)
    const [a, b] = await Promise.all([shop(env), shop(env)])
    let restart: Promise<void> = Promise.resolve()
    const sent = await runLoad({
      count: 600,
      perSecond: 200,
      prefix: env.PREFIX as string,
      route: (i) => (i % 2 ? { port: a.port, target: 'a' } : { port: b.port, target: 'b' }),
      at: (i) => {
        if (i === 300) restart = redis.stop().then(() => redis.start())
      },
    })
    await restart
    expect(sent.every((s) => s.status === 201)).toBe(true)
    await waitFor(() => sent.every((s) => deliveredIds(api, ok).has(s.id)), 'every order delivered')
  })

  test('Redis stopped during checkouts: responses unchanged, touchpoints buffered (overflow dropped as store_unavailable) and delivered once it is back; logged once each', async () => {
    const { api, env, redis } = await setup()
    const ok = trackReplies(api)
    const [roomy, small] = await Promise.all([shop({ ...env, LOG_LEVEL: 'info' }), shop({ ...env, BUFFER: '10' })])
    const before = await postOrder(roomy.port, `${env.PREFIX}-before`)
    await waitFor(() => deliveredIds(api, ok).has(`${env.PREFIX}-before`), 'the first order delivered')

    await redis.stop()
    const ids = Array.from({ length: 30 }, (_, i) => `${env.PREFIX}-down${i}`)
    const started = Date.now()
    const responses = await Promise.all(ids.map((id) => postOrder(roomy.port, id)))
    const tookMs = Date.now() - started
    const smallIds = Array.from({ length: 30 }, (_, i) => `${env.PREFIX}-small${i}`)
    for (const id of smallIds) expect((await postOrder(small.port, id)).status).toBe(201)
    // The same answers as with Redis up, as fast: the checkout never waits for Redis.
    for (const [i, r] of responses.entries()) {
      expect(r).toEqual({ status: before.status, body: before.body.replace(`${env.PREFIX}-before`, ids[i] as string) })
    }
    expect(tookMs).toBeLessThan(2000)
    await waitFor(async () => {
      const s = await getJson<{ dropped: { store_unavailable: number }; queued: number }>(small.port, '/stats')
      return s.dropped.store_unavailable === 20 && s.queued === 10
    }, 'the small buffer holding 10 and dropping 20')

    await redis.start()
    await waitFor(() => {
      const delivered = deliveredIds(api, ok)
      return ids.every((id) => delivered.has(id)) && smallIds.slice(0, 10).every((id) => delivered.has(id))
    }, 'the buffered touchpoints delivered')
    expect(smallIds.slice(10).some((id) => deliveredIds(api, ok).has(id))).toBe(false)
    await waitFor(() => messages(roomy).includes(LOG_MESSAGES.storeReachable[1]), 'the recovery logged')
    expect(messages(roomy).filter((m) => m === LOG_MESSAGES.storeUnavailable[1])).toHaveLength(1)
    expect(messages(roomy).filter((m) => m === LOG_MESSAGES.storeReachable[1])).toHaveLength(1)
  })

  test('close() with a touchpoint in the local buffer (its add never answered: Redis frozen) ends within its deadline (the connections cut), the touchpoint dropped as store_unavailable', async () => {
    const redis = await RedisServer.start()
    server = redis
    const lines: string[] = []
    const { order, touchpoint } = enqueuing(
      redis.url,
      pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    )
    try {
      await order('before')
      await touchpoint.flush()
      redis.pause()
      await order('frozen')
      // Unanswered past its deadline: Redis counted unreachable, the touchpoint in the local buffer.
      await waitFor(
        () => lines.some((l) => l.includes(LOG_MESSAGES.storeUnavailable[1])),
        'Redis counted unreachable',
        20_000,
      )
      expect(touchpoint.stats().queued).toBe(1)
      const started = Date.now()
      const summary = await touchpoint.close()
      expect(Date.now() - started).toBeLessThan(13_000)
      expect(summary.dropped).toBe(1)
      expect(touchpoint.stats().dropped.store_unavailable).toBe(1)
    } finally {
      redis.resume()
    }
  }, 40_000)

  test('queueStats() on a Redis that does not answer (frozen) rejects within its deadline instead of hanging its caller', async () => {
    const redis = await RedisServer.start()
    server = redis
    const { store, touchpoint } = enqueuing(redis.url, pino({ level: 'silent' }))
    try {
      await waitFor(async () => (await store.queueStats().catch(() => undefined)) !== undefined, 'Redis answering')
      expect(await store.queueStats()).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 })
      redis.pause()
      const started = Date.now()
      await expect(store.queueStats()).rejects.toThrow('did not answer')
      expect(Date.now() - started).toBeLessThan(8000)
    } finally {
      redis.resume()
      await touchpoint.close()
    }
  }, 40_000)
})
