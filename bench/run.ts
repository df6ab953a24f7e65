/**
 * `npm run bench [-- --quick] [-- --only adaptive]`: what the middleware costs a shop, how fast
 * touchpoints arrive, and memory in an outage, each as a ratio against a baseline measured in the
 * same run; then the adaptive-concurrency scenarios (bench/adaptive.ts), each against a fixed 8.
 * The shop, the load generator and the fake API are separate processes; A/B runs are interleaved
 * over rounds and reported as medians with their spread. Writes bench/results/latest.json and
 * docs/*.svg; `--only adaptive` runs that group alone and replaces only its key in the JSON;
 * `--only cost` runs the two CPU-per-order rows alone (about 1.5 minutes) and replaces only those
 * rows in the JSON (and notes when they were measured under `reran.cost`); `--only latency` runs
 * the checkout-p99 rows alone (healthy, slow, down and the naive reference; about 2.5 minutes) and
 * replaces only those rows (noted under `reran.latency`).
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { rowsOf, runAdaptive, SCENARIOS, writeCharts, type AdaptiveRow, type AdaptiveScenarios } from './adaptive'
import { DEFAULTS } from '../src/options'
import { ask, buildChildren, next, start } from './children'
import type { FromChild, ToChild } from './ipc'
import { bytesPerQueuedTouchpoint, deliveryThroughput, nonMatchingCost } from './micro'
import { median, percentile, spread } from './stats'
import { barChart, lineChart } from './svg'

const quick = process.argv.includes('--quick')
const GROUPS = ['adaptive', 'cost', 'latency'] as const
const onlyIndex = process.argv.indexOf('--only')
const only = onlyIndex > 0 ? process.argv[onlyIndex + 1] : undefined
if (only !== undefined && !(GROUPS as readonly string[]).includes(only)) {
  console.error(`--only: unknown group '${only}' (groups: ${GROUPS.join(', ')})`)
  process.exit(2)
}
// `--scenario BE`: only these scenarios of the adaptive group (A–E, see bench/adaptive.ts).
const scenarioIndex = process.argv.indexOf('--scenario')
const scenarios = scenarioIndex > 0 ? (process.argv[scenarioIndex + 1] ?? SCENARIOS) : SCENARIOS
// `--max-concurrency N`: the 'auto' shops' queue.maxConcurrency (default: the package's default).
const maxIndex = process.argv.indexOf('--max-concurrency')
const maxConcurrency = maxIndex > 0 ? Number(process.argv[maxIndex + 1]) : DEFAULTS.queue.maxConcurrency
// An experiment (another maxConcurrency) writes its charts beside the results and no JSON; a run of
// some scenarios with --only adaptive replaces just theirs (rows, figures, charts).
const partial = maxConcurrency !== DEFAULTS.queue.maxConcurrency
const ROUNDS = quick ? 3 : 5
const SECONDS = quick ? 0.5 : 4
const WARMUP = quick ? 0.25 : 1
const root = path.resolve(__dirname, '..')
const resultsFile = path.join(root, 'bench', 'results', quick ? 'quick.json' : 'latest.json')
// The README shows the full run's charts; a quick run's go beside its JSON.
const chartDir = quick ? path.join(root, 'bench', 'results') : path.join(root, 'docs')
const chartPrefix = quick ? 'quick-' : ''

/** The adaptive-concurrency group: runs it and prints its table. */
async function adaptiveGroup(): Promise<Awaited<ReturnType<typeof runAdaptive>> & { date: string; mode: string }> {
  const date = new Date().toISOString()
  console.log(
    `\n7. adaptive concurrency ('auto', maxConcurrency ${maxConcurrency}) vs fixed 8${quick ? ' (--quick)' : ''}`,
  )
  mkdirSync(chartDir, { recursive: true })
  const result = await runAdaptive(
    quick,
    partial ? path.join(root, 'bench', 'results') : chartDir,
    partial ? 'partial-' : chartPrefix,
    scenarios,
    maxConcurrency,
  )
  printAdaptive(result.rows)
  const charts = result.charts.map((f) => path.relative(root, f))
  console.log(`wrote ${charts.join(', ')}`)
  return { date, mode: quick ? 'quick' : 'full', ...result, charts }
}

