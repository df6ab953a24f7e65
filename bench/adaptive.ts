/**
 * The adaptive-concurrency group of `npm run bench` (`npm run bench -- --only adaptive` runs it
 * alone): the scenarios of issue 11, each with `queue.concurrency: 'auto'` (maxConcurrency: the package's default)
 * and, beside it, a fixed 8 (the behaviour before). Every scenario gets its own fake API, shop and
 * load generator processes. The shop samples stats() (limit, in flight, queued, state) every
 * 250 ms and records the 'concurrency limit changed' debug lines; each order's email carries the
 * monotonic µs at which the shop confirmed it, so the fake API knows every touchpoint's order → API
 * latency (confirmation → arrival at the API, as the order → API row of the main table). An order
 * not delivered by the end of a run counts with the time it had waited so far (a lower bound): a
 * percentile that such an order could still move is reported as "≥". The checkout latency the load
 * generator sees is reported beside it, to tell a slow shop from a slow delivery.
 *
 * Latency scenarios with little shop CPU run 'auto' and fixed 8 side by side; the 500 orders/s one
 * runs them one after the other; the CPU scenario interleaves rounds and takes medians.
 */
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { DEFAULTS } from '../src/options'
import { ask, next, start } from './children'
import { nowUs, type ApiRecord, type DeliverySample, type FromChild, type ToChild } from './ipc'
import { median, percentile, spread } from './stats'
import { timeChart, type TimeSeries } from './svg'

type Concurrency = 'auto' | 8
type Delivery = Extract<FromChild, { type: 'delivery' }>

/** `queue.maxConcurrency` of the 'auto' shops: the package's default, or `--max-concurrency N`. */
let MAX_CONCURRENCY: number = DEFAULTS.queue.maxConcurrency

interface ApiSettings {
  latencyMs: number
  maxInFlight?: number
  retryAfterSeconds?: number
}

/** One shop with its own fake API and load generator. */
interface Session {
  concurrency: Concurrency
  api: ChildProcess
  shop: ChildProcess
  load: ChildProcess
  port: number
}

async function openSession(concurrency: Concurrency, settings: ApiSettings, trace = true): Promise<Session> {
  const api = start('adaptive-api-process', {
    BENCH_LATENCY_MS: String(settings.latencyMs),
    ...(settings.maxInFlight !== undefined ? { BENCH_MAX_IN_FLIGHT: String(settings.maxInFlight) } : {}),
    ...(settings.retryAfterSeconds !== undefined ? { BENCH_RETRY_AFTER_S: String(settings.retryAfterSeconds) } : {}),
  })
  const { endpoint = '' } = await next(api, 'ready')
  const shop = start('shop-process', {
    BENCH_VARIANT: 'ours',
    BENCH_ENDPOINT: endpoint,
    BENCH_CONCURRENCY: String(concurrency),
    BENCH_MAX_CONCURRENCY: String(MAX_CONCURRENCY),
    ...(trace ? { BENCH_TRACE_LIMIT: '1', BENCH_STAMP: '1' } : {}),
  })
  const { port } = await next(shop, 'ready')
  const load = start('load-process')
  await next(load, 'ready')
  if (trace) await ask(shop, { type: 'sample-delivery', everyMs: 250 }, 'ack')
  return { concurrency, api, shop, load, port }
}

async function closeSession(session: Session): Promise<void> {
  await Promise.all(
    [session.load, session.shop, session.api].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.send({ type: 'exit' } satisfies ToChild)
        }),
    ),
  )
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const delivery = (session: Session): Promise<Delivery> => ask(session.shop, { type: 'report-delivery' }, 'delivery')

/** What one run of a scenario left, in monotonic µs. */
interface Raw {
  concurrency: Concurrency
  t0: number
  tEnd: number
  tLoadEnd: number
  tUp?: number
  checkoutMs: number[]
  checkoutErrors: number
  /** The shop's CPU time over wall time while the load ran (1 = one core saturated). */
  shopCpuShare: number
  shop: Delivery
  records: ApiRecord[]
  maxInFlightSeen: number
}

interface Plan {
  rate: number
  /** Longest the load runs (s). */
  seconds: number
  api: ApiSettings
  /** The API is down from the start for this long (s), then back with `api.latencyMs`. */
  downSeconds?: number
  /** After the load, wait at most this long (s) for what is queued and in flight. */
  graceSeconds: number
}

/**
 * Runs one scenario for each session at once. With `downSeconds`, the load stops a few seconds
 * after the first session ('auto') has drained its backlog, or at `seconds`.
 */
