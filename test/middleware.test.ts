// End to end: a real Express 4 / Express 5 shop, supertest, and the fake Transactionale API on a socket.
import request from 'supertest'
import { transactionaleTouchpoint, type Options, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { PACKAGE_VERSION } from '../src/version'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { createShop, EXPRESS_VERSIONS, FULL_CUSTOMER, FULL_WIRE_BODY } from './helpers/shop'

const API_KEY = 'trx-live-9f8e7d6c5b4a'
const MINIMAL = { email: 'anna@example.org', firstName: 'Anna', country: 'DE' }

describe.each(EXPRESS_VERSIONS)('transactionaleTouchpoint on %s', (_version, expressFactory) => {
  let fake: FakeTransactionaleApi
  let logs: LogCapture
  let touchpoint: TouchpointMiddleware

  const setup = (options: Partial<Options> = {}): ReturnType<typeof createShop> => {
    touchpoint = transactionaleTouchpoint({
      apiKey: API_KEY,
      route: ['/checkout', '/shop/orders/:id/complete'],
      endpoint: fake.endpoint,
      logger: logs.logger,
      ...options,
    })
    return createShop(expressFactory, touchpoint)
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: API_KEY })
    logs = captureLogs()
  })

  afterEach(async () => {
    await touchpoint.close()
    await fake.close()
    // Whatever happened in the test, the key never reaches a log line, and neither does an email.
    expect(logs.text()).not.toContain(API_KEY)
    expect(logs.text()).not.toMatch(/@example\.(com|org)/)
  })

  test('a full customer: exactly the documented request, after the response', async () => {
    const app = setup()
    const res = await request(app).post('/checkout').send({ customer: FULL_CUSTOMER })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({ ok: true, order: { customer: FULL_CUSTOMER } })

    const [sent] = await fake.waitForRequests(1)
    expect(sent?.method).toBe('POST')
    expect(sent?.path).toBe('/api/v1/transaction')
    expect(sent?.headers['x-authorization']).toBe(API_KEY)
    expect(sent?.headers['content-type']).toBe('application/json')
    expect(sent?.headers.accept).toBe('application/json')
    expect(sent?.headers['user-agent']).toMatch(new RegExp(`^express-transactionale/${PACKAGE_VERSION} `))
    expect(sent?.body).toEqual(FULL_WIRE_BODY)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 1, failed: 0, invalid: 0, skipped: { total: 0 } })
  })

  test('a minimal customer with a lower-case country sends the three fields, country upper-cased', async () => {
    const app = setup()
    await request(app)
      .post('/checkout')
      .send({ customer: { ...MINIMAL, country: 'de' } })
      .expect(201)
    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toEqual({ email: 'anna@example.org', first_name: 'Anna', country: 'DE' })
    expect(sent?.rawBody).toBe('{"country":"DE","email":"anna@example.org","first_name":"Anna"}')
  })

  test('another method, another path, or a non-2xx response sends nothing', async () => {
    const app = setup()
    await request(app).get('/checkout').expect(200)
    await request(app).post('/other').expect(200)
    await request(app).post('/checkout/more').expect(404)
    await request(app).post('/broken').expect(500)
    await request(app).post('/checkout').send({ customer: MINIMAL, decline: true }).expect(402)
    await logs.waitFor('response status is not a success')
    // A last, valid order: once it has arrived and everything is flushed, it is the only request.
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await fake.waitForRequests(1)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(1)
    expect(touchpoint.stats()).toMatchObject({ received: 2, skipped: { total: 1, status: 1 }, sent: 1 })
  })

  test('a route with params in a mounted router, mapped from the JSON body', async () => {
    const app = setup({
      mapper: (_req, _res, body) => {
        const order = body as { id: string; customer: typeof MINIMAL }
        return { ...order.customer, orderId: order.id }
      },
    })
    await request(app).post('/shop/orders/77/complete?x=1').send({ customer: MINIMAL }).expect(200)
    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toEqual({ email: 'anna@example.org', first_name: 'Anna', country: 'DE' })
    const line = await logs.waitFor('touchpoint sent')
    expect(line.orderId).toBe('77')
    expect(line.emailHash).toMatch(/^[0-9a-f]{12}$/)
  })

  test('an async mapper reading the request', async () => {
    const app = setup({
      mapper: async (req) => {
        await new Promise((resolve) => setImmediate(resolve))
        return (req.body as { customer: typeof MINIMAL }).customer
      },
    })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toMatchObject({ email: 'anna@example.org' })
  })

  test('a mapper returning null (no consent) sends nothing', async () => {
    const app = setup({ mapper: () => null })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await logs.waitFor('the mapper returned nothing')
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, skipped: { total: 1, no_customer: 1 }, sent: 0 })
  })

  test.each([
    [
      'throws',
      (): never => {
        throw new TypeError('boom mario.rossi@example.com')
      },
    ],
    ['rejects', (): Promise<never> => Promise.reject(new Error('nope'))],
  ])('a mapper that %s: response untouched, one warning, nothing sent', async (_how, mapper) => {
    const app = setup({ mapper })
    const res = await request(app).post('/checkout').send({ customer: MINIMAL })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({ ok: true, order: { customer: MINIMAL } })
    const line = await logs.waitFor('the mapper threw')
    expect(line.level).toBe(40)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats().invalid).toBe(1)
  })

  test.each([
    ['bad email', { ...MINIMAL, email: 'anna(at)example.org' }, 'email'],
    ['XX country', { ...MINIMAL, country: 'XX' }, 'country'],
    ['empty first name', { ...MINIMAL, firstName: '' }, 'firstName'],
  ])('an invalid customer (%s): response untouched, field named, nothing sent', async (_name, customer, field) => {
    const app = setup()
    const res = await request(app)
      .post('/checkout')
      .send({ customer: { ...customer, orderId: 'B-7' } })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({ ok: true, order: { customer: { ...customer, orderId: 'B-7' } } })
    const line = await logs.waitFor('invalid customer')
    expect(line.orderId).toBe('B-7')
    expect((line.invalid as string[]).join()).toContain(`${field}:`)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
  })

  test('an API that does not answer does not delay the response', async () => {
    fake.setDefaultReply({ hang: true })
    const app = setup({ retry: { maxAttempts: 1 } })
    // Listening from the start: had the API answered before the shop's response, it would show here.
    const answered: string[] = []
    fake.events.on('reply', () => answered.push('api answered'))
    // The response arrives while the API still holds the touchpoint unanswered.
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await fake.waitForRequests(1)
    expect(touchpoint.stats()).toMatchObject({ inFlight: 1, sent: 0 })
    expect(answered).toEqual([])
    await fake.stop() // the connection drops: the delivery fails, the shop never noticed
    await logs.waitFor('touchpoint not delivered')
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ inFlight: 0, failed: 1 })
  })

  test('a slow API: the response finishes before the API answers', async () => {
    fake.setDefaultReply({ delayMs: 1500 })
    const events: string[] = []
    fake.events.on('reply', () => events.push('api answered'))
    const app = setup()
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    events.push('shop responded')
    await touchpoint.flush()
    events.push('flushed')
    expect(events).toEqual(['shop responded', 'api answered', 'flushed'])
    expect(touchpoint.stats().sent).toBe(1)
  })

  test('an API answering 500 or down: response untouched, an error logged with the reason', async () => {
    fake.setDefaultReply({ status: 500 })
    const app = setup({ retry: { maxAttempts: 1 } })
    await request(app)
      .post('/checkout')
      .send({ customer: { ...MINIMAL, orderId: 'C-1' } })
      .expect(201)
    const failed = await logs.waitFor('touchpoint not delivered')
    expect(failed).toMatchObject({ level: 50, status: 500, orderId: 'C-1' })

    await fake.stop()
    await request(app)
      .post('/checkout')
      .send({ customer: { ...MINIMAL, orderId: 'C-2' } })
      .expect(201)
    await touchpoint.flush()
    const refused = logs.lines.filter((l) => l.msg === 'touchpoint not delivered')
    expect(refused[1]).toMatchObject({ orderId: 'C-2', error: 'ECONNREFUSED' })
  })

  test('a per-attempt timeout fails a hanging delivery with ETIMEDOUT', async () => {
    fake.setDefaultReply({ hang: true })
    const app = setup({ timeoutMs: 100, retry: { maxAttempts: 1 } })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    const line = await logs.waitFor('touchpoint not delivered')
    expect(line.error).toBe('ETIMEDOUT')
  })

  test('a rejected key is an error that does not quote the key', async () => {
    const app = setup({ apiKey: 'wrong-key' })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    const line = await logs.waitFor('API key rejected')
    expect(line).toMatchObject({ level: 50, status: 401 })
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ failed: 1, retried: 0 })
    expect(logs.text()).not.toContain('wrong-key')
  })

  test('logPersonalData: true puts the customer in the logs', async () => {
    const app = setup({ logPersonalData: true })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    const line = await logs.waitFor('touchpoint sent')
    expect(line.touchpoint).toMatchObject({ email: 'anna@example.org' })
    logs.lines.length = 0 // the afterEach check is about the default; this test opted in
    logs.text = () => ''
  })

  test('enabled: false is a pass-through', async () => {
    const app = setup({ enabled: false })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 0, sent: 0, mapping: 0 })
  })

  test('dryRun: everything runs, nothing is sent, the touchpoint is logged without personal data', async () => {
    const app = setup({ dryRun: true })
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    const line = await logs.waitFor('dry run')
    expect(line.touchpoint).toBe('[redacted]')
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 0, dryRun: 1 })
  })

  test('close() waits for a delivery in flight, then reports it', async () => {
    fake.setDefaultReply({ delayMs: 300 })
    const events: string[] = []
    fake.events.on('reply', () => events.push('api answered'))
    const app = setup()
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await fake.waitForRequests(1)
    const summary = await touchpoint.close()
    events.push('closed')
    expect(events).toEqual(['api answered', 'closed'])
    expect(summary).toEqual({ sent: 1, failed: 0, dropped: 0, pending: 0, persisted: 0 })
    expect(await touchpoint.close()).toEqual(summary)
  })

  test('after close(), orders are dropped and counted, never sent', async () => {
    const app = setup()
    await touchpoint.close()
    await request(app).post('/checkout').send({ customer: MINIMAL }).expect(201)
    await logs.waitFor('touchpoint dropped')
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, dropped: { total: 1, closed: 1 } })
  })

  test('the country option is used when the mapper gives none; the mapper value wins, names normalised', async () => {
    const app = setup({ country: 'Italia' })
    const { country: _omit, ...withoutCountry } = MINIMAL
    await request(app).post('/checkout').send({ customer: withoutCountry }).expect(201)
    await request(app)
      .post('/checkout')
      .send({ customer: { ...MINIMAL, email: 'b@example.org', country: 'Germania' } })
      .expect(201)
    await fake.waitForRequests(2)
    await touchpoint.flush()
    const countries = Object.fromEntries(
      fake.requests.map((r) => [(r.body as { email: string }).email, (r.body as { country: string }).country]),
    )
    expect(countries).toEqual({ 'anna@example.org': 'IT', 'b@example.org': 'DE' })
  })

  test('without a country option, a customer without country is invalid and not sent', async () => {
    const app = setup()
    const { country: _omit, ...withoutCountry } = MINIMAL
    await request(app).post('/checkout').send({ customer: withoutCountry }).expect(201)
    const line = await logs.waitFor('invalid customer')
    expect(line.invalid).toEqual(['country: required'])
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
  })

  test('a JSON string sent with res.send is parsed for the mapper', async () => {
    touchpoint = transactionaleTouchpoint({
      apiKey: API_KEY,
      route: '/raw',
      endpoint: fake.endpoint,
      logger: logs.logger,
      mapper: (_req, _res, body) => (body as { customer: typeof MINIMAL }).customer,
    })
    const app = expressFactory()
    app.use(touchpoint)
    app.post('/raw', (_req, res) => {
      res.type('application/json').send(JSON.stringify({ customer: MINIMAL }))
    })
    await request(app).post('/raw').expect(200)
    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toMatchObject({ email: 'anna@example.org' })
  })
})