function printAdaptive(rows: AdaptiveRow[]): void {
  console.log("\n| scenario | target | fixed 8 (before) | 'auto' | met |")
  console.log('|---|---|---|---|---|')
  for (const r of rows)
    console.log(`| ${r.scenario} | ${r.target} | ${r.fixed8} | ${r.auto} | ${r.met ? 'yes' : 'NO'} |`)
}

interface Row {
  measure: string
  unit: string
  baseline: number
  ours: number
  ratio: number
  target: string
  met: boolean | null
  spread: number
  rounds: { baseline: number[]; ours: number[] }
  /** Checkout p99 rows: our shop's in flight, limit and queued at the end of each of its rounds. */
  delivery?: { inFlight: number[]; limit: number[]; queued: number[] }
}
const rows: Row[] = []

async function stop(child: ChildProcess): Promise<FromChild | undefined> {
  const memory = next(child, 'memory').catch(() => undefined)
  child.send({ type: 'exit' } satisfies ToChild)
  const result = await memory
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)))
  return result
}

async function startShop(
  variant: string,
  endpoint: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number }> {
  const child = start('shop-process', { BENCH_VARIANT: variant, BENCH_ENDPOINT: endpoint, ...env })
  const ready = await next(child, 'ready')
  return { child, port: ready.port }
}

let generator: ChildProcess | undefined

/** Runs the open-model load against a shop and measures the shop's CPU meanwhile. */
async function load(
  shop: { child: ChildProcess; port: number },
  rate: number,
  seconds: number,
  requestPath: string,
  prefix: string,
): Promise<{ latenciesMs: number[]; cpuPerRequestUs: number; errors: number }> {
  if (generator === undefined) throw new Error('load generator not started')
  await ask(shop.child, { type: 'measure-start' }, 'ack')
  const done = await ask(
    generator,
    { type: 'load', port: shop.port, rate, seconds, path: requestPath, prefix },
    'load-done',
  )
  const measured = await ask(shop.child, { type: 'measure-stop' }, 'measured')
  return {
    latenciesMs: done.latenciesMs,
    cpuPerRequestUs: measured.cpuMicros / Math.max(1, measured.requests),
    errors: done.errors,
  }
}

function addRow(
  measure: string,
  unit: string,
  rounds: { baseline: number[]; ours: number[] },
  target: string,
  check: ((ratio: number, ours: number) => boolean) | null,
  ratioOf: (baseline: number, ours: number) => number = (b, o) => o / b,
): Row {
  const baseline = median(rounds.baseline)
  const ours = median(rounds.ours)
  const ratio = ratioOf(baseline, ours)
  const row: Row = {
    measure,
    unit,
    baseline,
    ours,
    ratio,
    target,
    met: check === null ? null : check(ratio, ours),
    spread: Math.max(spread(rounds.baseline), spread(rounds.ours)),
    rounds,
  }
  rows.push(row)
  console.log(
    `  ${measure}: baseline ${baseline.toFixed(2)} ${unit}, ours ${ours.toFixed(2)} ${unit}, ratio ${ratio.toFixed(3)} (${target})`,
  )
  return row
}

/**
 * 1 + 4. Checkout p99 at 200 orders/s per API state (healthy, slow 2 s, down), each against a shop
 * without the middleware, plus the naive await-in-handler shop as a reference in the slow state;
 * order → API latency while healthy. After each of our rounds the shop's in-flight count and limit
 * are read, so the slow row says how many requests it carried.
 */