async function run(plan: Plan, sessions: Session[]): Promise<Raw[]> {
  if (plan.downSeconds !== undefined) {
    for (const s of sessions) await ask(s.api, { type: 'api', action: 'down' }, 'ack')
  }
  for (const s of sessions) await ask(s.shop, { type: 'measure-start' }, 'ack')
  const t0 = nowUs()
  const loads = sessions.map((s) =>
    ask(
      s.load,
      {
        type: 'load',
        port: s.port,
        rate: plan.rate,
        seconds: plan.seconds,
        path: '/checkout',
        prefix: `o${s.concurrency}`,
      },
      'load-done',
    ),
  )
  let tUp: number | undefined
  if (plan.downSeconds !== undefined) {
    await sleep(plan.downSeconds * 1000)
    await Promise.all(sessions.map((s) => ask(s.api, { type: 'api', action: 'up' }, 'ack')))
    tUp = nowUs()
    const first = sessions[0]
    if (first !== undefined) void stopWhenDrained(first, sessions, tUp, loads)
  }
  const done = await Promise.all(loads)
  const tLoadEnd = nowUs()
  const cpu = await Promise.all(sessions.map((s) => ask(s.shop, { type: 'measure-stop' }, 'measured')))
  // Wait for what 'auto' still has queued or in flight, at most graceSeconds; a fixed 8 that has
  // fallen behind would take minutes, and is measured as it stands (its undelivered as lower bounds).
  const deadline = tLoadEnd + plan.graceSeconds * 1e6
  const pending = new Set(sessions.filter((s) => s.concurrency === 'auto'))
  while (pending.size > 0 && nowUs() < deadline) {
    for (const s of [...pending]) {
      const { counts } = await delivery(s)
      if (counts.queued === 0 && counts.inFlight === 0) pending.delete(s)
    }
    if (pending.size > 0) await sleep(250)
  }
  const tEnd = nowUs()
  return Promise.all(
    sessions.map(async (s, i) => {
      const shop = await delivery(s)
      const api = await ask(s.api, { type: 'report-touchpoints' }, 'touchpoints')
      return {
        concurrency: s.concurrency,
        t0,
        tEnd,
        tLoadEnd,
        ...(tUp !== undefined ? { tUp } : {}),
        checkoutMs: done[i]?.latenciesMs ?? [],
        checkoutErrors: done[i]?.errors ?? 0,
        shopCpuShare: (cpu[i]?.cpuMicros ?? NaN) / ((cpu[i]?.wallMs ?? NaN) * 1000),
        shop,
        records: api.records,
        maxInFlightSeen: api.maxInFlightSeen,
      }
    }),
  )
}

/** Stops every session's load 5 s after `watched` has no touchpoint queued (its backlog drained). */
async function stopWhenDrained(
  watched: Session,
  sessions: Session[],
  tUp: number,
  loads: Promise<unknown>[],
): Promise<void> {
  let finished = false
  void Promise.all(loads).then(() => (finished = true))
  while (!finished) {
    await sleep(500)
    if (finished) return
    const { counts } = await delivery(watched)
    if (counts.queued === 0 && counts.state === 'open' && nowUs() - tUp > 1e6) break
  }
  await sleep(5000)
  if (finished) return
  for (const s of sessions) if (s.load.connected) s.load.send({ type: 'load-stop' } satisfies ToChild)
}

/** One variant's figures in a scenario. */
export interface VariantResult {
  concurrency: Concurrency
  orders: number
  delivered: number
  /** Not delivered when the run ended (still queued or in flight, dropped or failed). */
  undelivered: number
  dropped: number
  failed: number
  retried: number
  /** Order → API latency over all orders; `atLeast`: an undelivered order could still move p99. */
  latencyMs: { p50: number; p99: number; max: number; atLeast: boolean }
  /** p99 order → API latency of the orders confirmed after the first 5 s (the ramp excluded). */
  p99After5sMs: number
  /** Checkout response time at the load generator: seconds here mean the shop itself was saturated. */
  checkoutMs: { p50: number; p99: number }
  /** Checkouts that failed at the load generator (connection errors): those orders never reached the shop. */
  checkoutErrors: number
  /** The shop's CPU time / wall time while the load ran (1 = a whole core: the shop was saturated). */
  shopCpuShare: number
  requests: number
  status429: number
  /** Share of the answered requests that were 429, after the first 5 s. */
  share429After5s: number
  /** stats().limit while the outage state was `open`, after the first 5 s. */
  limitOpenAfter5s: { median: number; max: number; min: number }
  limitMax: number
  maxInFlightSeen: number
  limitChanges: Record<string, number>
  /** Over time (s since the first order): limit, in flight and queued every 250 ms. */
  samples: { t: number; limit: number; inFlight: number; queued: number; state: string }[]
  /** p99 order → API latency (s) of the touchpoints that reached the API in each second. */
  latencyByArrival: [number, number][]
  /** 429 answers per second. */
  status429PerSecond: [number, number][]
}

