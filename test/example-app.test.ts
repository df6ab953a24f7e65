// The example shop, as `npm start` runs it, against the fake API.
import request from 'supertest'
import { transactionaleTouchpoint, type TouchpointMiddleware } from 'express-transactionale'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from 'express-transactionale/testing'
import { createShopApp } from '../example-app/app'
import { captureLogs } from './helpers/log-capture'

describe('example shop', () => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware
  let shop: ReturnType<typeof createShopApp>

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: 'demo-key' })
    touchpoint = transactionaleTouchpoint({
      apiKey: 'demo-key',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: captureLogs().logger,
    })
    shop = createShopApp(touchpoint)
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

  test('GET / serves the checkout form', async () => {
    const res = await request(shop.app).get('/').expect(200)
    expect(res.text).toContain('<form method="post" action="/checkout">')
    for (const field of ['firstName', 'email', 'country', 'zipCode', 'product']) {
      expect(res.text).toContain(`name="${field}"`)
    }
  })

  test('a form order with consent: confirmation page, then one touchpoint', async () => {
    const res = await request(shop.app)
      .post('/checkout')
      .type('form')
      .send({ ...form, consent: 'yes' })
      .expect(201)
    expect(res.text).toContain('Thank you!')
    const [sent] = await fake.waitForRequests(1)
    expect(sent?.body).toEqual({
      country: 'IT',
      email: 'giulia@example.it',
      first_name: 'Giulia',
      zip_code: '20121',
      transaction_value: 34.5,
      transaction_currency: 'EUR',
    })
    expect(shop.orders).toHaveLength(1)
  })

  test('JSON when asked for JSON; no consent means no touchpoint', async () => {
    const res = await request(shop.app).post('/checkout').set('Accept', 'application/json').send(form).expect(201)
    expect((res.body as { order: { consent: boolean } }).order.consent).toBe(false)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats()).toMatchObject({ received: 1, skipped: { total: 1, no_customer: 1 } })
  })

  test('a bad form is a 400 and sends nothing', async () => {
    await request(shop.app).post('/checkout').type('form').send({ product: 'Teapot' }).expect(400)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
  })
})
