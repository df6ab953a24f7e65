// express-transactionale/metrics end to end: a real Express app (4 and 5) with the middleware, the fake
// API and a fresh prom-client Registry, scraped in the real text format through the app's /metrics.
// Against both majors the peer range accepts: prom-client 15, and 14 (the `prom-client-14` alias),
// each injected through registerMetrics' `load`, the seam a shop's own copy goes through.
import { createRequire } from 'node:module'
import * as promClient15 from 'prom-client'
import { Registry, type OpenMetricsContentType } from 'prom-client'
import request from 'supertest'
import { OBSERVE, transactionaleTouchpoint, TouchpointConfigError, type TouchpointMiddleware } from '../src'
import { registerMetrics, type MeasuredTouchpoint, type MetricsOptions } from '../src/metrics'
import type { PromClient } from '../src/metrics/prom-client'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { createShop, EXPRESS_VERSIONS, type ExpressFactory } from './helpers/shop'

const API_KEY = 'trx-key-metrics-7f3a'
const customer = (orderId: string): Record<string, string> => ({
  email: `buyer-${orderId}@example.org`,
  firstName: 'Ada',
  country: 'DE',
  orderId,
})

/** One scrape in the Prometheus text format: `# TYPE` and `# HELP` per name, and every sample. */
interface Scrape {
  readonly text: string
  readonly types: ReadonlyMap<string, string>
  readonly helps: ReadonlyMap<string, string>
  /** `name{labels}` exactly as written → value. */
  readonly samples: ReadonlyMap<string, number>
}

function parse(text: string): Scrape {
  const types = new Map<string, string>()
  const helps = new Map<string, string>()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line === '# EOF') continue
    const comment = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line)
    if (comment) {
      const [, kind, name = '', rest = ''] = comment
      ;(kind === 'TYPE' ? types : helps).set(name, rest)
      continue
    }
    const sample = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (!sample) throw new Error(`not a sample line: ${line}`)
    samples.set(sample[1] ?? '', Number(sample[2]))
  }
  return { text, types, helps, samples }
}

/** The value of one sample; fails the test when the series is missing. */
function value(scrape: Scrape, series: string): number {
  const v = scrape.samples.get(series)
  if (v === undefined) throw new Error(`no series ${series} in the scrape:\n${scrape.text}`)
  return v
}

/** The README's /metrics route. */
function serveMetrics(app: ReturnType<typeof createShop>, register: Registry): void {
  app.get('/metrics', async (_req, res) => {
    res.type(register.contentType).send(await register.metrics())
  })
}

const PROM_CLIENTS: ReadonlyArray<[string, PromClient]> = [
  ['prom-client 15', promClient15],
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- an npm alias, typed as the module it stands for
  ['prom-client 14', require('prom-client-14') as PromClient],
]