function analyse(raw: Raw): VariantResult {
  const s = (us: number): number => (us - raw.t0) / 1e6
  const deliveredAt = new Map<number, number>()
  let status429 = 0
  let answeredAfter5 = 0
  let after5of429 = 0
  const perSecond429 = new Map<number, number>()
  const byArrival = new Map<number, number[]>()
  for (const [index, confirmedUs, arrivalUs, status] of raw.records) {
    const late = arrivalUs - raw.t0 >= 5e6
    if (late) answeredAfter5++
    if (status === 429) {
      status429++
      if (late) after5of429++
      const second = Math.floor(s(arrivalUs))
      perSecond429.set(second, (perSecond429.get(second) ?? 0) + 1)
    }
    if (status >= 200 && status < 300 && !deliveredAt.has(index)) {
      deliveredAt.set(index, arrivalUs)
      const second = Math.floor(s(arrivalUs))
      const list = byArrival.get(second) ?? []
      list.push((arrivalUs - confirmedUs) / 1e6)
      byArrival.set(second, list)
    }
  }
  const latencies: number[] = []
  const censored: number[] = []
  let orders = 0
  const after5: number[] = []
  raw.shop.stamps.forEach((confirmedUs, index) => {
    if (typeof confirmedUs !== 'number') return
    orders++
    const arrived = deliveredAt.get(index)
    const ms = ((arrived ?? raw.tEnd) - confirmedUs) / 1000
    if (arrived !== undefined) latencies.push(ms)
    else censored.push(ms)
    if (confirmedUs - raw.t0 >= 5e6) after5.push(ms)
  })
  const all = [...latencies, ...censored]
  const p99 = percentile(all, 99)
  const samples = raw.shop.samples
    .filter((x: DeliverySample) => x.t >= raw.t0)
    .map((x) => ({ t: s(x.t), limit: x.limit, inFlight: x.inFlight, queued: x.queued, state: x.state }))
  const openLate = samples.filter((x) => x.t >= 5 && x.state === 'open').map((x) => x.limit)
  const limitChanges: Record<string, number> = {}
  for (const [, , reason] of raw.shop.changes) limitChanges[reason] = (limitChanges[reason] ?? 0) + 1
  const lastSecond = Math.ceil(s(raw.tEnd))
  return {
    concurrency: raw.concurrency,
    orders,
    delivered: latencies.length,
    undelivered: censored.length,
    dropped: raw.shop.counts.dropped,
    failed: raw.shop.counts.failed,
    retried: raw.shop.counts.retried,
    p99After5sMs: percentile(after5, 99),
    latencyMs: {
      p50: percentile(all, 50),
      p99,
      max: Math.max(...all),
      // The true latency of an undelivered order is above its lower bound: p99 is exact only if
      // every such bound is above it already.
      atLeast: censored.some((c) => c <= p99),
    },
    checkoutMs: { p50: percentile(raw.checkoutMs, 50), p99: percentile(raw.checkoutMs, 99) },
    checkoutErrors: raw.checkoutErrors,
    shopCpuShare: raw.shopCpuShare,
    requests: raw.records.length,
    status429,
    share429After5s: answeredAfter5 === 0 ? 0 : after5of429 / answeredAfter5,
    limitOpenAfter5s: { median: median(openLate), max: Math.max(...openLate), min: Math.min(...openLate) },
    limitMax: Math.max(...samples.map((x) => x.limit)),
    maxInFlightSeen: raw.maxInFlightSeen,
    limitChanges,
    samples,
    latencyByArrival: [...byArrival.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([second, values]) => [second + 0.5, percentile(values, 99)]),
    status429PerSecond: Array.from({ length: lastSecond }, (_, second) => [
      second + 0.5,
      perSecond429.get(second) ?? 0,
    ]),
  }
}

/** One row of the group's table. */
export interface AdaptiveRow {
  /** The scenario's letter (A–E). */
  id: string
  scenario: string
  target: string
  /** The measure the target is about, for 'auto' and for fixed 8 (the before). */
  auto: string
  fixed8: string
  met: boolean
  /** Figures behind the row. */
  figures: Record<string, number | boolean>
}