async function latencyGroup(
  api: ChildProcess,
  endpoint: string,
  setMode: (mode: 'healthy' | 'slow' | 'down') => Promise<unknown>,
): Promise<{ latency: Record<string, Row>; naiveRow: Row | undefined; orderToApi: number[]; added: Row[] }> {
  console.log('\n1. checkout p99 latency at 200 orders/s, with vs without the middleware')
  const latency: Record<string, Row> = {}
  let naiveRow: Row | undefined
  const orderToApi: number[] = []
  const added: Row[] = []
  for (const state of ['healthy', 'slow', 'down'] as const) {
    await setMode(state)
    const none = await startShop('none', endpoint)
    const ours = await startShop('ours', endpoint, state === 'healthy' ? { BENCH_RECORD_FINISHES: '1' } : {})
    const naive = state === 'slow' ? await startShop('naive', endpoint) : undefined
    await load(none, 200, WARMUP, '/checkout', `warm-${state}-a`)
    await load(ours, 200, WARMUP, '/checkout', `warm-${state}-b`)
    if (state === 'healthy') {
      await ask(ours.child, { type: 'report-arrivals' }, 'finishes')
      await ask(api, { type: 'report-arrivals' }, 'arrivals')
    }
    const rounds = { baseline: [] as number[], ours: [] as number[] }
    const naiveRounds: number[] = []
    const inFlight: number[] = []
    const limit: number[] = []
    const queued: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['none', 'ours'] as const) : (['ours', 'none'] as const)
      for (const variant of order) {
        const result = await load(
          variant === 'none' ? none : ours,
          200,
          SECONDS,
          '/checkout',
          `${state}-${variant}-${r}`,
        )
        ;(variant === 'none' ? rounds.baseline : rounds.ours).push(percentile(result.latenciesMs, 99))
        if (variant === 'ours') {
          const { counts } = await ask(ours.child, { type: 'report-delivery' }, 'delivery')
          inFlight.push(counts.inFlight)
          limit.push(counts.limit)
          queued.push(counts.queued)
        }
        if (state === 'healthy' && variant === 'ours') {
          const { finishes } = await ask(ours.child, { type: 'report-arrivals' }, 'finishes')
          const { arrivals } = await ask(api, { type: 'report-arrivals' }, 'arrivals')
          for (const [email, finishedUs] of Object.entries(finishes)) {
            const arrivedUs = arrivals[email]
            if (arrivedUs !== undefined) orderToApi.push((arrivedUs - finishedUs) / 1000)
          }
        }
      }
      // The naive shop waits 2 s per order whatever happens: one round is enough in quick mode.
      if (naive && (!quick || r === 0))
        naiveRounds.push(percentile((await load(naive, 200, SECONDS, '/checkout', `naive-${r}`)).latenciesMs, 99))
    }
    const row = addRow(`checkout p99, API ${state}`, 'ms', rounds, 'ratio ≤ 1.15', (ratio) => ratio <= 1.15)
    // Our shop's requests in flight, its concurrency limit and its queue at the end of each of its rounds.
    row.delivery = { inFlight, limit, queued }
    console.log(
      `    at the end of our rounds: in flight ${inFlight.join(', ')}; limit ${limit.join(', ')}; queued ${queued.join(', ')}`,
    )
    latency[state] = row
    added.push(row)
    if (naive) {
      naiveRow = addRow(
        'checkout p99, API slow: naive await-in-handler (reference)',
        'ms',
        { baseline: rounds.baseline, ours: naiveRounds },
        'reference',
        null,
      )
      added.push(naiveRow)
      await stop(naive.child)
    }
    await stop(none.child)
    await stop(ours.child)
  }
  return { latency, naiveRow, orderToApi, added }
}

/** 3. The cost of an order (CPU per order at 1000 orders/s, healthy and down), against its baseline. */
async function costGroup(
  endpoint: string,
  setMode: (mode: 'healthy' | 'slow' | 'down') => Promise<unknown>,
): Promise<Row[]> {
  const added: Row[] = []
  console.log('\n3. CPU per order at 1000 orders/s')
  for (const [state, baselineVariant, target] of [
    ['healthy', 'minimal', 1.25],
    ['down', 'none', 1.15],
  ] as const) {
    await setMode(state)
    const base = await startShop(baselineVariant, endpoint)
    const ours = await startShop('ours', endpoint)
    await load(base, 1000, WARMUP, '/checkout', `w-${state}-a`)
    await load(ours, 1000, WARMUP, '/checkout', `w-${state}-b`)
    const rounds = { baseline: [] as number[], ours: [] as number[] }
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? [base, ours] : [ours, base]
      for (const shop of order) {
        const { cpuPerRequestUs } = await load(
          shop,
          1000,
          SECONDS,
          '/checkout',
          `c-${state}-${r}-${shop === base ? 'b' : 'o'}`,
        )
        ;(shop === base ? rounds.baseline : rounds.ours).push(cpuPerRequestUs)
      }
    }
    added.push(
      addRow(
        `CPU/order, API ${state}, vs ${baselineVariant === 'minimal' ? 'raw fire-and-forget node:http POST' : 'no middleware'}`,
        'µs',
        rounds,
        `ratio ≤ ${target}`,
        (ratio) => ratio <= target,
      ),
    )
    await stop(base.child)
    await stop(ours.child)
  }
  return added
}

