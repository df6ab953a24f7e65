// runWorker as its own process, with shops that only enqueue (worker: false): everything is
// delivered; a worker killed with SIGKILL mid-job has its jobs delivered by a restarted worker
// (BullMQ's stalled-job recovery, with a short lock and stalled check set through internals).
import { runWorker } from '../../src/redis/run-worker'
import { TouchpointConfigError } from '../../src/errors'
import { deliveredIds, getJson, postOrder, trackReplies, useSharedRedis, waitFor } from './processes'
import { describeRedis } from './redis-server'

jest.setTimeout(120_000)

const shared = useSharedRedis()
test('runWorker validates its options like the middleware: every problem at once, unknown ones with a hint', () => {
  let error: unknown
  try {
    runWorker({
      apiKey: '',
      connection: 'http://localhost',
      retry: { maxAttempts: 0 },
      prefx: 'x',
    } as unknown as Parameters<typeof runWorker>[0])
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(TouchpointConfigError)
  const problems = (error as TouchpointConfigError).problems.map((p) => [p.option, p.code])
  expect(problems).toEqual(
    expect.arrayContaining([
      ['prefx', 'ERR_TOUCHPOINT_UNKNOWN_OPTION'],
      ['apiKey', 'ERR_TOUCHPOINT_API_KEY'],
      ['retry.maxAttempts', 'ERR_TOUCHPOINT_RETRY'],
      ['connection', 'ERR_TOUCHPOINT_REDIS'],
    ]),
  )
  expect((error as Error).message).toContain('did you mean "prefix"?')
})

describeRedis('runWorker', () => {
  test("a shop with worker: false and a runWorker process: 50 orders delivered by the worker, the shop's queued back to 0", async () => {
    const prefix = shared.prefix('fifty')
    const api = await shared.api()
    const ok = trackReplies(api)
    const env = { REDIS_URL: shared.url, PREFIX: prefix, ENDPOINT: api.endpoint, LOG_LEVEL: 'warn', WORKER: 'false' }
    const [shop] = await Promise.all([shared.start('redis-shop', env), shared.start('redis-worker', env)])
    const ids = Array.from({ length: 50 }, (_, i) => `${prefix}-${i}`)
    for (const id of ids) expect((await postOrder(shop.port, id)).status).toBe(201)
    await waitFor(() => ids.every((id) => deliveredIds(api, ok).has(id)), 'every order delivered')
    expect(api.requests).toHaveLength(50)
    await waitFor(async () => {
      const s = await getJson<{ queued: number; sent: number; store: { waiting: number } }>(shop.port, '/stats')
      return s.queued === 0 && s.sent === 0 && s.store.waiting === 0
    }, "the shop's queued and the store's waiting back to 0")
  })

  test('shops with worker: false only enqueue; a runWorker process delivers; killed mid-job, its jobs are delivered by a restarted worker', async () => {
    const prefix = shared.prefix('worker')
    // A slow API, so the worker is killed with requests in flight.
    const api = await shared.api({ latencyMs: 300 })
    const ok = trackReplies(api)
    const env = { REDIS_URL: shared.url, PREFIX: prefix, ENDPOINT: api.endpoint, LOG_LEVEL: 'warn', WORKER: 'false' }
    const [shopA, shopB] = await Promise.all([shared.start('redis-shop', env), shared.start('redis-shop', env)])
    const ids = Array.from({ length: 200 }, (_, i) => `${prefix}-${i}`)
    const responses = await Promise.all(ids.map((id, i) => postOrder(i % 2 ? shopA.port : shopB.port, id)))
    expect(responses.every((r) => r.status === 201)).toBe(true)
    const redis = shared.client()
    const key = `${prefix}:touchpoints`
    // Nothing is sent until a worker runs: the shops only enqueue.
    await waitFor(async () => (await redis.llen(`${key}:wait`)) === 200, 'all 200 enqueued')
    expect(api.requests).toHaveLength(0)

    const first = await shared.start('redis-worker', env)
    await waitFor(() => api.requests.length >= 20 && api.inFlight > 0, 'the first worker sending')
    // The requests the worker was waiting on when it died (answered after, or never): their jobs were
    // active, locked by it.
    const repliedAt = new Map<unknown, number>()
    api.events.on('reply', (r: unknown) => repliedAt.set(r, Date.now()))
    await first.kill()
    const killedAt = Date.now()
    const requestsAtKill = api.requests.length
    const inFlightAtKill = new Set(
      api.requests
        .filter((r) => !ok.has(r) || (repliedAt.get(r) ?? 0) >= killedAt)
        .map((r) => (r.body as { email: string }).email),
    )
    expect(inFlightAtKill.size).toBeGreaterThan(0)

    await shared.start('redis-worker', env)
    await waitFor(() => ids.every((id) => deliveredIds(api, ok).has(id)), 'every order delivered')
    // Those the dead worker was sending were sent again by the new one (the stalled jobs came back).
    const resent = new Set(api.requests.slice(requestsAtKill).map((r) => (r.body as { email: string }).email))
    for (const email of inFlightAtKill) expect(resent.has(email)).toBe(true)
    await waitFor(
      async () => (await redis.llen(`${key}:wait`)) + (await redis.llen(`${key}:active`)) === 0,
      'the queue drained',
    )
  })
})