const fmtMs = (latency: VariantResult['latencyMs']): string =>
  `${latency.atLeast ? '≥ ' : ''}${latency.p99 >= 10_000 ? `${(latency.p99 / 1000).toFixed(1)} s` : `${latency.p99.toFixed(0)} ms`}`

/** Durations (s): the full run's, or with --quick a fifth to a third of them. */
function durations(quick: boolean): {
  slow: number
  fast: number
  overload: number
  outage: number
  outageAfter: number
  cpuRounds: number
  cpuSeconds: number
} {
  return quick
    ? { slow: 12, fast: 6, overload: 10, outage: 8, outageAfter: 12, cpuRounds: 3, cpuSeconds: 1 }
    : { slow: 60, fast: 30, overload: 30, outage: 30, outageAfter: 40, cpuRounds: 5, cpuSeconds: 4 }
}

/** Limit and in flight, queued, and order → API latency over time, 'auto' beside fixed 8. */
function pairChart(
  title: string,
  { auto, fixed8: fixed }: Pair,
  options: { markers?: { x: number; label: string }[]; show429?: boolean; queuedLinear?: boolean } = {},
): string {
  const limitSeries: TimeSeries[] = [
    { name: "'auto': limit", points: auto.samples.map((x) => [x.t, x.limit]), color: 1 },
    { name: "'auto': in flight", points: auto.samples.map((x) => [x.t, x.inFlight]), color: 3, dashed: true },
    { name: 'fixed 8: in flight', points: fixed.samples.map((x) => [x.t, x.inFlight]), color: 0 },
  ]
  const latencySeries: TimeSeries[] = [
    { name: "'auto'", points: auto.latencyByArrival, color: 1 },
    { name: 'fixed 8 (before)', points: fixed.latencyByArrival, color: 0 },
  ]
  const queuedSeries: TimeSeries[] = [
    { name: "'auto'", points: auto.samples.map((x) => [x.t, x.queued]), color: 1 },
    { name: 'fixed 8 (before)', points: fixed.samples.map((x) => [x.t, x.queued]), color: 0 },
  ]
  const panels = [
    { unit: 'requests in flight', series: limitSeries },
    { unit: 'queued touchpoints', series: queuedSeries, log: options.queuedLinear !== true },
    { unit: 'order → API p99 (s)', series: latencySeries, log: true },
  ]
  if (options.show429 === true) {
    panels.push({
      unit: '429 answers per second',
      series: [
        { name: "'auto'", points: auto.status429PerSecond, color: 2 },
        { name: 'fixed 8', points: fixed.status429PerSecond, color: 0 },
      ],
    })
  }
  return timeChart(title, 'seconds since the first order', panels, options.markers ?? [])
}

/** The scenarios, by letter (`--scenario BE` runs B and E only). */
export const SCENARIOS = 'ABCDE'

