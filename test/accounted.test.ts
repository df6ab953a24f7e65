// Issue "every order accounted for": each numbered item, end to end through Express 4 and 5 with a
// real local fake API. Every test here failed on the code before the outcome ledger.
import { createHash, createHmac } from 'node:crypto'
import { execFile } from 'node:child_process'
import path from 'node:path'
import request from 'supertest'
import {
  transactionaleTouchpoint,
  TouchpointConfigError,
  type Hooks,
  type Options,
  type TouchpointMiddleware,
} from '../src'
import { clampDelay, MAX_TIMER_MS } from '../src/types'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { accounted } from './helpers/accounted'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { ManualClock, until } from './helpers/manual-clock'
import { EXPRESS_VERSIONS, type ExpressFactory } from './helpers/shop'

const API_KEY = 'trx-key-accounted'

const customer = (orderId: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  email: `buyer-${String(orderId).slice(0, 20)}@example.org`,
  firstName: 'Bea',
  country: 'FR',
  orderId,
  ...extra,
})

describe.each(EXPRESS_VERSIONS)('every order accounted for, on %s', (_version, expressFactory: ExpressFactory) => {
  let fake: FakeTransactionaleApi
  let logs: LogCapture
  let touchpoint: TouchpointMiddleware
  let events: string[]
  let mapperResult: () => unknown

  const hooks: Hooks = {
    onSent: (e) => void events.push(`sent:${e.orderId}`),
    onFailed: (e) => void events.push(`failed:${e.orderId}`),
    onDropped: (e) => void events.push(`dropped:${e.reason}`),
    onInvalid: (e) => void events.push(`invalid:${e.stage}:${e.reasons.join('|')}`),
    onSkipped: (e) => void events.push(`skipped:${e.reason}`),
  }

  /** A shop whose order route answers `status` (a redirect for 3xx) and whose mapper returns `mapperResult()`. */
  const shop = (options: Partial<Options> = {}, deps = {}) => {
    touchpoint = transactionaleTouchpoint(
      {
        apiKey: API_KEY,
        route: '/checkout',
        endpoint: fake.endpoint,
        logger: logs.logger,
        hooks,
        mapper: () => mapperResult() as never,
        ...options,
      },
      deps,
    )
    const app = expressFactory()
    app.use(touchpoint)
    app.post('/checkout', (req, res) => {
      const status = Number(req.query.status ?? 201)
      if (status >= 300 && status < 400) return void res.redirect(status, '/thank-you')
      res.status(status).json({ ok: true })
    })
    return app
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: API_KEY })
    logs = captureLogs()
    events = []
    mapperResult = () => customer('A-1')
  })

  afterEach(async () => {
    await touchpoint.close({ timeoutMs: 1000 })
    await fake.close()
    const s = touchpoint.stats()
    expect(accounted(s)).toBe(s.received)
    expect(logs.text()).not.toContain(API_KEY)
    expect(logs.text()).not.toContain('@example.org')
  })

  test('item 1: a mapper rejecting with an error whose getter throws crashes nothing and is counted', async () => {
    class DbError extends Error {
      get code(): string {
        throw this
      }
    }
    mapperResult = () => Promise.reject(new DbError('connection lost for mario@example.org'))
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 1, invalid: 1 })
    expect(events).toEqual(['invalid:mapper:mapper: DbError'])
    expect(fake.requests).toHaveLength(0)
  })

  test('item 1: throwing hooks, a throwing isSuccess and a logger that throws break nothing', async () => {
    const throwingLogger = captureLogs().logger
    throwingLogger.warn = () => {
      throw new Error('log destination gone')
    }
    throwingLogger.debug = throwingLogger.warn
    const app = shop({
      logger: throwingLogger,
      hooks: {
        onSent: () => {
          throw new Error('hook')
        },
        onSkipped: () => Promise.reject(new Error('async hook')),
      },
      isSuccess: (s) => {
        if (s === 202) throw new Error('isSuccess bug')
        return s === 201
      },
    })
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout?status=202').expect(202)
    await request(app).post('/checkout?status=400').expect(400)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 3, sent: 1, invalid: 1, skipped: { total: 1, status: 1 } })
  })

  test('item 2: a customer with a throwing getter and an isSuccess that throws each end in one outcome, with its hook', async () => {
    mapperResult = () =>
      Object.defineProperty(customer('lazy-1'), 'email', {
        enumerable: true,
        get() {
          throw new Error('lazy field not loaded')
        },
      })
    const app = shop({
      isSuccess: (s) => {
        if (s === 299) throw new Error('bug')
        return s >= 200 && s < 300
      },
    })
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout?status=299').expect(299)
    await touchpoint.flush()
    const s = touchpoint.stats()
    expect(s).toMatchObject({ received: 2, invalid: 2, sent: 0 })
    expect(accounted(s)).toBe(2)
    expect(events.sort()).toEqual(['invalid:isSuccess:isSuccess: Error', 'invalid:validation:email: could not be read'])
  })

  test('item 2: dryRun is its own outcome: not sent, no onSent', async () => {
    const app = shop({ dryRun: true })
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 1, dryRun: 1, sent: 0 })
    expect(events).toEqual([])
    expect(fake.requests).toHaveLength(0)
  })

  test('item 3: a mapper that never settles is invalid after mapperTimeoutMs; flush() ends; a late result is ignored', async () => {
    const clock = new ManualClock()
    let lateResolve: (value: unknown) => void = () => undefined
    mapperResult = () => new Promise((resolve) => (lateResolve = resolve))
    const app = shop({ mapperTimeoutMs: 5000 }, { clock })
    await request(app).post('/checkout').expect(201)
    await until(() => clock.pending().count === 1, 'the mapper deadline')
    expect(touchpoint.stats()).toMatchObject({ mapping: 1 })
    let flushed = false
    const flushing = touchpoint.flush().then(() => (flushed = true))
    clock.advance(4999)
    await new Promise((resolve) => setImmediate(resolve))
    expect(flushed).toBe(false)
    clock.advance(1)
    await flushing
    expect(touchpoint.stats()).toMatchObject({ received: 1, invalid: 1, mapping: 0 })
    expect(events).toEqual(['invalid:mapper:mapper: timeout'])
    lateResolve(customer('late'))
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(0)
    expect(touchpoint.stats().sent).toBe(0)
  })

  test('item 5: close({ timeoutMs: 2 ** 31 }) waits for what is pending instead of giving up at once', async () => {
    fake.setDefaultReply({ status: 200, delayMs: 200 })
    const app = shop()
    for (let i = 0; i < 5; i++) await request(app).post('/checkout').expect(201)
    const summary = await touchpoint.close({ timeoutMs: 2 ** 31 })
    expect(summary).toEqual({ sent: 5 - touchpoint.stats().deduped, failed: 0, dropped: 0, pending: 0, persisted: 0 })
  })

  test('item 5: Retry-After: 0 still pauses for retry.baseDelayMs', async () => {
    const clock = new ManualClock()
    fake.script({ status: 429, headers: { 'Retry-After': '0' } })
    const app = shop({ retry: { baseDelayMs: 700, maxDelayMs: 30_000 } }, { clock, random: () => 0.5 })
    await request(app).post('/checkout').expect(201)
    await until(() => touchpoint.stats().state === 'paused', 'pause')
    expect(clock.pending().nextInMs).toBe(700)
    clock.advance(700)
    await touchpoint.flush()
    expect(fake.requests).toHaveLength(2)
  })

  test('item 6, issue 18: control or format characters in a first name make the order invalid; a last name with them is left out', async () => {
    mapperResult = () => customer('nul-1', { firstName: 'Ma\u0000rio' })
    const app = shop()
    await request(app).post('/checkout').expect(201)
    mapperResult = () => customer('bidi-1', { firstName: '\u202eMa\u200brio' })
    await request(app).post('/checkout').expect(201)
    mapperResult = () => customer('bel-1', { firstName: 'Mario', lastName: 'Ros\u0007si' })
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 3, invalid: 2, sent: 1 })
    expect(fake.requests).toHaveLength(1)
    const body = fake.requests[0]?.body as Record<string, unknown>
    expect(body.first_name).toBe('Mario')
    expect(body).not.toHaveProperty('last_name')
  })

  test('item 7: a long orderId still deduplicates; an object orderId is named in a warning', async () => {
    const long = 'L'.repeat(300)
    mapperResult = () => customer(long)
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout').expect(201)
    mapperResult = () => customer({ id: 7 }, { email: 'object-id@example.org' })
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ received: 3, sent: 2, deduped: 1 })
    const warning = await logs.waitFor('without invalid optional fields')
    expect(warning.dropped).toEqual(['orderId'])
    expect(events.filter((e) => e.startsWith('sent:'))[0]).toBe(`sent:${long}`)
  })

  test("item 7: dedupe.key 'email' sends one touchpoint per customer per window; a function key works too", async () => {
    let n = 0
    mapperResult = () => ({ ...customer(`order-${++n}`), email: 'same@example.org' })
    const app = shop({ dedupe: { key: 'email' } })
    await request(app).post('/checkout').expect(201)
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ sent: 1, deduped: 1 })
    await touchpoint.close()

    const byZip = shop({ dedupe: { key: (c) => c.zipCode } })
    mapperResult = () => customer(`z-${++n}`, { zipCode: '00100' })
    await request(byZip).post('/checkout').expect(201)
    await request(byZip).post('/checkout').expect(201)
    mapperResult = () => customer(`z-${++n}`) // no zip: the function gives undefined, no dedupe
    await request(byZip).post('/checkout').expect(201)
    await request(byZip).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ sent: 3, deduped: 1 })
  })

  test('item 8: the first redirect on the order route logs one warning naming the route, status and fix', async () => {
    const app = shop()
    await request(app).post('/checkout?status=303').expect(303)
    await request(app).post('/checkout?status=303').expect(303)
    await touchpoint.flush()
    const warnings = logs.lines.filter((l) => l.msg.includes('redirect'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 40, path: '/checkout', status: 303 })
    expect(String(warnings[0]?.fix)).toContain('isSuccess')
    expect(touchpoint.stats()).toMatchObject({ skipped: { status: 2 } })
    await touchpoint.close()

    const prg = shop({ isSuccess: (s) => s >= 200 && s < 400 })
    await request(prg).post('/checkout?status=303').expect(303)
    await touchpoint.flush()
    expect(touchpoint.stats().sent).toBe(1)
  })

  test("item 9: with country 'US', an empty, null or unknown mapper country falls back, with a warning naming the field", async () => {
    const app = shop({ country: 'US' })
    for (const [i, country] of ['', null, 'Space', 'Atlantis'].entries()) {
      mapperResult = () => customer(`c-${i}`, { country })
      await request(app).post('/checkout').expect(201)
    }
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ sent: 4, invalid: 0 })
    expect(fake.requests.map((r) => (r.body as { country: string }).country)).toEqual(['US', 'US', 'US', 'US'])
    const warning = await logs.waitFor('taken from the country option')
    expect(warning.defaulted).toEqual(['country'])
    expect(logs.text()).not.toContain('Atlantis')
  })

  test('item 9: without a default, the reason says "not a known country or code"', async () => {
    mapperResult = () => customer('c-x', { country: 'Atlantis' })
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    expect(events).toEqual(['invalid:validation:country: not a known country or code'])
  })

  test('item 14: the email hash in logs is keyed with the API key, not a plain SHA-256', async () => {
    fake.script({ status: 400 })
    mapperResult = () => customer('h-1', { email: 'keyed@example.org' })
    const app = shop()
    await request(app).post('/checkout').expect(201)
    await touchpoint.flush()
    const line = await logs.waitFor('touchpoint not delivered')
    const keyed = createHmac('sha256', API_KEY).update('keyed@example.org').digest('hex').slice(0, 12)
    const plain = createHash('sha256').update('keyed@example.org').digest('hex').slice(0, 12)
    expect(line.emailHash).toBe(keyed)
    expect(line.emailHash).not.toBe(plain)
  })
})

