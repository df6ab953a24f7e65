// A route that never matches says so: once, naming the full path the shop probably meant, for a
// router mounted under a prefix (the NestJS global prefix is in test/nest.test.ts).
import request from 'supertest'
import { transactionaleTouchpoint, type Options, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { EXPRESS_VERSIONS, FULL_CUSTOMER } from './helpers/shop'

const HINT = 'touchpoint route never matched'

describe.each(EXPRESS_VERSIONS)('route hint through %s', (_version, expressFactory) => {
  let fake: FakeTransactionaleApi
  let logs: LogCapture
  let touchpoint: TouchpointMiddleware

  const make = (options: Partial<Options> = {}): TouchpointMiddleware =>
    (touchpoint = transactionaleTouchpoint({
      apiKey: 'k',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: logs.logger,
      ...options,
    }))

  const checkout = (status: number) => (_req: unknown, res: import('express').Response) => {
    res.locals.transactionale = FULL_CUSTOMER
    res.status(status).json({ ok: status < 300 })
  }

  const hints = (): unknown[] => logs.lines.filter((l) => l.msg.startsWith(HINT))

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi()
    logs = captureLogs()
  })
  afterEach(async () => {
    await touchpoint.close({ timeoutMs: 1000 })
    await fake.close()
  })

  test("app.use('/api', router) with the middleware inside the router: one warning naming /api/checkout", async () => {
    const app = expressFactory()
    const router = expressFactory.Router()
    router.use(make())
    router.post('/checkout', checkout(201))
    app.use('/api', router)
    await request(app).post('/api/checkout').expect(201)
    await request(app).post('/api/checkout?step=2').expect(201)
    await touchpoint.flush()
    expect(hints()).toEqual([
      expect.objectContaining({
        level: 40,
        route: '/checkout',
        method: 'POST',
        path: '/api/checkout',
        fix: expect.stringContaining("route: '/api/checkout'") as unknown,
      }),
    ])
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 0 })
  })

  test('the middleware at the app, the route in a router under /v1/shop: the hint names the whole prefix', async () => {
    const app = expressFactory()
    app.use(make({ route: '/orders/:id/complete' }))
    const router = expressFactory.Router()
    router.post('/orders/:id/complete', checkout(200))
    app.use('/v1/shop', router)
    await request(app).post('/v1/shop/orders/42/complete').expect(200)
    await touchpoint.flush()
    expect(hints()).toEqual([
      expect.objectContaining({
        path: '/v1/shop/orders/42/complete',
        fix: expect.stringContaining("route: '/v1/shop/orders/:id/complete'") as unknown,
      }),
    ])
  })

  test('no warning once the route has matched, nor for failed responses, other methods or a RegExp route', async () => {
    const app = expressFactory()
    app.use(make())
    app.post('/checkout', checkout(201))
    app.post('/legacy/checkout', checkout(201))
    app.post('/api/checkout', checkout(404))
    app.get('/api/checkout', checkout(200))
    await request(app).get('/api/checkout').expect(200)
    await request(app).post('/api/checkout').expect(404)
    await touchpoint.flush()
    expect(hints()).toHaveLength(0)
    await request(app).post('/checkout').expect(201)
    await request(app).post('/legacy/checkout').expect(201)
    await touchpoint.flush()
    expect(hints()).toHaveLength(0)
    expect(fake.requests).toHaveLength(1)
    await touchpoint.close()

    const regexpApp = expressFactory()
    regexpApp.use(make({ route: /^\/checkout$/ }))
    regexpApp.post('/api/checkout', checkout(201))
    await request(regexpApp).post('/api/checkout').expect(201)
    await touchpoint.flush()
    expect(hints()).toHaveLength(0)
  })
})