/** Runs the group (the scenarios whose letters are in `only`); writes its charts into `chartDir`. */
export async function runAdaptive(
  quick: boolean,
  chartDir: string,
  prefix: string,
  only = SCENARIOS,
  maxConcurrency: number = DEFAULTS.queue.maxConcurrency,
): Promise<{ rows: AdaptiveRow[]; scenarios: AdaptiveScenarios; charts: string[] }> {
  MAX_CONCURRENCY = maxConcurrency
  const d = durations(quick)
  const want = (letter: string): boolean => only.toUpperCase().includes(letter)
  const scenarios: AdaptiveScenarios = {}
  if (quick) console.log(`  (--quick: durations scaled down: ${JSON.stringify(d)} s)`)

  // A. Slow API: 2 s per answer, 50 orders/s. 'auto' and fixed 8 side by side (little CPU).
  if (want('A')) {
    console.log(`\nA. API answers in 2 s, 50 orders/s for ${d.slow} s ('auto' and fixed 8 side by side)`)
    const plan: Plan = { rate: 50, seconds: d.slow, api: { latencyMs: 2000 }, graceSeconds: 5 }
    const sessions = [await openSession('auto', plan.api), await openSession(8, plan.api)]
    const [auto, fixed] = (await run(plan, sessions)).map(analyse) as [VariantResult, VariantResult]
    await Promise.all(sessions.map(closeSession))
    scenarios.slowApi = { plan, auto, fixed8: fixed }
    report(auto, fixed)
  }

  // B. Fast API under a heavy load: 200 ms, 500 orders/s. One after the other (the shop's CPU matters).
  if (want('B')) {
    console.log(`\nB. API answers in 200 ms, 500 orders/s for ${d.fast} s ('auto', then fixed 8)`)
    const plan: Plan = { rate: 500, seconds: d.fast, api: { latencyMs: 200 }, graceSeconds: 3 }
    const results: VariantResult[] = []
    for (const concurrency of ['auto', 8] as const) {
      const session = await openSession(concurrency, plan.api)
      const [raw] = await run(plan, [session])
      await closeSession(session)
      if (raw) results.push(analyse(raw))
    }
    const [auto, fixed] = results as [VariantResult, VariantResult]
    scenarios.fastApiHeavyLoad = { plan, auto, fixed8: fixed }
    report(auto, fixed)
  }

  // C. An API that answers 429 above 16 requests in flight. 200 orders/s × 200 ms needs 40 in flight.
  if (want('C')) {
    console.log(
      `\nC. API answers 429 (Retry-After 1) above 16 in flight, 200 ms, 200 orders/s for ${d.overload} s (needs 40 in flight)`,
    )
    const plan: Plan = {
      rate: 200,
      seconds: d.overload,
      api: { latencyMs: 200, maxInFlight: 16, retryAfterSeconds: 1 },
      graceSeconds: 0,
    }
    const sessions = [await openSession('auto', plan.api), await openSession(8, plan.api)]
    const [auto, fixed] = (await run(plan, sessions)).map(analyse) as [VariantResult, VariantResult]
    await Promise.all(sessions.map(closeSession))
    scenarios.rateLimitedApi = { plan, auto, fixed8: fixed }
    report(auto, fixed)
  }

  // D. CPU per order at 1000 orders/s, healthy fast API: 'auto' vs fixed 8, interleaved rounds.
  if (want('D')) {
    console.log(
      `\nD. shop CPU per order at 1000 orders/s, healthy fast API: 'auto' vs fixed 8 (${d.cpuRounds} interleaved rounds of ${d.cpuSeconds} s)`,
    )
    const api: ApiSettings = { latencyMs: 0 }
    const auto = await openSession('auto', api, false)
    const fixed = await openSession(8, api, false)
    const rounds = { baseline: [] as number[], ours: [] as number[] }
    const limits: number[] = []
    const cpu = async (session: Session, seconds: number, name: string): Promise<number> => {
      await ask(session.shop, { type: 'measure-start' }, 'ack')
      await ask(
        session.load,
        { type: 'load', port: session.port, rate: 1000, seconds, path: '/checkout', prefix: name },
        'load-done',
      )
      const measured = await ask(session.shop, { type: 'measure-stop' }, 'measured')
      return measured.cpuMicros / Math.max(1, measured.requests)
    }
    await cpu(fixed, quick ? 0.5 : 3, 'warm-f')
    await cpu(auto, quick ? 0.5 : 3, 'warm-a')
    for (let r = 0; r < d.cpuRounds; r++) {
      for (const session of r % 2 === 0 ? [fixed, auto] : [auto, fixed]) {
        const perOrder = await cpu(session, d.cpuSeconds, `c${session.concurrency}-${r}`)
        ;(session === fixed ? rounds.baseline : rounds.ours).push(perOrder)
      }
      limits.push((await delivery(auto)).counts.limit)
    }
    await Promise.all([auto, fixed].map(closeSession))
    const ratio = median(rounds.ours) / median(rounds.baseline)
    scenarios.cpuHealthy = { rounds, ratio, autoLimitAfterEachRound: limits }
    console.log(
      `  'auto' ${median(rounds.ours).toFixed(0)} µs, fixed 8 ${median(rounds.baseline).toFixed(0)} µs per order: ratio ${ratio.toFixed(3)} (rounds: ${rounds.ours.map((v) => v.toFixed(0)).join(' ')} / ${rounds.baseline.map((v) => v.toFixed(0)).join(' ')}); 'auto' limit ${limits.join(', ')}`,
    )
  }

  // E. API down, then back after `outage` s with 2 s latency, orders arriving at 20/s throughout.
  if (want('E')) {
    const rate = 20
    const latencyMs = 2000
    console.log(
      `\nE. API down for ${d.outage} s, then back with 2 s latency; ${rate} orders/s throughout ('auto' and fixed 8 side by side)`,
    )
    const plan: Plan = {
      rate,
      seconds: d.outage + d.outageAfter,
      api: { latencyMs },
      downSeconds: d.outage,
      graceSeconds: 0,
    }
    const sessions = [await openSession('auto', plan.api), await openSession(8, plan.api)]
    const raws = await run(plan, sessions)
    await Promise.all(sessions.map(closeSession))
    const [auto, fixed] = raws.map(analyse) as [VariantResult, VariantResult]
    const [drainAuto, drainFixed] = raws.map((raw, i) =>
      drain(raw, [auto, fixed][i] as VariantResult, rate, latencyMs),
    ) as [Drain, Drain]
    scenarios.outage = {
      plan,
      maxConcurrency: MAX_CONCURRENCY,
      auto,
      fixed8: fixed,
      drain: drainAuto,
      drainFixed8: drainFixed,
    }
    report(auto, fixed)
    console.log(`  drain ('auto'): ${JSON.stringify(drainAuto)}`)
  }

  return { rows: rowsOf(scenarios), scenarios, charts: writeCharts(scenarios, chartDir, prefix) }
}

