// The example shop, wired as `npm start` wires it (the PRG middleware of server.ts), against the fake API.
import request from 'supertest'
import { Registry } from 'prom-client'
import type { TouchpointMiddleware } from 'express-transactionale'
import { registerMetrics } from 'express-transactionale/metrics'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from 'express-transactionale/testing'
import { createShopApp, type AdminState } from '../example-app/app'
import { FAKE_API_KEY, shopTouchpoint } from '../example-app/server'
import { captureLogs } from './helpers/log-capture'

const ORDER_PAGE = /^\/orders\/[0-9a-f-]{36}$/

describe('example shop', () => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware
  let shop: ReturnType<typeof createShopApp>
  let logs: ReturnType<typeof captureLogs>

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: FAKE_API_KEY })
    logs = captureLogs()
    touchpoint = shopTouchpoint({ apiKey: FAKE_API_KEY, endpoint: fake.endpoint, logger: logs.logger })
    const register = new Registry()
    registerMetrics(touchpoint, { register })
    shop = createShopApp(touchpoint, { fakeApi: fake, metrics: register })
  })
  afterEach(async () => {
    await touchpoint.close()
    await fake.close()
  })

  const form = {
    product: 'Moka pot',
    firstName: 'Giulia',
    email: 'giulia@example.it',
    country: 'Italia',
    zipCode: '20121',
  }

  const placeOrder = async (fields: Record<string, string>): Promise<string> => {
    const res = await request(shop.app).post('/checkout').type('form').send(fields).expect(303)
    expect(res.headers.location).toMatch(ORDER_PAGE)
    return res.headers.location as string
  }

  test('GET / serves the checkout form, with the consent box unticked', async () => {
    const res = await request(shop.app).get('/').expect(200)
    expect(res.text).toContain('<form method="post" action="/checkout">')
    for (const field of ['firstName', 'email', 'country', 'zipCode', 'product']) {
      expect(res.text).toContain(`name="${field}"`)
    }
    const consentBox = /<input[^>]*name="consent"[^>]*>/.exec(res.text)?.[0]
    expect(consentBox).toBe('<input type="checkbox" name="consent" value="yes">')
  })

  test('a form order with consent: 303 to the order page, then exactly one touchpoint', async () => {
    const location = await placeOrder({ ...form, consent: 'yes' })
    const [order] = shop.orders
    expect(location).toBe(`/orders/${order?.id}`)

    const page = await request(shop.app).get(location).expect(200)
    expect(page.text).toContain('Thank you!')
    expect(page.text).toContain(`<code id="order-id">${order?.id}</code>`)

    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toEqual({
      country: 'IT',
      email: 'giulia@example.it',
      first_name: 'Giulia',
      zip_code: '20121',
      transaction_value: 34.5,
      transaction_currency: 'EUR',
    })
    // The redirect counts as the completed order, so the PRG warning is never logged.
    await touchpoint.flush()
    expect(logs.text()).not.toContain('answered with a redirect')
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 1 })
  })

  test('reloading the order page does not place the order again', async () => {
    const location = await placeOrder({ ...form, consent: 'yes' })
    for (let i = 0; i < 3; i++) await request(shop.app).get(location).expect(200)
    await touchpoint.flush()
    expect(shop.orders).toHaveLength(1)
    expect(fake.requests).toHaveLength(1)
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 1 })
  })

  test('a form order without ticking consent sends nothing (the shop passes null)', async () => {
    await placeOrder(form)
    await touchpoint.flush()
    expect(shop.orders[0]?.consent).toBe(false)
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, skipped: { total: 1, no_customer: 1 } })
  })

  test('JSON when asked for JSON: 201 with the order and its Location; no consent means no touchpoint', async () => {
    const res = await request(shop.app).post('/checkout').set('Accept', 'application/json').send(form).expect(201)
    const { order } = res.body as { order: { id: string; consent: boolean } }
    expect(order.consent).toBe(false)
    expect(res.headers.location).toBe(`/orders/${order.id}`)
    const again = await request(shop.app).get(`/orders/${order.id}`).set('Accept', 'application/json').expect(200)
    expect((again.body as { order: { id: string } }).order.id).toBe(order.id)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, skipped: { total: 1, no_customer: 1 } })
  })

  test('a bad form is a 400, not a redirect, and sends nothing', async () => {
    const res = await request(shop.app).post('/checkout').type('form').send({ product: 'Teapot' }).expect(400)
    expect(res.headers.location).toBeUndefined()
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(shop.orders).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, skipped: { total: 1, status: 1 } })
  })

  test('an unknown order is a 404', async () => {
    await request(shop.app).get('/orders/not-an-order').expect(404)
  })

  test('/admin/state: stats, orders and received touchpoints, newest first, never the API key', async () => {
    await placeOrder({ ...form, consent: 'yes' })
    await placeOrder({ ...form, firstName: 'Marco', email: 'marco@example.it' })
    await touchpoint.flush()

    const res = await request(shop.app).get('/admin/state').expect(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const state = res.body as AdminState
    expect(state.orders.map((o) => [o.firstName, o.consent])).toEqual([
      ['Marco', false],
      ['Giulia', true],
    ])
    expect(state.touchpoints).toHaveLength(1)
    expect(state.touchpoints?.[0]).toMatchObject({ status: 200, body: { country: 'IT', first_name: 'Giulia' } })
    expect(Date.parse(state.touchpoints?.[0]?.receivedAt ?? '')).not.toBeNaN()
    expect(state.stats).toMatchObject({ received: 2, sent: 1, skipped: { no_customer: 1 }, state: 'open' })
    expect(res.text).not.toContain(FAKE_API_KEY)
    expect(fake.requests[0]?.headers['x-authorization']).toBe(FAKE_API_KEY) // the key was there to leak
  })

  test('/admin serves the live page and its script', async () => {
    const page = await request(shop.app).get('/admin').expect(200)
    expect(page.text).toContain('<script src="/admin/admin.js" defer></script>')
    expect(page.text).not.toContain(FAKE_API_KEY)
    const script = await request(shop.app).get('/admin/admin.js').expect(200)
    expect(script.headers['content-type']).toMatch(/javascript/)
    expect(script.text).toContain("fetch('/admin/state'")
  })

  test('/admin/state without a fake API lists no touchpoints', async () => {
    const alone = createShopApp(touchpoint)
    const res = await request(alone.app).get('/admin/state').expect(200)
    expect((res.body as AdminState).touchpoints).toBeNull()
    await request(alone.app).get('/metrics').expect(404)
  })

  test('/metrics serves the middleware in the Prometheus text format', async () => {
    await placeOrder({ ...form, consent: 'yes' })
    await touchpoint.flush()
    const res = await request(shop.app).get('/metrics').expect(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.text).toMatch(/^transactionale_touchpoints_total\{outcome="sent"\} 1$/m)
    expect(res.text).toMatch(/^transactionale_touchpoints_received_total 1$/m)
  })
})