describe('item 5: timers', () => {
  test('every delay is clamped to what Node can hold', () => {
    expect(clampDelay(2 ** 31)).toBe(MAX_TIMER_MS)
    expect(clampDelay(Infinity)).toBe(MAX_TIMER_MS)
    expect(clampDelay(-5)).toBe(0)
    expect(clampDelay(Number.NaN)).toBe(0)
    expect(clampDelay(1500)).toBe(1500)
  })
})

describe('item 11: loggers', () => {
  test('a winston-shaped logger is refused with a clear error; pino is accepted', () => {
    const winstonLike = {
      levels: { error: 0, warn: 1, info: 2, debug: 5 },
      level: 'info',
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: () => winstonLike,
      isLevelEnabled: () => true,
    }
    let thrown: unknown
    try {
      transactionaleTouchpoint({ apiKey: 'k', route: '/checkout', logger: winstonLike as never })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TouchpointConfigError)
    expect((thrown as TouchpointConfigError).code).toBe('ERR_TOUCHPOINT_LOGGER')
    expect((thrown as Error).message).toContain('winston')
    const ok = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout', logger: captureLogs().logger })
    return ok.close()
  })
})

describe('item 10: process.exit() with touchpoints pending', () => {
  test('logs one synchronous warning with the pending count and their order ids', async () => {
    const script = `
const { transactionaleTouchpoint } = require('./src')
const { startFakeTransactionaleApi } = require('./src/testing/fake-api')
const express = require('express')
const http = require('node:http')
startFakeTransactionaleApi({ defaultReply: { hang: true } }).then((fake) => {
  const touchpoint = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout', endpoint: fake.endpoint,
    queue: { concurrency: 1 } })
  const app = express()
  app.use(touchpoint)
  let n = 0
  app.post('/checkout', (req, res) => {
    res.locals.transactionale = { email: 'x' + n + '@example.org', firstName: 'X', country: 'IT', orderId: 'exit-' + n++ }
    res.json({ ok: true })
  })
  const server = app.listen(0, '127.0.0.1', async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise((done) => http.request({ port: server.address().port, method: 'POST', path: '/checkout' },
        (res) => { res.resume(); res.on('end', done) }).end())
    }
    const wait = setInterval(() => {
      if (touchpoint.stats().inFlight === 1 && touchpoint.stats().queued === 2) process.exit(0)
    }, 5)
  })
})
`
    const root = path.resolve(__dirname, '..')
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: root, timeout: 30_000 },
        (error, stdout) => (error ? reject(new Error(`child failed: ${error.message}`)) : resolve(stdout)),
      )
    })
    const line = output
      .split('\n')
      .filter((l) => l.includes('process exiting'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(line).toHaveLength(1)
    expect(line[0]).toMatchObject({ pending: 3, level: 40 })
    expect([...(line[0]?.orderIds as string[])].sort()).toEqual(['exit-0', 'exit-1', 'exit-2'])
    expect(output).not.toContain('@example.org')
  }, 40_000)
})