const cpuShare = (r: VariantResult): string => `shop CPU ${(100 * r.shopCpuShare).toFixed(0)} % of a core`

/** The group's table, from the recorded scenarios (so a re-run of some of them merges cleanly). */
export function rowsOf(scenarios: AdaptiveScenarios): AdaptiveRow[] {
  const rows: AdaptiveRow[] = []
  const { slowApi, fastApiHeavyLoad, rateLimitedApi, cpuHealthy, outage } = scenarios
  if (slowApi) {
    const { plan, auto, fixed8: fixed } = slowApi
    rows.push({
      id: 'A',
      scenario: `API answers in 2 s, ${plan.rate} orders/s for ${plan.seconds} s`,
      target: 'order → API p99 ≤ 3 s; 0 dropped',
      auto: `p99 ${fmtMs(auto.latencyMs)}; ${auto.dropped} dropped, ${auto.undelivered} undelivered; checkout p99 ${auto.checkoutMs.p99.toFixed(0)} ms`,
      fixed8: `p99 ${fmtMs(fixed.latencyMs)}; ${fixed.dropped} dropped, ${fixed.undelivered} of ${fixed.orders} undelivered`,
      met: auto.latencyMs.p99 <= 3000 && !auto.latencyMs.atLeast && auto.dropped === 0 && auto.undelivered === 0,
      figures: {
        autoP99Ms: auto.latencyMs.p99,
        autoP50Ms: auto.latencyMs.p50,
        autoDropped: auto.dropped,
        fixedP99Ms: fixed.latencyMs.p99,
        fixedP50Ms: fixed.latencyMs.p50,
        fixedUndelivered: fixed.undelivered,
      },
    })
  }
  if (fastApiHeavyLoad) {
    const { plan, auto, fixed8: fixed } = fastApiHeavyLoad
    rows.push({
      id: 'B',
      scenario: `API answers in 200 ms, ${plan.rate} orders/s for ${plan.seconds} s`,
      target: 'order → API p99 ≤ 500 ms',
      auto: `p99 ${fmtMs(auto.latencyMs)} (orders after the first 5 s: ${auto.p99After5sMs.toFixed(0)} ms); ${auto.dropped} dropped; checkout p99 ${auto.checkoutMs.p99.toFixed(0)} ms, ${cpuShare(auto)}`,
      fixed8: `p99 ${fmtMs(fixed.latencyMs)}; ${fixed.dropped} dropped, ${fixed.undelivered} of ${fixed.orders} undelivered; ${cpuShare(fixed)}`,
      met: auto.latencyMs.p99 <= 500 && !auto.latencyMs.atLeast,
      figures: {
        autoP99Ms: auto.latencyMs.p99,
        autoP50Ms: auto.latencyMs.p50,
        autoP99After5sMs: auto.p99After5sMs,
        autoCheckoutP99Ms: auto.checkoutMs.p99,
        autoShopCpuShare: auto.shopCpuShare,
        autoDropped: auto.dropped,
        fixedP99Ms: fixed.latencyMs.p99,
        fixedDropped: fixed.dropped,
      },
    })
  }
  if (rateLimitedApi) {
    const { plan, auto, fixed8: fixed } = rateLimitedApi
    const share = auto.share429After5s
    rows.push({
      id: 'C',
      scenario: `API that answers 429 (Retry-After 1) above ${plan.api.maxInFlight ?? '?'} in flight; 200 ms, ${plan.rate} orders/s (needs ${(plan.rate * plan.api.latencyMs) / 1000}) for ${plan.seconds} s`,
      target: 'limit settles ≤ 20; 429s ≤ 5 % of requests after the first 5 s',
      auto: `limit after 5 s (open): median ${auto.limitOpenAfter5s.median}, max ${auto.limitOpenAfter5s.max}; 429s ${(100 * share).toFixed(1)} % (${auto.status429} in all)`,
      fixed8: `limit 8; 429s ${(100 * fixed.share429After5s).toFixed(1)} %; p99 ${fmtMs(fixed.latencyMs)}`,
      met: auto.limitOpenAfter5s.max <= 20 && share <= 0.05,
      figures: {
        autoLimitMedian: auto.limitOpenAfter5s.median,
        autoLimitMax: auto.limitOpenAfter5s.max,
        autoShare429: share,
        auto429: auto.status429,
        autoRequests: auto.requests,
        autoP99Ms: auto.latencyMs.p99,
        fixedP99Ms: fixed.latencyMs.p99,
      },
    })
  }
  if (cpuHealthy) {
    const { rounds, ratio, autoLimitAfterEachRound: limits } = cpuHealthy
    rows.push({
      id: 'D',
      scenario: 'healthy fast API, 1000 orders/s: shop CPU per order',
      target: "'auto' / fixed 8 ≤ 1.05",
      auto: `${median(rounds.ours).toFixed(0)} µs (ratio ${ratio.toFixed(3)}, spread ±${((Math.max(spread(rounds.ours), spread(rounds.baseline)) * 100) / 2).toFixed(0)} %; limit ${limits.join(', ')})`,
      fixed8: `${median(rounds.baseline).toFixed(0)} µs`,
      met: ratio <= 1.05,
      figures: { autoUs: median(rounds.ours), fixedUs: median(rounds.baseline), ratio },
    })
  }
  if (outage) {
    const { plan, drain: drainAuto, drainFixed8: drainFixed } = outage
    const ratio = drainAuto.measuredS / drainAuto.minimumS
    rows.push({
      id: 'E',
      scenario: `API down, then back after ${plan.downSeconds ?? 0} s with 2 s latency; ${plan.rate} orders/s throughout`,
      target: 'backlog drained within 2× the theoretical minimum',
      auto: drainAuto.drained
        ? `backlog ${drainAuto.backlog} drained in ${drainAuto.measuredS.toFixed(1)} s after the API came back; minimum ${drainAuto.minimumS.toFixed(1)} s: ${ratio.toFixed(2)}× (the probe reopened delivery after ${drainAuto.reopenedAfterS.toFixed(1)} s; from then ${drainAuto.measuredFromReopenS.toFixed(1)} s for ${drainAuto.backlogAtReopen}, minimum ${drainAuto.minimumFromReopenS.toFixed(1)} s)`
        : `backlog ${drainAuto.backlog} not drained ${drainAuto.measuredS.toFixed(0)} s after the API came back (${drainAuto.queuedAtEnd} still queued); minimum ${drainAuto.minimumS.toFixed(1)} s: > ${ratio.toFixed(1)}× (the probe reopened delivery after ${drainAuto.reopenedAfterS.toFixed(1)} s, with ${drainAuto.backlogAtReopen} queued)`,
      fixed8: drainFixed.drained
        ? `drained in ${drainFixed.measuredS.toFixed(1)} s`
        : `not drained (capacity 8 / 2 s = 4/s < ${plan.rate}/s): ${drainFixed.queuedAtEnd} queued at the end`,
      met: drainAuto.drained && ratio <= 2,
      figures: {
        backlog: drainAuto.backlog,
        minimumS: drainAuto.minimumS,
        measuredS: drainAuto.measuredS,
        reopenedAfterS: drainAuto.reopenedAfterS,
        measuredFromReopenS: drainAuto.measuredFromReopenS,
        minimumFromReopenS: drainAuto.minimumFromReopenS,
        ratio,
        drained: drainAuto.drained,
      },
    })
  }
  return rows
}