async function main(): Promise<void> {
  if (only === 'adaptive' && process.argv.includes('--redraw')) {
    // The table and charts again from the recorded figures (after a change to how they are shown).
    const recorded = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
      adaptive?: { rows: AdaptiveRow[]; scenarios: AdaptiveScenarios; charts: string[] }
    }
    if (recorded.adaptive === undefined) throw new Error(`no adaptive figures in ${resultsFile}`)
    const { scenarios: recordedScenarios } = recorded.adaptive
    const charts = writeCharts(recordedScenarios, chartDir, chartPrefix).map((f) => path.relative(root, f))
    recorded.adaptive = { ...recorded.adaptive, rows: rowsOf(recordedScenarios), charts }
    writeFileSync(resultsFile, JSON.stringify(recorded, null, 2))
    printAdaptive(recorded.adaptive.rows)
    console.log(`wrote ${charts.join(', ')} and the rows in ${path.relative(root, resultsFile)}`)
    return
  }
  if (only === 'adaptive') {
    console.log(`express-transactionale benchmark, adaptive group only (${quick ? 'quick' : 'full'})`)
    buildChildren()
    const adaptive = await adaptiveGroup()
    if (partial) return
    // Only this group's key changes: the other figures stay those of their last run.
    const previous = existsSync(resultsFile)
      ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { adaptive?: typeof adaptive & { reran?: object } })
      : {}
    const before = previous.adaptive
    const merged =
      scenarios === SCENARIOS || before === undefined
        ? adaptive
        : {
            ...before,
            rows: rowsOf({ ...before.scenarios, ...adaptive.scenarios }),
            scenarios: { ...before.scenarios, ...adaptive.scenarios },
            // When the scenarios run again alone were measured.
            reran: {
              ...before.reran,
              ...Object.fromEntries([...scenarios.toUpperCase()].map((id) => [id, adaptive.date])),
            },
          }
    mkdirSync(path.dirname(resultsFile), { recursive: true })
    writeFileSync(resultsFile, JSON.stringify({ ...previous, adaptive: merged }, null, 2))
    if (merged !== adaptive) printAdaptive(merged.rows)
    console.log(
      `wrote ${path.relative(root, resultsFile)} (key "adaptive"${merged !== adaptive ? `, scenarios ${scenarios}` : ''})`,
    )
    return
  }
  if (only === 'cost' || only === 'latency') {
    const date = new Date().toISOString()
    console.log(
      `express-transactionale benchmark, ${only} group only (${quick ? 'quick' : 'full'}: ${ROUNDS} rounds of ${SECONDS} s)`,
    )
    buildChildren()
    const api = start('fake-api-process')
    const { endpoint = '' } = await next(api, 'ready')
    generator = start('load-process')
    await next(generator, 'ready')
    const setMode = (mode: 'healthy' | 'slow' | 'down'): Promise<unknown> => ask(api, { type: 'mode', mode }, 'ack')
    const added =
      only === 'cost' ? await costGroup(endpoint, setMode) : (await latencyGroup(api, endpoint, setMode)).added
    await stop(api)
    generator.send({ type: 'exit' } satisfies ToChild)
    // Only these rows change: the other figures stay those of their last run.
    const previous = existsSync(resultsFile)
      ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { rows?: Row[]; reran?: Record<string, string> })
      : {}
    const merged = [...(previous.rows ?? [])]
    for (const row of added) {
      const at = merged.findIndex((r) => r.measure === row.measure)
      if (at === -1) merged.push(row)
      else merged[at] = row
    }
    mkdirSync(path.dirname(resultsFile), { recursive: true })
    writeFileSync(
      resultsFile,
      JSON.stringify({ ...previous, rows: merged, reran: { ...previous.reran, [only]: date } }, null, 2),
    )
    console.log(`wrote ${path.relative(root, resultsFile)} (the ${added.length} ${only} rows)`)
    return
  }
  const startedAt = new Date()
  console.log(`express-transactionale benchmark (${quick ? 'quick' : 'full'}: ${ROUNDS} rounds of ${SECONDS} s)`)
  buildChildren()
  const api = start('fake-api-process')
  const apiReady = await next(api, 'ready')
  generator = start('load-process')
  await next(generator, 'ready')
  const endpoint = apiReady.endpoint ?? ''
  const setMode = (mode: 'healthy' | 'slow' | 'down'): Promise<unknown> => ask(api, { type: 'mode', mode }, 'ack')

  const { latency, naiveRow, orderToApi } = await latencyGroup(api, endpoint, setMode)

  console.log('\n4. order → API latency at 200 orders/s (healthy API)')
  const o2a = { p50: percentile(orderToApi, 50), p99: percentile(orderToApi, 99), max: Math.max(...orderToApi) }
  rows.push({
    measure: 'order → API latency p99 (p50 / max in JSON)',
    unit: 'ms',
    baseline: 10_000,
    ours: o2a.p99,
    ratio: o2a.p99 / 10_000,
    target: 'p99 ≤ 20 ms (batching SDKs: 10 s)',
    met: o2a.p99 <= 20,
    spread: NaN,
    rounds: { baseline: [], ours: orderToApi },
  })
  console.log(
    `  p50 ${o2a.p50.toFixed(2)} ms, p99 ${o2a.p99.toFixed(2)} ms, max ${o2a.max.toFixed(2)} ms (${orderToApi.length} orders)`,
  )

  // 2. Cost to the rest of the shop.
  console.log('\n2. cost to requests the middleware does not match')
  const micro = nonMatchingCost(ROUNDS, quick ? 1_000_000 : 5_000_000)
  addRow(
    'non-matching request, in-process extra ns/call',
    'ns',
    micro,
    '≤ 1000 ns extra',
    (_ratio, extra) => extra <= 1000,
    (b, o) => o / b,
  )
  const extra = rows[rows.length - 1]
  if (extra) extra.ours = median(micro.ours) - median(micro.baseline)
  await setMode('healthy')
  {
    const none = await startShop('none', endpoint)
    const ours = await startShop('ours', endpoint)
    await load(none, 1000, WARMUP, '/products', 'w')
    await load(ours, 1000, WARMUP, '/products', 'w')
    const rounds = { baseline: [] as number[], ours: [] as number[] }
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? [none, ours] : [ours, none]
      for (const shop of order) {
        const { cpuPerRequestUs } = await load(shop, 1000, SECONDS, '/products', 'p')
        ;(shop === none ? rounds.baseline : rounds.ours).push(cpuPerRequestUs)
      }
    }
    addRow(
      'non-matching request, shop CPU/request at 1000 req/s',
      'µs',
      rounds,
      'ratio ≤ 1.03',
      (ratio) => ratio <= 1.03,
    )
    await stop(none.child)
    await stop(ours.child)
  }

  // 3. Cost of an order.
  await costGroup(endpoint, setMode)

  // 5. Delivery throughput.
  console.log('\n5. delivery throughput, 8 in flight, fast fake API')
  await setMode('healthy')
  addRow(
    'touchpoints/s: dispatcher + axios vs raw node:http',
    '/s',
    await deliveryThroughput(endpoint, ROUNDS, quick ? 3000 : 10_000),
    'ratio ≥ 0.8',
    (ratio) => ratio >= 0.8,
  )

  // 6. Memory under outage.
  console.log('\n6. memory with the API down')
  await setMode('down')
  const orders = quick ? 14_000 : 100_000
  const rate = quick ? 3000 : 2000
  const shop = await startShop('ours', endpoint)
  await ask(shop.child, { type: 'sample-memory', everyMs: 250 }, 'ack')
  await load(shop, rate, orders / rate, '/checkout', 'outage')
  const memory = (await stop(shop.child)) as Extract<FromChild, { type: 'memory' }> | undefined
  const samples = memory?.samples ?? []
  const perTouchpoint = await bytesPerQueuedTouchpoint(10_000)
  // Flat = once the queue is at its cap, the heap's level (median of the GC sawtooth) and RSS stop growing.
  const atCap = samples.filter((s) => s.queued >= 9_990)
  const third = Math.max(1, Math.floor(atCap.length / 3))
  const heapEarly = median(atCap.slice(0, third).map((s) => s.heapUsed))
  const heapLate = median(atCap.slice(-third).map((s) => s.heapUsed))
  const rssAtCap = atCap[0]?.rss ?? NaN
  const rssEnd = samples[samples.length - 1]?.rss ?? NaN
  const outage = { heapEarly, heapLate, rssAtCap, rssEnd, samplesAtCap: atCap.length }
  rows.push({
    measure: 'outage: heap level after the queue cap, late vs early (B per queued touchpoint in JSON)',
    unit: 'MiB',
    baseline: heapEarly / 2 ** 20,
    ours: heapLate / 2 ** 20,
    ratio: heapLate / heapEarly,
    target: 'flat: ratio ≤ 1.15',
    met: atCap.length >= 6 ? heapLate / heapEarly <= 1.15 : null,
    spread: NaN,
    rounds: { baseline: [], ours: [] },
  })
  console.log(
    `  ${orders} orders at ${rate}/s: queue capped at ${Math.max(...samples.map((s) => s.queued))}; heap level at cap ${(heapEarly / 2 ** 20).toFixed(1)} → ${(heapLate / 2 ** 20).toFixed(1)} MiB; RSS ${(rssAtCap / 2 ** 20).toFixed(1)} → ${(rssEnd / 2 ** 20).toFixed(1)} MiB; ${perTouchpoint.toFixed(0)} B per queued touchpoint`,
  )

  await stop(api)
  generator.send({ type: 'exit' } satisfies ToChild)

  const adaptive = await adaptiveGroup()

  // Output: table, JSON, charts.
  const fmt = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '—')
  console.log('\n| measure | baseline | ours | ratio | target | met | spread |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(
      `| ${r.measure} | ${fmt(r.baseline)} ${r.unit} | ${fmt(r.ours)} ${r.unit} | ${fmt(r.ratio, 3)} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : 'NO'} | ${Number.isFinite(r.spread) ? `±${(r.spread * 50).toFixed(0)} %` : '—'} |`,
    )
  }
  printAdaptive(adaptive.rows)
  const results = {
    date: startedAt.toISOString(),
    mode: quick ? 'quick' : 'full',
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    rows,
    orderToApiMs: o2a,
    outage: { orders, rate, ...outage, samples, bytesPerQueuedTouchpoint: perTouchpoint },
    adaptive,
  }
  mkdirSync(path.dirname(resultsFile), { recursive: true })
  writeFileSync(resultsFile, JSON.stringify(results, null, 2))
  mkdirSync(chartDir, { recursive: true })
  const states = ['healthy', 'slow', 'down']
  writeFileSync(
    path.join(chartDir, `${chartPrefix}checkout-latency.svg`),
    barChart(
      'Checkout p99 latency at 200 orders/s (median of rounds)',
      'milliseconds',
      states.map((s) => `API ${s}`),
      [
        { name: 'without middleware', values: states.map((s) => latency[s]?.baseline ?? NaN) },
        { name: 'with express-transactionale', values: states.map((s) => latency[s]?.ours ?? NaN) },
        { name: 'naive await in handler', values: [NaN, naiveRow?.ours ?? NaN, NaN] },
      ],
    ),
  )
  writeFileSync(
    path.join(chartDir, `${chartPrefix}outage-memory.svg`),
    lineChart(`Shop memory, ${orders.toLocaleString('en')} orders with the API down`, 'MiB', 'seconds', [
      { name: 'RSS', points: samples.map((s) => [s.t / 1000, s.rss / 2 ** 20]) },
      { name: 'heap used', points: samples.map((s) => [s.t / 1000, s.heapUsed / 2 ** 20]) },
      { name: 'queued (thousands)', points: samples.map((s) => [s.t / 1000, s.queued / 1000]) },
    ]),
  )
  console.log(
    quick
      ? '\nwrote bench/results/quick.json and bench/results/quick-*.svg'
      : '\nwrote bench/results/latest.json, docs/checkout-latency.svg, docs/outage-memory.svg, docs/adaptive-*.svg',
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
