// End to end through Express 4 / 5: dedupe of double submits, hooks, close() with live and dead APIs,
// and stats() that add up.
import request from 'supertest'
import { transactionaleTouchpoint, type Hooks, type Options, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { accounted } from './helpers/accounted'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { ManualClock, until } from './helpers/manual-clock'
import { createShop, EXPRESS_VERSIONS } from './helpers/shop'

const API_KEY = 'trx-key-delivery'
const customer = (orderId: string): Record<string, string> => ({
  email: `buyer-${orderId}@example.org`,
  firstName: 'Bea',
  country: 'FR',
  orderId,
})

describe.each(EXPRESS_VERSIONS)('delivery through %s', (_version, expressFactory) => {
  let fake: FakeTransactionaleApi
  let logs: LogCapture
  let clock: ManualClock
  let touchpoint: TouchpointMiddleware
  let seen: string[]

  const setup = (options: Partial<Options> = {}): ReturnType<typeof createShop> => {
    const hooks: Hooks = {
      onSent: (e) => void seen.push(`sent:${e.orderId}`),
      onFailed: (e) => void seen.push(`failed:${e.orderId}:${e.reason}`),
      onDropped: (e) => void seen.push(`dropped:${e.orderId}:${e.reason}`),
      onInvalid: (e) => void seen.push(`invalid:${e.orderId}:${e.stage}`),
      onSkipped: (e) => void seen.push(`skipped:${e.orderId}:${e.reason}`),
    }
    touchpoint = transactionaleTouchpoint(
      { apiKey: API_KEY, route: '/checkout', endpoint: fake.endpoint, logger: logs.logger, hooks, ...options },
      { clock, random: () => 0.5 },
    )
    return createShop(expressFactory, touchpoint)
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: API_KEY })
    logs = captureLogs()
    clock = new ManualClock()
    seen = []
  })

  afterEach(async () => {
    const closing = touchpoint.close({ timeoutMs: 0 })
    clock.advance(0)
    await closing
    await fake.close()
    expect(logs.text()).not.toContain(API_KEY)
    expect(logs.text()).not.toContain('@example.org')
  })

  test('a double-submitted checkout sends one touchpoint', async () => {
    const app = setup()
    await Promise.all([
      request(app)
        .post('/checkout')
        .send({ customer: customer('D-1') })
        .expect(201),
      request(app)
        .post('/checkout')
        .send({ customer: customer('D-1') })
        .expect(201),
    ])
    await touchpoint.flush()
    await request(app)
      .post('/checkout')
      .send({ customer: customer('D-1') })
      .expect(201)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(1)
    expect(seen.sort()).toEqual(['sent:D-1', 'skipped:D-1:duplicate', 'skipped:D-1:duplicate'])
    const stats = touchpoint.stats()
    expect(stats).toMatchObject({ received: 3, sent: 1, deduped: 2 })
    expect(accounted(stats)).toBe(stats.received)
  })

  test('every outcome reaches its hook and stats() adds up', async () => {
    fake.script({ status: 200 }, { status: 422 })
    const app = setup()
    await request(app)
      .post('/checkout')
      .send({ customer: customer('H-1') })
      .expect(201)
    await touchpoint.flush()
    await request(app)
      .post('/checkout')
      .send({ customer: customer('H-2') })
      .expect(201)
    await request(app)
      .post('/checkout')
      .send({ customer: { ...customer('H-3'), email: 'nope' } })
      .expect(201)
    await request(app).post('/checkout').send({ customer: null }).expect(201)
    await request(app)
      .post('/checkout')
      .send({ customer: customer('H-4'), decline: true })
      .expect(402)
    await touchpoint.flush()
    expect(seen.sort()).toEqual(
      [
        'sent:H-1',
        'failed:H-2:rejected',
        'invalid:H-3:validation',
        'skipped:undefined:no_customer',
        'skipped:undefined:status',
      ].sort(),
    )
    const stats = touchpoint.stats()
    expect(stats).toMatchObject({
      received: 5,
      sent: 1,
      failed: 1,
      invalid: 1,
      skipped: { total: 2, status: 1, no_customer: 1 },
    })
    expect(accounted(stats)).toBe(stats.received)
  })

  test('close() with pending work drains it within the timeout; later orders are dropped as closed', async () => {
    fake.setDefaultReply({ delayMs: 30 })
    const app = setup()
    for (let i = 0; i < 12; i++) {
      await request(app)
        .post('/checkout')
        .send({ customer: customer(`C-${i}`) })
        .expect(201)
    }
    const summary = await touchpoint.close({ timeoutMs: 5000 })
    expect(summary).toEqual({ sent: 12, failed: 0, dropped: 0, pending: 0, persisted: 0 })
    expect(fake.requests).toHaveLength(12)

    await request(app)
      .post('/checkout')
      .send({ customer: customer('late') })
      .expect(201)
    expect(touchpoint.stats()).toMatchObject({ received: 13, dropped: { closed: 1 } })
    expect(seen).toContain('dropped:undefined:closed')
    expect(await touchpoint.close()).toBe(summary)
  })

  test('close() with a dead API resolves at its deadline, counting what was abandoned', async () => {
    await fake.stop()
    const app = setup()
    for (let i = 0; i < 3; i++) {
      await request(app)
        .post('/checkout')
        .send({ customer: customer(`X-${i}`) })
        .expect(201)
    }
    await until(() => touchpoint.stats().state === 'paused' && touchpoint.stats().queued === 3, 'pause')
    let resolved = false
    const closing = touchpoint.close({ timeoutMs: 5000 }).then((s) => {
      resolved = true
      return s
    })
    clock.advance(4999)
    await until(() => touchpoint.stats().inFlight === 0, 'probe settled')
    expect(resolved).toBe(false)
    clock.advance(1)
    const summary = await closing
    expect(summary).toEqual({ sent: 0, failed: 0, dropped: 0, pending: 3, persisted: 0 })
    expect(seen.filter((s) => s.endsWith(':shutdown'))).toHaveLength(3)
    await logs.waitFor('touchpoints abandoned at close()')
    const stats = touchpoint.stats()
    expect(stats.dropped.shutdown).toBe(3)
    expect(accounted(stats)).toBe(stats.received)
  })
})