interface Pair {
  plan: Plan
  auto: VariantResult
  fixed8: VariantResult
}

/** What the group records (bench/results/*.json, key `adaptive.scenarios`); the charts are drawn from it. */
export interface AdaptiveScenarios {
  slowApi?: Pair
  fastApiHeavyLoad?: Pair
  rateLimitedApi?: Pair
  cpuHealthy?: { rounds: { baseline: number[]; ours: number[] }; ratio: number; autoLimitAfterEachRound: number[] }
  outage?: Pair & { maxConcurrency: number; drain: Drain; drainFixed8: Drain }
}

/** Draws the charts of the recorded scenarios into `chartDir`; returns their paths. */
export function writeCharts(scenarios: AdaptiveScenarios, chartDir: string, prefix: string): string[] {
  const files: string[] = []
  const write = (name: string, svg: string): void => {
    const file = path.join(chartDir, `${prefix}${name}.svg`)
    writeFileSync(file, svg)
    files.push(file)
  }
  const lastOrder = (plan: Plan): { x: number; label: string }[] => [{ x: plan.seconds, label: 'last order' }]
  const { slowApi, fastApiHeavyLoad, rateLimitedApi, outage } = scenarios
  if (slowApi) {
    const { plan } = slowApi
    write(
      'adaptive-slow-api',
      pairChart(`API answers in 2 s, ${plan.rate} orders/s for ${plan.seconds} s`, slowApi, {
        markers: lastOrder(plan),
      }),
    )
  }
  if (fastApiHeavyLoad) {
    const { plan } = fastApiHeavyLoad
    write(
      'adaptive-fast-api',
      pairChart(`API answers in 200 ms, ${plan.rate} orders/s for ${plan.seconds} s`, fastApiHeavyLoad, {
        markers: lastOrder(plan),
      }),
    )
  }
  if (rateLimitedApi) {
    const { plan } = rateLimitedApi
    write(
      'adaptive-429',
      pairChart(
        `API answering 429 above ${plan.api.maxInFlight ?? '?'} in flight, ${plan.rate} orders/s × 200 ms for ${plan.seconds} s`,
        rateLimitedApi,
        { markers: [{ x: 5, label: 'first 5 s' }, ...lastOrder(plan)], show429: true },
      ),
    )
  }
  if (outage) {
    const { plan, drain: drained } = outage
    const down = plan.downSeconds ?? 0
    write(
      'adaptive-outage',
      pairChart(`API down ${down} s, then back with 2 s latency; ${plan.rate} orders/s`, outage, {
        markers: [
          { x: 0, label: 'API down' },
          { x: down, label: 'API back' },
          ...(Number.isFinite(drained.reopenedAfterS) ? [{ x: down + drained.reopenedAfterS, label: 'reopened' }] : []),
          ...(drained.drained ? [{ x: down + drained.measuredS, label: 'drained' }] : []),
        ],
        queuedLinear: true,
      }),
    )
  }
  return files
}

