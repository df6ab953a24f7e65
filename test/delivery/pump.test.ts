// The pump (with the memory store and the ledger) against the fake API over real sockets, with an
// injected clock for its pauses.
import type { Hooks } from '../../src/hooks'
import { createHttpClient } from '../../src/http-client'
import { memoryStore } from '../../src/stores/memory-store'
import type { Settlement, StoredTouchpoint, TouchpointStore } from '../../src/stores/contracts'
import { systemClock } from '../../src/types'
import { emailHash } from '../../src/payload'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { API_KEY, createDelivery, type Delivery, type DeliverySettings } from '../helpers/delivery'
import { captureLogs, type LogCapture } from '../helpers/log-capture'
import { ManualClock, until } from '../helpers/manual-clock'

type Touchpoint = { body: string; orderId: string | undefined }

const BASE: DeliverySettings = {
  concurrency: 8,
  maxConcurrency: 128,
  maxSize: 10_000,
  retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
  dedupe: { windowMs: 60_000, maxEntries: 1000 },
  logPersonalData: false,
}

const touchpoint = (orderId: string | undefined, n = 0): Touchpoint => ({
  body: JSON.stringify({ country: 'IT', email: `c${n}@example.it`, first_name: 'C' }),
  orderId,
})

describe('pump', () => {
  let fake: FakeTransactionaleApi
  let client: ReturnType<typeof createHttpClient>
  let clock: ManualClock
  let logs: LogCapture
  let events: { name: string; event: Record<string, unknown> }[]
  let dispatcher: Delivery

  const setup = (settings: Partial<DeliverySettings> = {}, hooks?: Hooks, timeoutMs = 2000): Delivery => {
    client = createHttpClient({ endpoint: fake.endpoint, apiKey: 'k', timeoutMs, userAgent: 'test', maxSockets: 8 })
    const recordingHooks: Hooks = hooks ?? {
      onSent: (event) => void events.push({ name: 'sent', event: { ...event } }),
      onFailed: (event) => void events.push({ name: 'failed', event: { ...event } }),
      onDropped: (event) => void events.push({ name: 'dropped', event: { ...event } }),
      onSkipped: (event) => void events.push({ name: 'skipped', event: { ...event } }),
    }
    dispatcher = createDelivery(
      { ...BASE, ...settings },
      { send: client.send, logger: logs.logger, hooks: recordingHooks, clock, random: () => 0.5 },
    )
    return dispatcher
  }

  /** setup() on a memory store with some of its methods replaced (`inner`: the store itself). */
  const setupOnStore = (replace: (inner: TouchpointStore) => Partial<TouchpointStore>): Delivery => {
    const inner = memoryStore()
    const replaced: Partial<TouchpointStore> = replace(inner)
    const store = new Proxy(inner, {
      get(target, key) {
        const value: unknown = Reflect.get(key in replaced ? replaced : target, key)
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      },
    })
    client = createHttpClient({
      endpoint: fake.endpoint,
      apiKey: 'k',
      timeoutMs: 2000,
      userAgent: 'test',
      maxSockets: 8,
    })
    dispatcher = createDelivery(BASE, { send: client.send, logger: logs.logger, clock, random: () => 0.5, store })
    return dispatcher
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi()
    clock = new ManualClock()
    logs = captureLogs()
    events = []
  })

  afterEach(async () => {
    await dispatcher.stop()
    client.destroy()
    await fake.close()
    expect(logs.text()).not.toContain('@example.it')
  })

  test('503, 503, then 200: delivered exactly once, after 3 attempts, with backoff pauses', async () => {
    fake.script({ status: 503 }, { status: 503 })
    setup()
    void dispatcher.submit(touchpoint('o-1'))
    await until(() => dispatcher.stats().state === 'paused', 'first pause')
    expect(clock.pending().nextInMs).toBe(500) // full jitter, random 0.5: 0.5 × 500 × 2^0, floored at baseDelayMs
    clock.advance(500)
    await until(() => fake.requests.length === 2 && dispatcher.stats().state === 'paused', 'second pause')
    expect(clock.pending().nextInMs).toBe(500) // 0.5 × 500 × 2^1
    clock.advance(500)
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(3)
    expect(dispatcher.stats()).toMatchObject({ sent: 1, retried: 2, failed: 0, state: 'open', queued: 0, inFlight: 0 })
    expect(events).toEqual([
      { name: 'sent', event: expect.objectContaining({ orderId: 'o-1', attempts: 3, status: 200 }) as unknown },
    ])
  })

  test('400: exactly one attempt, onFailed with reason rejected, one error line', async () => {
    fake.script({ status: 400 })
    setup()
    void dispatcher.submit(touchpoint('o-2'))
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(1)
    expect(dispatcher.stats()).toMatchObject({ failed: 1, retried: 0, state: 'open' })
    expect(events).toEqual([
      {
        name: 'failed',
        event: {
          orderId: 'o-2',
          reason: 'rejected',
          status: 400,
          attempts: 1,
          payload: { country: 'IT', email: 'c0@example.it', first_name: 'C' },
        },
      },
    ])
    const errors = logs.lines.filter((l) => l.level === 50)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({
      msg: 'touchpoint not delivered',
      orderId: 'o-2',
      status: 400,
      emailHash: emailHash('c0@example.it', API_KEY),
    })
  })

  test('429 with Retry-After: 2 pauses everything for 2 s, not a moment less', async () => {
    fake.script({ status: 429, headers: { 'Retry-After': '2' } })
    setup()
    void dispatcher.submit(touchpoint('o-3', 3))
    await until(() => dispatcher.stats().state === 'paused', 'pause')
    void dispatcher.submit(touchpoint('o-4', 4))
    expect(clock.pending().nextInMs).toBe(2000)
    clock.advance(1999)
    expect(dispatcher.stats()).toMatchObject({ state: 'paused', inFlight: 0, queued: 2 })
    expect(fake.requests).toHaveLength(1)
    clock.advance(1)
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(3)
    expect(dispatcher.stats()).toMatchObject({ sent: 2, state: 'open' })
  })

  test('connection refused, then the API starts: delivered', async () => {
    await fake.stop()
    setup()
    void dispatcher.submit(touchpoint('o-5'))
    await until(() => dispatcher.stats().state === 'paused', 'pause')
    const warn = await logs.waitFor('deliveries paused')
    expect(warn.error).toBe('ECONNREFUSED')
    await fake.start()
    clock.advance(clock.pending().nextInMs ?? 0)
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(1)
    expect(dispatcher.stats()).toMatchObject({ sent: 1, retried: 1 })
    await logs.waitFor('reachable again')
  })

  test('an API that refuses connections for many probes turns no order into a failure; a 5xx probe counts', async () => {
    await fake.stop()
    setup({ retry: { ...BASE.retry, maxAttempts: 3 } })
    for (let i = 0; i < 3; i++) void dispatcher.submit(touchpoint(`down-${i}`, i))
    await until(() => dispatcher.stats().state === 'paused', 'pause')
    // Ten probes, each refused: nothing reached the API, so no attempt is used up.
    for (let probe = 0; probe < 10; probe++) {
      const retried = dispatcher.stats().retried
      clock.advance(clock.pending().nextInMs ?? 0)
      await until(() => dispatcher.stats().retried > retried && dispatcher.stats().state === 'paused', 'probe')
    }
    expect(dispatcher.stats()).toMatchObject({ failed: 0, sent: 0, queued: 3 })
    expect(events).toEqual([])
    // Answers count. Each touchpoint used one attempt when the API first refused them all (not a
    // probe); the probes answered 500 take turns among the three, so the 4th fails the first one
    // for good (its 3rd attempt).
    await fake.start()
    fake.setDefaultReply({ status: 500 })
    for (let probe = 1; probe <= 4; probe++) {
      const before = fake.requests.length
      clock.advance(clock.pending().nextInMs ?? 0)
      await until(() => fake.requests.length > before && dispatcher.stats().state === 'paused', '5xx probe')
      await until(() => dispatcher.stats().failed === (probe === 4 ? 1 : 0), 'settled')
    }
    fake.setDefaultReply({ status: 200 })
    clock.advance(clock.pending().nextInMs ?? 0)
    await dispatcher.flush()
    expect(dispatcher.stats()).toMatchObject({ sent: 2, failed: 1, state: 'open' })
  })

  test('while the API is down at most one request is in flight; on recovery it opens up again', async () => {
    fake.setDefaultReply({ status: 500, delayMs: 5 })
    setup()
    void dispatcher.submit(touchpoint('first'))
    await until(() => dispatcher.stats().state === 'paused', 'pause')
    const inFlightAtArrival: number[] = []
    fake.events.on('request', () => inFlightAtArrival.push(dispatcher.stats().inFlight))
    for (let i = 0; i < 30; i++) void dispatcher.submit(touchpoint(`down-${i}`, i))
    for (let probe = 0; probe < 6; probe++) {
      const before = fake.requests.length
      clock.advance(clock.pending().nextInMs ?? 0)
      await until(() => fake.requests.length > before && dispatcher.stats().state === 'paused', 'probe')
    }
    expect(inFlightAtArrival).toHaveLength(6)
    expect(Math.max(...inFlightAtArrival)).toBe(1)
    expect(dispatcher.stats()).toMatchObject({ queued: 31, sent: 0, failed: 0 })

    fake.setDefaultReply({ status: 200, delayMs: 5 })
    clock.advance(clock.pending().nextInMs ?? 0)
    await dispatcher.flush()
    expect(dispatcher.stats()).toMatchObject({ sent: 31, failed: 0, state: 'open' })
    expect(Math.max(...inFlightAtArrival)).toBeGreaterThan(1)
  })

  test('timeouts are retried', async () => {
    fake.script({ hang: true })
    setup({}, undefined, 100)
    void dispatcher.submit(touchpoint('o-6'))
    await until(() => dispatcher.stats().state === 'paused', 'pause after timeout')
    clock.advance(clock.pending().nextInMs ?? 0)
    await dispatcher.flush()
    expect(dispatcher.stats()).toMatchObject({ sent: 1, retried: 1 })
    expect(events[0]?.event).toMatchObject({ attempts: 2 })
  })

  test('retries stop at maxAttempts: failed, attempts_exhausted, one error line', async () => {
    fake.setDefaultReply({ status: 502 })
    setup({ retry: { ...BASE.retry, maxAttempts: 3 } })
    void dispatcher.submit(touchpoint('o-7'))
    for (let i = 0; i < 2; i++) {
      await until(() => dispatcher.stats().state === 'paused' && fake.requests.length === i + 1, 'pause')
      clock.advance(clock.pending().nextInMs ?? 0)
    }
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(3)
    expect(events).toEqual([
      {
        name: 'failed',
        event: expect.objectContaining({
          orderId: 'o-7',
          reason: 'attempts_exhausted',
          attempts: 3,
          status: 502,
        }) as unknown,
      },
    ])
    expect(logs.lines.filter((l) => l.msg === 'touchpoint not delivered')).toHaveLength(1)
  })

  test('401s: "API key rejected" once a minute, not once per order', async () => {
    fake.setDefaultReply({ status: 401 })
    setup()
    for (let i = 0; i < 5; i++) void dispatcher.submit(touchpoint(`k-${i}`, i))
    await dispatcher.flush()
    clock.advance(60_000)
    void dispatcher.submit(touchpoint('k-late'))
    await dispatcher.flush()
    const lines = logs.lines.filter((l) => l.msg.startsWith('API key rejected'))
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatchObject({ rejectedSinceLastLine: 5 })
    expect(dispatcher.stats()).toMatchObject({ failed: 6, retried: 0 })
  })

  test('queue overflow (concurrency 1, hanging API): exact drop count, bounded memory', async () => {
    fake.setDefaultReply({ hang: true })
    setup({ concurrency: 1, maxSize: 100 })
    for (let i = 0; i < 1000; i++) void dispatcher.submit(touchpoint(`q-${i}`, i))
    await fake.waitForRequests(1)
    // All 1000 arrive before the first claim (claims are asynchronous): 100 fit, one of them is then sent.
    expect(dispatcher.stats()).toMatchObject({ inFlight: 1, queued: 99, dropped: { total: 900, queue_full: 900 } })
    expect(events.filter((e) => e.name === 'dropped' && e.event.reason === 'queue_full')).toHaveLength(900)
    expect(logs.lines.filter((l) => l.msg.startsWith('touchpoint queue full'))).toHaveLength(1)

    // A dropped order is forgotten by the dedupe window: it may come again.
    void dispatcher.submit(touchpoint('q-999'))
    expect(dispatcher.stats().deduped).toBe(0)

    const gc = (globalThis as { gc?: () => void }).gc
    if (gc === undefined) throw new Error('run jest with node --expose-gc (npm test does)')
    events = []
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 50_000; i++) void dispatcher.submit(touchpoint(`more-${i}`, i))
    await new Promise((resolve) => setImmediate(resolve)) // the adds settle
    events = []
    gc()
    const grown = process.memoryUsage().heapUsed - before
    expect(dispatcher.stats()).toMatchObject({ queued: 100, dropped: { queue_full: 50_900 } })
    expect(grown).toBeLessThan(4 * 1024 * 1024)
  })

  test('double submit of the same order: one request, one duplicate skip', async () => {
    setup()
    void dispatcher.submit(touchpoint('same'))
    void dispatcher.submit(touchpoint('same'))
    await dispatcher.flush()
    void dispatcher.submit(touchpoint('same')) // already delivered, still within the window
    void dispatcher.submit(touchpoint(undefined)) // no order id: never deduplicated
    void dispatcher.submit(touchpoint(undefined))
    await dispatcher.flush()
    expect(fake.requests).toHaveLength(3)
    expect(dispatcher.stats()).toMatchObject({ sent: 3, deduped: 2 })
    expect(events.filter((e) => e.name === 'skipped')).toEqual([
      { name: 'skipped', event: { orderId: 'same', reason: 'duplicate' } },
      { name: 'skipped', event: { orderId: 'same', reason: 'duplicate' } },
    ])
  })

  test('concurrent flush() callers all wait for the same end', async () => {
    fake.setDefaultReply({ delayMs: 50 })
    setup()
    for (let i = 0; i < 20; i++) void dispatcher.submit(touchpoint(`f-${i}`, i))
    const order: string[] = []
    const first = dispatcher.flush().then(() => order.push(`first:${dispatcher.stats().sent}`))
    const second = dispatcher.flush().then(() => order.push(`second:${dispatcher.stats().sent}`))
    await Promise.all([first, second])
    expect(order).toEqual(['first:20', 'second:20'])
  })

  test("flush() waits for the store to record each outcome (a SQLite commit, a Redis completion), not only for the API's answer", async () => {
    let record: () => void = () => undefined
    const recorded = new Promise<void>((resolve) => (record = resolve))
    setupOnStore((inner) => ({
      settle: (t: StoredTouchpoint, outcome: Settlement) => inner.settle(t, outcome).then(() => recorded),
    }))
    void dispatcher.submit(touchpoint('r-1'))
    let flushed = false
    const flushing = dispatcher.flush().then(() => (flushed = true))
    await until(() => dispatcher.stats().sent === 1)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(flushed).toBe(false)
    record()
    await flushing
    expect(flushed).toBe(true)
  })

  test('a retry that comes due between a claim that found nothing and the look for the next due time is still sent', async () => {
    // Real timers can fire a little before Date.now() reaches their time (libuv reads its clock once
    // per loop turn): the probe after a pause then claims just before its retry is due, and by the
    // time the pump asks when the next retry is due, it is due already.
    class EarlyClock extends ManualClock {
      override setTimeout(callback: () => void, ms: number): NodeJS.Timeout {
        return super.setTimeout(callback, Math.max(0, ms - 1))
      }
    }
    clock = new EarlyClock()
    setupOnStore((inner) => ({
      claim: async (limit: number) => {
        const claimed = await inner.claim(limit)
        if (claimed.touchpoints.length === 0) clock.advance(1) // the time the pump takes to look again
        return claimed
      },
    }))
    fake.script({ status: 503 })
    void dispatcher.submit(touchpoint('d-1'))
    await until(() => dispatcher.stats().state === 'paused', 'the pause')
    clock.advance(499) // the probe's timer, a ms before the retry's due time
    await until(() => fake.requests.length === 2, 'the retry sent', 2000)
    await dispatcher.flush()
    expect(dispatcher.stats()).toMatchObject({ sent: 1, retried: 1, queued: 0 })
  })

  test('a throwing or rejecting hook breaks nothing and is logged', async () => {
    setup(
      {},
      {
        onSent: () => {
          throw new Error('hook bug')
        },
        onFailed: () => Promise.reject(new Error('async hook bug')),
      },
    )
    fake.script({ status: 200 }, { status: 404 })
    void dispatcher.submit(touchpoint('h-1'))
    await dispatcher.flush()
    void dispatcher.submit(touchpoint('h-2'))
    await dispatcher.flush()
    await logs.waitFor('a touchpoint hook threw')
    await until(() => logs.lines.filter((l) => l.msg === 'a touchpoint hook threw').length === 2, 'two hook lines')
    expect(dispatcher.stats()).toMatchObject({ sent: 1, failed: 1 })
  })

  test('stop(): cancels the pause and the requests, reports each as shutdown', async () => {
    fake.setDefaultReply({ hang: true })
    setup({ concurrency: 2 })
    for (let i = 0; i < 5; i++) void dispatcher.submit(touchpoint(`a-${i}`, i))
    await fake.waitForRequests(2)
    expect((await dispatcher.stop()).abandoned).toBe(5)
    expect(clock.pending().count).toBe(0)
    await dispatcher.flush()
    expect(dispatcher.stats()).toMatchObject({ inFlight: 0, queued: 0, dropped: { shutdown: 5 } })
    expect(events.filter((e) => e.event.reason === 'shutdown')).toHaveLength(5)
    void dispatcher.submit(touchpoint('after'))
    expect(dispatcher.stats().dropped.closed).toBe(1)
  })
})

