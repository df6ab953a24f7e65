// waitUntil (serverless hosts that freeze after the response): each order's work is handed over from
// the end of its response until its touchpoint is settled (memory store) or stored (durable store).
import request from 'supertest'
import express from 'express'
import { transactionaleTouchpoint, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs } from './helpers/log-capture'

describe('waitUntil', () => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware
  afterEach(async () => {
    await touchpoint.close({ timeoutMs: 1000 })
    await fake.close()
  })

  test('memory store: the promise settles only once the touchpoint is delivered, and never rejects', async () => {
    fake = await startFakeTransactionaleApi({ latencyMs: 200 })
    const handed: Promise<void>[] = []
    touchpoint = transactionaleTouchpoint({
      apiKey: 'k',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: captureLogs().logger,
      waitUntil: (promise) => void handed.push(promise),
    })
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
    touchpoint = transactionaleTouchpoint({
      apiKey: 'k',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: captureLogs().logger,
      waitUntil: () => {
        throw new Error('not in a serverless runtime')
      },
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
})