/** How a backlog drained after the API came back. */
interface Drain {
  /** Touchpoints queued when the API came back (B). */
  backlog: number
  /** B / (M / L − R): the least time to drain it at maxConcurrency M, latency L, arrivals R/s. */
  minimumS: number
  drained: boolean
  /** From the API's return to the first sample with nothing queued (or to the end of the run). */
  measuredS: number
  /** From the API's return until the outage state was open again (the probe's wait and round trip). */
  reopenedAfterS: number
  /** Queued when delivery reopened, and the least time to drain that (the same formula). */
  backlogAtReopen: number
  minimumFromReopenS: number
  /** From the reopening to the first sample with nothing queued (or to the end of the run). */
  measuredFromReopenS: number
  queuedAtEnd: number
}

function drain(raw: Raw, result: VariantResult, rate: number, latencyMs: number): Drain {
  const up = ((raw.tUp ?? raw.t0) - raw.t0) / 1e6
  const after = result.samples.filter((x) => x.t >= up)
  const backlog = after[0]?.queued ?? 0
  const capacity = MAX_CONCURRENCY / (latencyMs / 1000) - rate
  const reopened = after.find((x) => x.state === 'open')
  const drainedAt = after.find((x) => x.queued === 0 && x.state === 'open')
  const end = after[after.length - 1]
  const finish = (drainedAt ?? end)?.t ?? NaN
  return {
    backlog,
    minimumS: backlog / capacity,
    drained: drainedAt !== undefined,
    measuredS: finish - up,
    reopenedAfterS: reopened !== undefined ? reopened.t - up : NaN,
    backlogAtReopen: reopened?.queued ?? NaN,
    minimumFromReopenS: (reopened?.queued ?? NaN) / capacity,
    measuredFromReopenS: reopened !== undefined ? finish - reopened.t : NaN,
    queuedAtEnd: end?.queued ?? 0,
  }
}

function report(auto: VariantResult, fixed: VariantResult): void {
  for (const r of [auto, fixed]) {
    console.log(
      `  ${r.concurrency === 'auto' ? "'auto' " : 'fixed 8'}: ${r.orders} orders, ${r.delivered} delivered, ${r.undelivered} not (dropped ${r.dropped}, failed ${r.failed}); order → API p50 ${r.latencyMs.p50.toFixed(0)} ms, p99 ${fmtMs(r.latencyMs)}, max ${r.latencyMs.max.toFixed(0)} ms; checkout p99 ${r.checkoutMs.p99.toFixed(0)} ms (${r.checkoutErrors} failed); shop CPU ${(100 * r.shopCpuShare).toFixed(0)} % of a core; requests ${r.requests} (429: ${r.status429}); limit max ${r.limitMax}, API max in flight ${r.maxInFlightSeen}; changes ${JSON.stringify(r.limitChanges)}`,
    )
  }
}
