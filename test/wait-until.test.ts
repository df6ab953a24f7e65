// waitUntil (serverless hosts that freeze after the response): each order's work is handed over from
// the end of its response until its touchpoint is settled (memory store) or stored (durable store).
import request from 'supertest'
import express from 'express'
import {
  transactionaleTouchpoint,
  type Options,
  type TouchpointDeps,
  type TouchpointLogger,
  type TouchpointMiddleware,
} from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs } from './helpers/log-capture'
import { ManualClock } from './helpers/manual-clock'
import { numberedOrderShop } from './helpers/shop'

/** A shop whose every POST /checkout completes a new order. */
const shopWith = (touchpoint: TouchpointMiddleware): express.Express => numberedOrderShop(touchpoint, 'w')

describe('waitUntil', () => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware
  afterEach(async () => {
    await touchpoint.close({ timeoutMs: 1000 })
    await fake.close()
  })

  /** The touchpoint of these tests: the fake API, the memory store, this `waitUntil` and `logger`. */
  const touchpointWith = (
    waitUntil: NonNullable<Options['waitUntil']>,
    logger: TouchpointLogger = captureLogs().logger,
    more: Partial<Options> = {},
    deps?: TouchpointDeps,
  ): TouchpointMiddleware =>
    transactionaleTouchpoint(
      { apiKey: 'k', route: '/checkout', endpoint: fake.endpoint, logger, waitUntil, ...more },
      deps,
    )

  test('memory store: the promise settles only once the touchpoint is delivered, and never rejects', async () => {
    fake = await startFakeTransactionaleApi({ latencyMs: 200 })
    const handed: Promise<void>[] = []
    touchpoint = touchpointWith((promise) => void handed.push(promise))
    const app = express()
    app.use(touchpoint)
    app.post('/checkout', (_req, res) => {
      res.locals.transactionale = { email: 'w@example.org', firstName: 'W', country: 'IT', orderId: 'w-1' }
      res.status(201).json({ ok: true })
    })
    await request(app).post('/checkout').expect(201)
    expect(handed).toHaveLength(1)
    let settled = false
    void handed[0]?.then(() => (settled = true))
    await fake.waitForRequests(1)
    expect(settled).toBe(false) // the API has the request but has not answered yet
    await handed[0]
    expect(touchpoint.stats()).toMatchObject({ sent: 1 })
  })

  test('a waitUntil that throws changes nothing for the order', async () => {
    fake = await startFakeTransactionaleApi()
    touchpoint = touchpointWith(() => {
      throw new Error('not in a serverless runtime')
    })
    const app = express()
    app.use(touchpoint)
    app.post('/checkout', (_req, res) => {
      res.locals.transactionale = { email: 'x@example.org', firstName: 'X', country: 'IT' }
      res.status(201).json({ ok: true })
    })
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 1 })
  })

  test('an API that never answers holds the promise no longer than waitUntilTimeoutMs; the touchpoint stays counted', async () => {
    fake = await startFakeTransactionaleApi({ defaultReply: { hang: true } })
    const clock = new ManualClock()
    const handed: Promise<void>[] = []
    touchpoint = touchpointWith(
      (promise) => void handed.push(promise),
      undefined,
      { waitUntilTimeoutMs: 2000 },
      { clock },
    )
    await request(shopWith(touchpoint)).post('/checkout').expect(201)
    await fake.waitForRequests(1)
    let settled = false
    void handed[0]?.then(() => (settled = true))
    clock.advance(1999)
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(false)
    clock.advance(1)
    await handed[0]
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 0, inFlight: 1 })
    const closing = touchpoint.close({ timeoutMs: 0 })
    clock.advance(0)
    await expect(closing).resolves.toMatchObject({ pending: 1 })
  })

  test('a waitUntil that ignores the promise (outside a request) is reported once, and delivery goes on', async () => {
    fake = await startFakeTransactionaleApi()
    const logs = captureLogs()
    // @vercel/functions' waitUntil outside a Vercel request: a silent no-op.
    touchpoint = touchpointWith(() => undefined, logs.logger)
    const app = shopWith(touchpoint)
    await request(app).post('/checkout').expect(201)
    const line = await logs.waitFor('waitUntil did not take the touchpoint work')
    expect(line).toMatchObject({ level: 40, reason: 'the promise handed to waitUntil was never awaited' })
    expect(String(line.fix)).toContain('flush({ timeoutMs })')
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 2, sent: 2 })
    expect(logs.lines.filter((l) => l.msg.startsWith('waitUntil did not take'))).toHaveLength(1)
  })

  test('a waitUntil that throws is reported once, with its error', async () => {
    fake = await startFakeTransactionaleApi()
    const logs = captureLogs()
    touchpoint = touchpointWith(() => {
      throw new Error('waitUntil called outside a request context')
    }, logs.logger)
    const app = shopWith(touchpoint)
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    const lines = logs.lines.filter((l) => l.msg.startsWith('waitUntil did not take'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ reason: 'waitUntil threw' })
    expect(String(lines[0]?.error)).toContain('outside a request context')
    expect(touchpoint.stats()).toMatchObject({ received: 2, sent: 2 })
  })

  test.each([
    ['await', (p: Promise<void>) => void (async () => await p)()],
    ['Promise.all later', (p: Promise<void>) => void Promise.resolve().then(() => Promise.all([p]))],
    ['.catch()', (p: Promise<void>) => void p.catch(() => undefined)],
  ])('a waitUntil that subscribes with %s is not reported', async (_how, waitUntil) => {
    fake = await startFakeTransactionaleApi()
    const logs = captureLogs()
    touchpoint = touchpointWith(waitUntil, logs.logger)
    await request(shopWith(touchpoint)).post('/checkout').expect(201)
    await touchpoint.flush()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    expect(touchpoint.stats()).toMatchObject({ sent: 1 })
    expect(logs.text()).not.toContain('waitUntil did not take')
  })
})