describe.each(PROM_CLIENTS)('with %s', (promClientName, prom) => {
  /** registerMetrics with this prom-client: the one a shop's require would find. */
  const measure = (target: MeasuredTouchpoint, options?: MetricsOptions) =>
    registerMetrics(target, options, { load: () => prom })
  /** Tests of what only prom-client 15 has (OpenMetrics), or that do not depend on the version. */
  // Defined once, under prom-client 15 (not skipped under 14: CI runs no skipped tests).
  const on15 = (name: string, fn: jest.ProvidesCallback): void => {
    if (promClientName === 'prom-client 15') test(name, fn)
  }

  test('issue 18: this is the major it claims, and the peer range of package.json accepts it', () => {
    const major = promClientName.slice(-2)
    const manifest = (name: string): { version: string } =>
      createRequire(__filename)(`${name}/package.json`) as { version: string }
    const installed = manifest(major === '14' ? 'prom-client-14' : 'prom-client').version
    expect(installed.split('.')[0]).toBe(major)
    const own = createRequire(__filename)('../package.json') as { peerDependencies: Record<string, string> }
    expect(own.peerDependencies['prom-client']?.split(' || ')).toContain(`^${major}.0.0`)
  })

  describe.each(EXPRESS_VERSIONS)('metrics of a shop on %s', (_version, expressFactory: ExpressFactory) => {
    let fake: FakeTransactionaleApi
    let logs: LogCapture
    let touchpoint: TouchpointMiddleware
    let register: Registry

    beforeEach(async () => {
      fake = await startFakeTransactionaleApi({ apiKey: API_KEY })
      logs = captureLogs()
      register = new prom.Registry()
      touchpoint = transactionaleTouchpoint({
        apiKey: API_KEY,
        route: '/checkout',
        endpoint: fake.endpoint,
        logger: logs.logger,
        retry: { baseDelayMs: 1, maxDelayMs: 2 },
      })
    })

    afterEach(async () => {
      await touchpoint.close({ timeoutMs: 0 })
      await fake.close()
    })

    const scrape = async (app: ReturnType<typeof createShop>): Promise<Scrape> => {
      const res = await request(app)
        .get('/metrics')
        .expect(200)
        // Express's send() reorders the parameters; Prometheus reads them in any order.
        .expect('Content-Type', /^text\/plain;.*version=0\.0\.4/)
      return parse(res.text)
    }

    /** Five orders: delivered, invalid, a final 400, a 503 then delivered, a declined payment. */
    const placeOrders = async (app: ReturnType<typeof createShop>, round = 1): Promise<void> => {
      const id = (n: number): string => `M-${round}${n}`
      await request(app)
        .post('/checkout')
        .send({ customer: customer(id(1)) })
        .expect(201)
      await request(app)
        .post('/checkout')
        .send({ customer: { ...customer(id(2)), email: 'not an email' } })
        .expect(201)
      await touchpoint.flush()
      fake.script({ status: 400 })
      await request(app)
        .post('/checkout')
        .send({ customer: customer(id(3)) })
        .expect(201)
      await touchpoint.flush()
      fake.script({ status: 503 })
      await request(app)
        .post('/checkout')
        .send({ customer: customer(id(4)) })
        .expect(201)
      await touchpoint.flush()
      await request(app)
        .post('/checkout')
        .send({ customer: customer(id(5)), decline: true })
        .expect(402)
      await touchpoint.flush()
    }

    test('a scrape shows the ledger, the gauges and the attempt histograms in the text format', async () => {
      const app = createShop(expressFactory, touchpoint)
      measure(touchpoint, { register })
      serveMetrics(app, register)
      await placeOrders(app)

      const stats = touchpoint.stats()
      expect(stats).toMatchObject({ received: 5, sent: 2, failed: 1, invalid: 1, retried: 1, skipped: { status: 1 } })
      expect(fake.requests).toHaveLength(4)
      const s = await scrape(app)

      expect(Object.fromEntries(s.types)).toEqual({
        transactionale_touchpoints_total: 'counter',
        transactionale_touchpoints_skipped_total: 'counter',
        transactionale_touchpoints_dropped_total: 'counter',
        transactionale_touchpoints_received_total: 'counter',
        transactionale_attempts_retried_total: 'counter',
        transactionale_queued: 'gauge',
        transactionale_in_flight: 'gauge',
        transactionale_concurrency_limit: 'gauge',
        transactionale_outage_state: 'gauge',
        transactionale_store_waiting: 'gauge',
        transactionale_dead_letters: 'gauge',
        transactionale_attempt_duration_seconds: 'histogram',
        transactionale_order_to_delivered_seconds: 'histogram',
      })

      // One series per ledger outcome, each equal to stats().
      const outcomes = {
        skipped: stats.skipped.total,
        invalid: stats.invalid,
        deduped: stats.deduped,
        sent: stats.sent,
        failed: stats.failed,
        dropped: stats.dropped.total,
        dry_run: stats.dryRun,
      }
      for (const [outcome, count] of Object.entries(outcomes))
        expect([outcome, value(s, `transactionale_touchpoints_total{outcome="${outcome}"}`)]).toEqual([outcome, count])
      expect([...s.samples.keys()].filter((k) => k.startsWith('transactionale_touchpoints_total{'))).toHaveLength(7)
      expect(value(s, 'transactionale_touchpoints_skipped_total{reason="status"}')).toBe(1)
      expect(value(s, 'transactionale_touchpoints_skipped_total{reason="no_customer"}')).toBe(0)
      // One series per drop reason of the ledger, each equal to stats().
      const { total: _dropped, ...dropReasons } = stats.dropped
      expect(Object.keys(dropReasons)).toEqual(
        expect.arrayContaining(['queue_full', 'closed', 'shutdown', 'store_error']),
      )
      for (const [reason, count] of Object.entries(dropReasons))
        expect([reason, value(s, `transactionale_touchpoints_dropped_total{reason="${reason}"}`)]).toEqual([
          reason,
          count,
        ])
      expect(
        [...s.samples.keys()].filter((k) => k.startsWith('transactionale_touchpoints_dropped_total{')),
      ).toHaveLength(Object.keys(dropReasons).length)
      expect(value(s, 'transactionale_touchpoints_received_total')).toBe(stats.received)
      expect(value(s, 'transactionale_attempts_retried_total')).toBe(stats.retried)

      // The ledger equation, in metrics: nothing is pending, so the outcomes add up to what was received.
      const settled = Object.keys(outcomes)
        .map((o) => value(s, `transactionale_touchpoints_total{outcome="${o}"}`))
        .reduce((a, b) => a + b)
      expect(settled).toBe(value(s, 'transactionale_touchpoints_received_total'))

      expect(value(s, 'transactionale_queued')).toBe(0)
      expect(value(s, 'transactionale_in_flight')).toBe(0)
      expect(value(s, 'transactionale_concurrency_limit')).toBe(stats.limit)
      expect(stats.limit).toBeGreaterThan(0)
      expect(stats.state).toBe('open')
      expect(value(s, 'transactionale_outage_state{state="open"}')).toBe(1)
      expect(value(s, 'transactionale_outage_state{state="paused"}')).toBe(0)
      expect(value(s, 'transactionale_outage_state{state="probing"}')).toBe(0)
      expect(value(s, 'transactionale_store_waiting')).toBe(stats.store.waiting)
      expect(value(s, 'transactionale_dead_letters')).toBe(stats.store.deadLetters)

      // One observation per HTTP request the fake received, labelled by verdict.
      const attempts = (verdict: string): number =>
        value(s, `transactionale_attempt_duration_seconds_count{verdict="${verdict}"}`)
      expect(attempts('delivered') + attempts('retry') + attempts('final')).toBe(fake.requests.length)
      expect({ delivered: attempts('delivered'), retry: attempts('retry'), final: attempts('final') }).toEqual({
        delivered: 2,
        retry: 1,
        final: 1,
      })
      expect(value(s, 'transactionale_attempt_duration_seconds_bucket{le="+Inf",verdict="delivered"}')).toBe(2)
      // Seconds, not milliseconds: four loopback requests take well under 10 s in total.
      const sum = (['delivered', 'retry', 'final'] as const)
        .map((v) => value(s, `transactionale_attempt_duration_seconds_sum{verdict="${v}"}`))
        .reduce((a, b) => a + b)
      expect(sum).toBeGreaterThan(0)
      expect(sum).toBeLessThan(10)
      expect(value(s, 'transactionale_order_to_delivered_seconds_count')).toBe(stats.sent)
      expect(value(s, 'transactionale_order_to_delivered_seconds_bucket{le="3600"}')).toBe(stats.sent)
      expect(value(s, 'transactionale_order_to_delivered_seconds_sum')).toBeLessThan(10)

      // Neither the key nor customer data ever reach the scrape.
      expect(s.text).not.toContain(API_KEY)
      expect(s.text).not.toContain('example.org')
      expect(s.text).not.toMatch(/M-\d/)
      if (process.env.PRINT_SCRAPE) process.stdout.write(s.text)
    })

    test('every name follows the Prometheus conventions', async () => {
      const app = createShop(expressFactory, touchpoint)
      measure(touchpoint, { register })
      serveMetrics(app, register)
      await placeOrders(app)
      const s = await scrape(app)

      expect(s.types.size).toBe(13)
      for (const [name, type] of s.types) {
        expect(name).toMatch(/^[a-z_:][a-z0-9_:]*$/)
        expect(name).not.toMatch(/:/) // colons are for recording rules
        expect(name.startsWith('transactionale_')).toBe(true)
        expect(s.helps.get(name)).toMatch(/\S/)
        // Base units only: no milliseconds, and the unit before the `_total` suffix.
        expect(name).not.toMatch(/_(ms|milliseconds|millis|minutes|hours)(_|$)/)
        if (type === 'counter') expect(name).toMatch(/_total$/)
        else expect(name).not.toMatch(/_total$/)
        // Every histogram here measures time.
        if (type === 'histogram') expect(name).toMatch(/_seconds$/)
      }
      for (const series of s.samples.keys()) {
        const labels = /\{(.*)\}/.exec(series)?.[1]
        for (const pair of labels?.split(',') ?? []) {
          // Label names snake_case; values from a small fixed set (no ids, no customer data).
          expect(pair).toMatch(/^[a-z_][a-z0-9_]*="(?:[a-z0-9_.]+|\+Inf)"$/)
          expect(pair).not.toMatch(/^__/)
        }
      }
    })

    test('scraping again never lowers a counter, even after register.resetMetrics()', async () => {
      const app = createShop(expressFactory, touchpoint)
      measure(touchpoint, { register })
      serveMetrics(app, register)
      await placeOrders(app)
      const first = await scrape(app)
      await placeOrders(app, 2)
      const second = await scrape(app)
      register.resetMetrics()
      const third = await scrape(app)

      const counters = [...first.types].filter(([, type]) => type === 'counter').map(([name]) => name)
      let compared = 0
      for (const [series, before] of first.samples) {
        if (!counters.some((c) => series === c || series.startsWith(`${c}{`))) continue
        expect([series, value(second, series)]).toEqual([series, expect.any(Number)])
        expect([series, value(second, series) >= before]).toEqual([series, true])
        // The ledger, not prom-client's memory, is the source: a reset cannot lower it.
        expect([series, value(third, series)]).toEqual([series, value(second, series)])
        compared++
      }
      const dropReasons = Object.keys(touchpoint.stats().dropped).length - 1
      expect(compared).toBe(7 + 2 + dropReasons + 1 + 1)
      expect(value(second, 'transactionale_touchpoints_total{outcome="sent"}')).toBe(4)
      // The histograms' counts grew with the new attempts too.
      expect(value(second, 'transactionale_attempt_duration_seconds_count{verdict="delivered"}')).toBe(4)
    })

    test('during an outage: paused, limit 0, queued; at close, the abandoned ones are dropped as shutdown', async () => {
      // Long pauses this time, so the outage lasts until the scrape.
      await touchpoint.close({ timeoutMs: 0 })
      touchpoint = transactionaleTouchpoint({
        apiKey: API_KEY,
        route: '/checkout',
        endpoint: fake.endpoint,
        logger: logs.logger,
        retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      })
      const app = createShop(expressFactory, touchpoint)
      measure(touchpoint, { register })
      serveMetrics(app, register)
      fake.setDefaultReply({ status: 503 })
      await request(app)
        .post('/checkout')
        .send({ customer: customer('O-1') })
        .expect(201)
      await logs.waitFor('deliveries paused')
      await request(app)
        .post('/checkout')
        .send({ customer: customer('O-2') })
        .expect(201)

      const s = await scrape(app)
      expect(value(s, 'transactionale_outage_state{state="paused"}')).toBe(1)
      expect(value(s, 'transactionale_outage_state{state="open"}')).toBe(0)
      expect(value(s, 'transactionale_concurrency_limit')).toBe(0)
      expect(value(s, 'transactionale_queued')).toBe(touchpoint.stats().queued)
      expect(value(s, 'transactionale_queued')).toBe(2)
      expect(value(s, 'transactionale_attempts_retried_total')).toBe(1)
      expect(value(s, 'transactionale_attempt_duration_seconds_count{verdict="retry"}')).toBe(1)

      await touchpoint.close({ timeoutMs: 0 })
      const after = parse(await register.metrics())
      expect(value(after, 'transactionale_touchpoints_dropped_total{reason="shutdown"}')).toBe(2)
      expect(value(after, 'transactionale_touchpoints_total{outcome="dropped"}')).toBe(2)
      expect(value(after, 'transactionale_queued')).toBe(0)
    })
  })

  describe('registerMetrics', () => {
    let fake: FakeTransactionaleApi
    let touchpoint: TouchpointMiddleware

    beforeEach(async () => {
      fake = await startFakeTransactionaleApi()
      touchpoint = transactionaleTouchpoint({
        apiKey: API_KEY,
        route: '/checkout',
        endpoint: fake.endpoint,
        logger: captureLogs().logger,
      })
    })

    afterEach(async () => {
      await touchpoint.close({ timeoutMs: 0 })
      await fake.close()
    })

    const configError = (fn: () => unknown): TouchpointConfigError => {
      try {
        fn()
      } catch (error) {
        expect(error).toBeInstanceOf(TouchpointConfigError)
        return error as TouchpointConfigError
      }
      throw new Error('expected a TouchpointConfigError')
    }

    const sendOne = async (): Promise<void> => {
      const app = createShop(EXPRESS_VERSIONS[1]![1], touchpoint)
      await request(app)
        .post('/checkout')
        .send({ customer: customer(`U-${fake.requests.length}`) })
        .expect(201)
      await touchpoint.flush()
    }

    test('unregister() removes only its metrics and stops observing; a second call does nothing', async () => {
      const register = new prom.Registry()
      const mine = new prom.Counter({ name: 'shop_orders_total', help: 'Orders.', registers: [register] })
      const metrics = measure(touchpoint, { register })
      expect(register.getMetricsAsArray()).toHaveLength(14)
      await sendOne()
      metrics.unregister()
      metrics.unregister()
      expect(register.getMetricsAsArray()).toEqual([mine])
      expect(await register.metrics()).not.toContain('transactionale_')

      // Registering again works, and the detached histograms saw nothing more.
      const again = measure(touchpoint, { register })
      await sendOne()
      const s = parse(await register.metrics())
      expect(value(s, 'transactionale_attempt_duration_seconds_count{verdict="delivered"}')).toBe(1)
      expect(value(s, 'transactionale_touchpoints_total{outcome="sent"}')).toBe(2)
      again.unregister()
    })

    test('twice on one registry: a clear error, and the registry keeps the first set', async () => {
      const register = new prom.Registry()
      const first = measure(touchpoint, { register })
      const error = configError(() => measure(touchpoint, { register }))
      expect(error.code).toBe('ERR_TOUCHPOINT_METRICS')
      expect(error.problems[0]?.option).toBe('metrics.register')
      expect(error.message).toContain('"transactionale_touchpoints_total"')
      expect(error.message).toContain('unregister()')
      expect(error.message).toContain('prefix')
      expect(register.getMetricsAsArray()).toHaveLength(13)
      await sendOne()
      // Only the first set observes: one attempt, counted once.
      expect(
        value(parse(await register.metrics()), 'transactionale_attempt_duration_seconds_count{verdict="delivered"}'),
      ).toBe(1)

      // A second middleware goes into the same registry under another prefix.
      const other = measure(touchpoint, { register, prefix: 'eu_shop_' })
      expect(register.getSingleMetric('eu_shop_touchpoints_total')).toBeDefined()
      other.unregister()
      first.unregister()
      expect(register.getMetricsAsArray()).toHaveLength(0)
    })

    on15('defaults to the global register and the transactionale_ prefix', () => {
      // registerMetrics requires prom-client with Node's own require, as it does in a shop; Jest's
      // module registry holds another instance, so take the global register from Node's.
      const globalRegister = (createRequire(__filename)('prom-client') as { register: Registry }).register
      const metrics = registerMetrics(touchpoint)
      try {
        expect(globalRegister.getSingleMetric('transactionale_touchpoints_total')).toBeDefined()
        expect(globalRegister.getSingleMetric('transactionale_order_to_delivered_seconds')).toBeDefined()
      } finally {
        metrics.unregister()
      }
      expect(globalRegister.getSingleMetric('transactionale_touchpoints_total')).toBeUndefined()
    })

    on15(
      'an OpenMetrics registry gets OpenMetrics counters (no _total_total), and unregister still works',
      async () => {
        const register = new prom.Registry<OpenMetricsContentType>()
        register.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
        const metrics = measure(touchpoint, { register })
        await sendOne()
        const text = await register.metrics()
        expect(text).toContain('# TYPE transactionale_touchpoints counter\n')
        expect(text).toContain('transactionale_touchpoints_total{outcome="sent"} 1\n')
        expect(text).not.toContain('_total_total')
        expect(text.endsWith('# EOF\n')).toBe(true)
        metrics.unregister()
        expect(register.getMetricsAsArray()).toHaveLength(0)
      },
    )

    test('when stats() fails, a scrape serves the last snapshot instead of failing', async () => {
      const register = new prom.Registry()
      let broken = false
      const flaky: MeasuredTouchpoint = {
        stats: () => {
          if (broken) throw new Error('store unreadable')
          return touchpoint.stats()
        },
        [OBSERVE]: (observer) => touchpoint[OBSERVE](observer),
      }
      measure(flaky, { register })
      await sendOne()
      expect(value(parse(await register.metrics()), 'transactionale_touchpoints_total{outcome="sent"}')).toBe(1)
      broken = true
      await sendOne()
      expect(value(parse(await register.metrics()), 'transactionale_touchpoints_total{outcome="sent"}')).toBe(1)
      broken = false
      expect(value(parse(await register.metrics()), 'transactionale_touchpoints_total{outcome="sent"}')).toBe(2)
    })

    on15('without prom-client: ERR_TOUCHPOINT_METRICS saying how to install it', () => {
      // A real failed require of a module that is not installed.
      const load = (): unknown => createRequire(__filename)('prom-client-is-not-installed-here')
      const error = configError(() => registerMetrics(touchpoint, {}, { load }))
      expect(error.code).toBe('ERR_TOUCHPOINT_METRICS')
      expect(error.problems).toHaveLength(1)
      expect(error.problems[0]).toMatchObject({ option: 'metrics', code: 'ERR_TOUCHPOINT_METRICS' })
      expect(error.problems[0]?.message).toContain('run `npm install prom-client`')
      expect(error.message).toContain('optional peer dependency')
    })

    on15('a prom-client that fails to load or is not prom-client: ERR_TOUCHPOINT_METRICS', () => {
      const broken = configError(() =>
        registerMetrics(
          touchpoint,
          {},
          {
            load: () => {
              throw new SyntaxError('Unexpected token')
            },
          },
        ),
      )
      expect(broken.code).toBe('ERR_TOUCHPOINT_METRICS')
      expect(broken.message).toContain('could not load prom-client (Unexpected token)')
      const wrong = configError(() => registerMetrics(touchpoint, {}, { load: () => ({}) }))
      expect(wrong.message).toContain('npm install prom-client@^15')
    })

    // `undefined` as the target: the middleware of beforeEach.
    test.each<[string, unknown, Record<string, unknown> | string, string, string]>([
      ['not a middleware', () => undefined, {}, 'metrics.touchpoint', 'transactionaleTouchpoint() returned'],
      ['options not an object', undefined, 'transactionale_', 'metrics', '{ register, prefix }'],
      ['an unknown option', undefined, { registry: 1 }, 'metrics', 'unknown option "registry"'],
      ['a register that is not a Registry', undefined, { register: {} }, 'metrics.register', 'new Registry()'],
      ['an upper-case prefix', undefined, { prefix: 'Shop_' }, 'metrics.prefix', 'lower-case snake_case'],
      ['a prefix without a trailing _', undefined, { prefix: 'shop' }, 'metrics.prefix', 'ending in "_"'],
      ['a prefix with a colon', undefined, { prefix: 'shop:' }, 'metrics.prefix', 'snake_case'],
    ])('%s: ERR_TOUCHPOINT_METRICS naming the argument and the fix', (_case, target, options, option, fix) => {
      const register = new prom.Registry()
      const withRegister = typeof options === 'string' ? options : { register, ...options }
      const error = configError(() =>
        measure((target ?? touchpoint) as MeasuredTouchpoint, withRegister as MetricsOptions),
      )
      expect(error.code).toBe('ERR_TOUCHPOINT_METRICS')
      expect(error.problems[0]?.option).toBe(option)
      expect(error.message).toContain(fix)
      expect(register.getMetricsAsArray()).toHaveLength(0)
    })
  })
})