describe('pump with an injected client that rejects', () => {
  test('a rejection is a retryable network error, never an unhandled rejection', async () => {
    const logs = captureLogs()
    const clock = new ManualClock()
    let calls = 0
    const dispatcher = createDelivery(
      { ...BASE, retry: { ...BASE.retry, maxAttempts: 2 } },
      {
        send: () =>
          ++calls === 1 ? Promise.reject(new Error('client bug')) : Promise.resolve({ kind: 'response', status: 204 }),
        logger: logs.logger,
        clock,
        random: () => 0.5,
      },
    )
    void dispatcher.submit(touchpoint('r-1'))
    await until(() => dispatcher.stats().state === 'paused', 'pause')
    clock.advance(clock.pending().nextInMs ?? 0)
    await dispatcher.flush()
    expect(calls).toBe(2)
    expect(dispatcher.stats()).toMatchObject({ sent: 1, retried: 1 })
    expect((await logs.waitFor('deliveries paused')).error).toBe('ERR_CLIENT')
  })
})

describe("pump with concurrency 'auto' against a slow API (real clock)", () => {
  test('a backlog against a 300 ms API raises the requests in flight above 8, within maxConcurrency', async () => {
    const fake = await startFakeTransactionaleApi({ latencyMs: 300 })
    const logs = captureLogs()
    const client = createHttpClient({
      endpoint: fake.endpoint,
      apiKey: 'k',
      timeoutMs: 5000,
      userAgent: 't',
      maxSockets: 64,
    })
    const delivery = createDelivery(
      { ...BASE, concurrency: 'auto', maxConcurrency: 40 },
      { send: client.send, logger: logs.logger, clock: systemClock },
    )
    try {
      for (let i = 0; i < 150; i++) void delivery.submit(touchpoint(`slow-${i}`, i))
      await delivery.flush()
      expect(delivery.stats()).toMatchObject({ sent: 150, failed: 0 })
      expect(fake.maxInFlightSeen).toBeGreaterThan(8)
      expect(fake.maxInFlightSeen).toBeLessThanOrEqual(40)
      expect(logs.lines.some((l) => l.msg === 'concurrency limit changed')).toBe(true)
    } finally {
      await delivery.stop()
      client.destroy()
      await fake.close()
    }
  })
})
