// flush({ timeoutMs }): resolves by its deadline whatever the API does, with what is still pending;
// flush() without options still waits for everything.
import request from 'supertest'
import express from 'express'
import { transactionaleTouchpoint, type FlushResult, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { ManualClock } from './helpers/manual-clock'
import { numberedOrderShop } from './helpers/shop'

describe('flush({ timeoutMs })', () => {
  let fake: FakeTransactionaleApi
  let clock: ManualClock
  let touchpoint: TouchpointMiddleware
  let logs: LogCapture

  const shop = (): express.Express => {
    touchpoint = transactionaleTouchpoint(
      { apiKey: 'k', route: '/checkout', endpoint: fake.endpoint, logger: logs.logger },
      { clock, random: () => 0.5 },
    )
    return numberedOrderShop(touchpoint, 'f')
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi()
    clock = new ManualClock()
    logs = captureLogs()
  })
  afterEach(async () => {
    const closing = touchpoint.close({ timeoutMs: 0 })
    clock.advance(0)
    await closing
    await fake.close()
  })

  test('without options it waits for delivery and reports nothing pending', async () => {
    const app = shop()
    await request(app).post('/checkout').expect(201)
    const result: FlushResult = await touchpoint.flush()
    expect(result).toEqual({ pending: 0 })
    expect(fake.requests).toHaveLength(1)
  })

  test('a healthy API: it resolves once delivered, before its deadline, with nothing pending', async () => {
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await expect(touchpoint.flush({ timeoutMs: 60_000 })).resolves.toEqual({ pending: 0 })
    expect(touchpoint.stats()).toMatchObject({ sent: 1 })
  })

  test('an API that never answers: it resolves at its deadline with the touchpoints still pending', async () => {
    fake.setDefaultReply({ hang: true })
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout').expect(201)
    await fake.waitForRequests(2)
    let result: FlushResult | undefined
    const flushing = touchpoint.flush({ timeoutMs: 3000 }).then((r) => (result = r))
    clock.advance(2999)
    await new Promise((resolve) => setImmediate(resolve))
    expect(result).toBeUndefined()
    clock.advance(1)
    await flushing
    expect(result).toEqual({ pending: 2 })
    expect(touchpoint.stats()).toMatchObject({ inFlight: 2, sent: 0 })
  })

  test('an API that is down (connections refused, retries waiting): it resolves at its deadline', async () => {
    await fake.stop()
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await logs.waitFor('attempt failed, will retry')
    const flushing = touchpoint.flush({ timeoutMs: 5000 })
    clock.advance(5000)
    await expect(flushing).resolves.toEqual({ pending: 1 })
    expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 0, failed: 0 })
  })
})
