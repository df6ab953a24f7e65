/**
 * Durable stores against the memory store (issues 9 and 10, "Measured"): shop, load generator and
 * fake API as separate processes (bench/stores/*), a private redis-server (test/redis's helper),
 * rounds interleaved across the stores and medians reported. Writes bench/results/stores.json.
 *
 *   npm run bench:stores             full run (~6 min)
 *   npm run bench:stores -- --quick  a smoke run
 *
 * Scenarios:
 * - cpu: 500 orders/s, open model; shop CPU per order (process.cpuUsage from the shop's start to
 *   every touchpoint delivered; the measured window's figure too) and event-loop delay p99 over
 *   the measured window (monitorEventLoopDelay, less its 1 ms sampling interval) per store.
 * - latency: 200 orders/s, API healthy; order confirmed → touchpoint at the API, p99 (orders after
 *   the warm-up).
 * - backlog: a shop starts on 10,000 pending touchpoints (SQLite, Redis: left by an earlier
 *   process; memory: put into the store as it opens); time from the fork to the first delivery,
 *   and delivery throughput from the first to the last.
 */
import './stores/jest-stub'
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import IORedis from 'ioredis'
import { RedisServer } from '../test/redis/redis-server'
import { askMessage, bundle, forkBundle, nextMessage } from './children'
import { median, percentile, spread } from './stats'
import { nowUs, type Message } from './stores/messages'

const quick = process.argv.includes('--quick')
const STORES = ['memory', 'sqlite', 'redis'] as const
/**
 * The event-loop delay's floor on this machine, measured in the cpu scenario beside the stores:
 * `bare`, the same shop without the middleware; `raw`, that shop sending each order's POST
 * fire-and-forget with plain node:http (no retry, no queue, no accounting).
 */
const FLOORS = ['bare', 'raw'] as const
/**
 * `redisB` / `sqliteB`: the Redis / SQLite store again, its shop started with `--variant-env K=V[,K=V]` in its
 * environment, for an A/B of an experimental knob against `redis` / `sqlite` in the same rounds (only when
 * named in `--stores`).
 */
const VARIANTS = ['redisB', 'sqliteB'] as const
type Store = (typeof STORES)[number] | (typeof FLOORS)[number] | (typeof VARIANTS)[number]
const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}
/**
 * `--only cpu`: the cpu scenario alone; `--stores memory,redis`: a subset; `--rounds n`: rounds per
 * scenario; `--stores memory,redis,redisB --variant-env K=V`: an A/B of an environment knob (see
 * VARIANTS). Such a run writes bench/results/stores-partial.json. `BENCH_REDIS_COMMANDS=1` prints,
 * after each Redis run, every Redis command per order (the commands BullMQ's scripts run included).
 */
const only = flag('--only')
const chosen = (list: readonly Store[]): Store[] => {
  const wanted = flag('--stores')?.split(',')
  // The variants run only when named: without --variant-env they are their store again.
  return wanted
    ? list.filter((s) => wanted.includes(s))
    : list.filter((s) => !(VARIANTS as readonly Store[]).includes(s))
}
const buildDir = path.join(__dirname, '.build', 'stores')
const CHILDREN = ['shop', 'load', 'api', 'fill'] as const

const plan = quick
  ? { cpuRounds: 2, warmS: 1, measureS: 3, latencyRounds: 1, latencyS: 4, backlogRounds: 1, backlog: 3000 }
  : { cpuRounds: 5, warmS: 2, measureS: 8, latencyRounds: 3, latencyS: 10, backlogRounds: 5, backlog: 10_000 }
if (flag('--rounds')) plan.cpuRounds = plan.latencyRounds = plan.backlogRounds = Number(flag('--rounds'))

/**
 * On a machine of 2 cores or more, the shop gets core 0 to itself and everything else (this
 * process, the load generator, the fake API, redis-server: they inherit this process's affinity)
 * shares core 1, as on a real deployment where the shop does not share its core with its clients:
 * the shop's event-loop delay is then its own, not the load generator's preempting it.
 */
const pinned = availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0
function pin(pid: number | undefined, cpu: number): void {
  if (!pinned || pid === undefined) return
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
}

// Not this process's ts-node and --expose-gc: the children are plain bundled JavaScript.
const start = (script: (typeof CHILDREN)[number], env: Record<string, string> = {}): ChildProcess => {
  const child = forkBundle(path.join(buildDir, `${script}.js`), env)
  if (script === 'shop') pin(child.pid, 0)
  return child
}
const next = (child: ChildProcess, type: string): Promise<Message> => nextMessage<Message>(child, type)
const ask = (child: ChildProcess, message: Message, type: string): Promise<Message> =>
  askMessage<Message>(child, message, type)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** A deadline for a race: unref'd, so a deadline still pending does not hold the run open at its end. */
const deadline = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())
/** Each round starts with the next store, so no store always runs first (or last) in a round. */
const rotated = (round: number, list: readonly Store[]): Store[] =>
  list.map((_, i) => list[(i + round) % list.length] as Store)

let tmp = ''
let redis: RedisServer | undefined
let api: ChildProcess | undefined
let load: ChildProcess | undefined
let endpoint = ''
let prefixes = 0

/** A fresh place for one shop's queue: a new SQLite file or a new Redis key prefix. */
function storeEnv(store: Store): Record<string, string> {
  const id = `r${++prefixes}`
  const variant = Object.fromEntries(
    (flag('--variant-env') ?? '')
      .split(',')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  )
  if (store === 'sqlite') return { BENCH_STORE: store, BENCH_SQLITE_PATH: path.join(tmp, `${id}.db`) }
  if (store === 'sqliteB') return { BENCH_STORE: 'sqlite', BENCH_SQLITE_PATH: path.join(tmp, `${id}.db`), ...variant }
  if (store === 'redis') return { BENCH_STORE: store, BENCH_REDIS_URL: redis?.url ?? '', BENCH_REDIS_PREFIX: id }
  if (store === 'redisB')
    return { BENCH_STORE: 'redis', BENCH_REDIS_URL: redis?.url ?? '', BENCH_REDIS_PREFIX: id, ...variant }
  return { BENCH_STORE: store }
}

async function stopShop(shop: ChildProcess): Promise<void> {
  await ask(shop, { type: 'exit' }, 'closed').catch(() => undefined)
  if (shop.exitCode === null) await new Promise((resolve) => shop.once('exit', resolve))
}

interface LoadRun {
  /** Shop CPU over the whole run (ready → every touchpoint delivered) ÷ orders. */
  cpuPerOrderUs: number
  /** Shop CPU over the measured window ÷ orders in it (steady state, but blind to lagging delivery). */
  cpuPerOrderWindowUs: number
  /** Times the shop slept and was woken (voluntary context switches, whole run) ÷ orders. */
  wakesPerOrder: number
  /** Touchpoints that reached the API during the measured window ÷ orders in it. */
  deliveredInWindow: number
  delayP99Ms: number
  delayP50Ms: number
  latencyP50Ms: number
  latencyP99Ms: number
  orders: number
  delivered: number
  errors: number
  /** Redis store: BullMQ scripts (`EVALSHA`) the shop ran ÷ orders (`INFO commandstats`, whole run). */
  redisScriptsPerOrder?: number
}

/** The commands Redis has run since it started, by name (`INFO commandstats`'s `calls`). */
async function redisCommands(): Promise<Map<string, number>> {
  const client = new IORedis(redis?.url ?? '', { lazyConnect: true })
  try {
    await client.connect()
    const info = await client.info('commandstats')
    const calls = new Map<string, number>()
    for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) calls.set(m[1] ?? '', Number(m[2]))
    return calls
  } finally {
    client.disconnect()
  }
}

/** One shop on `store` at `rate` orders/s: warm-up, measured window, then every touchpoint delivered. */
async function loadRun(store: Store, rate: number, warmS: number, measureS: number, tag: string): Promise<LoadRun> {
  if (!api || !load) throw new Error('not started')
  await ask(api, { type: 'reset' }, 'ack')
  const commandsBefore = store === 'redis' || store === 'redisB' ? await redisCommands() : undefined
  const shop = start('shop', { ...storeEnv(store), BENCH_ENDPOINT: endpoint })
  const { port } = await next(shop, 'ready')
  const done = next(load, 'load-done')
  load.send({ type: 'load', port, rate, seconds: warmS + measureS + 0.5, prefix: tag })
  await sleep(warmS * 1000)
  await ask(api, { type: 'window', fromUs: nowUs() }, 'ack')
  const before = (await ask(api, { type: 'report' }, 'report')).count as number
  await ask(shop, { type: 'measure-start' }, 'ack')
  await sleep(measureS * 1000)
  const measured = await ask(shop, { type: 'measure-stop' }, 'measured')
  const after = (await ask(api, { type: 'report' }, 'report')).count as number
  const { sent, errors } = (await done) as unknown as { sent: number; errors: number }
  const reached =
    store === 'bare'
      ? true
      : await Promise.race([ask(api, { type: 'expect', count: sent }, 'reached'), deadline(30_000)])
  if (reached === undefined) console.warn(`  ${store}: not every touchpoint arrived within 30 s`)
  const report = (await ask(api, { type: 'report' }, 'report')) as unknown as { count: number; latenciesUs: number[] }
  const total = (await ask(shop, { type: 'cpu-total' }, 'cpu-total')) as unknown as {
    cpuMicros: number
    requests: number
    wakes: number
  }
  await stopShop(shop)
  let commands: number | undefined
  if (commandsBefore !== undefined) {
    const diff = [...(await redisCommands())]
      .map(([name, calls]) => [name, calls - (commandsBefore.get(name) ?? 0)] as const)
      .filter(([name, calls]) => calls > 0 && name !== 'info')
    // The shop's own commands are BullMQ's scripts (the commands they run count too: not those).
    commands = diff.find(([name]) => name === 'evalsha')?.[1] ?? 0
    if (process.env.BENCH_REDIS_COMMANDS) console.log(diff.map(([n, c]) => `${n} ${(c / sent).toFixed(2)}`).join(', '))
  }
  const latenciesMs = report.latenciesUs.map((us) => us / 1000)
  const m = measured as unknown as { cpuMicros: number; requests: number; delayP50Ms: number; delayP99Ms: number }
  return {
    cpuPerOrderUs: total.cpuMicros / total.requests,
    cpuPerOrderWindowUs: m.cpuMicros / m.requests,
    wakesPerOrder: total.wakes / total.requests,
    deliveredInWindow: (after - before) / m.requests,
    delayP50Ms: m.delayP50Ms,
    delayP99Ms: m.delayP99Ms,
    latencyP50Ms: percentile(latenciesMs, 50),
    latencyP99Ms: percentile(latenciesMs, 99),
    orders: sent,
    delivered: report.count,
    errors,
    ...(commands === undefined ? {} : { redisScriptsPerOrder: commands / sent }),
  }
}

interface BacklogRun {
  firstDeliveryMs: number
  firstAfterCreatedMs: number
  allDeliveredMs: number
  throughputPerS: number
}

/** A shop process starts on `count` pending touchpoints, API healthy. */
async function backlogRun(store: Store, count: number): Promise<BacklogRun> {
  if (!api) throw new Error('not started')
  const env = storeEnv(store)
  if (store !== 'memory') {
    const fill = start('fill', { ...env, BENCH_FILL: String(count) })
    const { added } = await next(fill, 'filled')
    if (added !== count) throw new Error(`${store}: filled ${String(added)} of ${count}`)
  } else {
    env.BENCH_PRELOAD = String(count)
  }
  await ask(api, { type: 'reset' }, 'ack')
  const forkedUs = nowUs()
  const shop = start('shop', { ...env, BENCH_ENDPOINT: endpoint })
  const reached = ask(api, { type: 'expect', count }, 'reached')
  const { createdUs } = (await next(shop, 'ready')) as unknown as { createdUs: number }
  const { first, last } = (await Promise.race([
    reached,
    deadline(120_000).then(() => Promise.reject(new Error(`${store}: backlog not delivered in 120 s`))),
  ])) as unknown as { first: number; last: number }
  await stopShop(shop)
  return {
    firstDeliveryMs: (first - forkedUs) / 1000,
    firstAfterCreatedMs: (first - createdUs) / 1000,
    allDeliveredMs: (last - forkedUs) / 1000,
    throughputPerS: count / ((last - first) / 1e6),
  }
}

type Rounds<T> = Record<Store, T[]>
const rounds = <T>(): Rounds<T> => ({ memory: [], sqlite: [], redis: [], bare: [], raw: [], redisB: [], sqliteB: [] })
const med = <T>(runs: T[], key: keyof T): number => median(runs.map((r) => r[key] as number))
const spr = <T>(runs: T[], key: keyof T): number => spread(runs.map((r) => r[key] as number))
const f = (n: number, digits = 2): number => Number(n.toFixed(digits))

async function main(): Promise<void> {
  bundle(
    CHILDREN.map((c) => path.join(__dirname, 'stores', `${c}.ts`)),
    buildDir,
  )
  tmp = mkdtempSync(path.join(tmpdir(), 'bench-stores-'))
  pin(process.pid, 1)
  console.log(
    pinned
      ? 'shop on core 0; load generator, fake API and Redis on core 1'
      : 'processes not pinned (one core, or no taskset)',
  )
  redis = await RedisServer.start()
  api = start('api')
  endpoint = (await next(api, 'ready')).endpoint as string
  load = start('load')
  await next(load, 'ready')
  const began = Date.now()

  const cpu = rounds<LoadRun>()
  for (let r = 0; r < (only && only !== 'cpu' ? 0 : plan.cpuRounds); r++) {
    for (const store of rotated(r, chosen([...STORES, ...FLOORS, ...VARIANTS]))) {
      const run = await loadRun(store, 500, plan.warmS, plan.measureS, `cpu${r}${store}`)
      cpu[store].push(run)
      console.log(
        `cpu ${r + 1}/${plan.cpuRounds} ${store.padEnd(6)} ${run.cpuPerOrderUs.toFixed(0)} µs/order ` +
          `(window ${run.cpuPerOrderWindowUs.toFixed(0)} µs, ${run.wakesPerOrder.toFixed(2)} wake-ups, delivered ${(run.deliveredInWindow * 100).toFixed(0)} % of its orders), ` +
          `loop delay p99 ${run.delayP99Ms.toFixed(2)} ms, order→API p99 ${run.latencyP99Ms.toFixed(1)} ms, ` +
          `${run.delivered}/${run.orders} delivered, ${run.errors} errors` +
          (run.redisScriptsPerOrder === undefined
            ? ''
            : `, ${run.redisScriptsPerOrder.toFixed(2)} Redis scripts/order`),
      )
    }
  }
  const latency = rounds<LoadRun>()
  for (let r = 0; r < (only && only !== 'latency' ? 0 : plan.latencyRounds); r++) {
    for (const store of rotated(r, chosen([...STORES, ...VARIANTS]))) {
      const run = await loadRun(store, 200, plan.warmS, plan.latencyS, `lat${r}${store}`)
      latency[store].push(run)
      console.log(
        `latency ${r + 1}/${plan.latencyRounds} ${store.padEnd(6)} order→API p50 ${run.latencyP50Ms.toFixed(1)} ms, ` +
          `p99 ${run.latencyP99Ms.toFixed(1)} ms, ${run.delivered}/${run.orders} delivered`,
      )
    }
  }
  const backlog = rounds<BacklogRun>()
  for (let r = 0; r < (only && only !== 'backlog' ? 0 : plan.backlogRounds); r++) {
    for (const store of rotated(r, chosen([...STORES, ...VARIANTS]))) {
      const run = await backlogRun(store, plan.backlog)
      backlog[store].push(run)
      console.log(
        `backlog ${r + 1}/${plan.backlogRounds} ${store.padEnd(6)} first delivery ${run.firstDeliveryMs.toFixed(0)} ms ` +
          `after the fork (${run.firstAfterCreatedMs.toFixed(0)} ms after the middleware was created), ` +
          `${plan.backlog} in ${run.allDeliveredMs.toFixed(0)} ms, ${run.throughputPerS.toFixed(0)}/s`,
      )
    }
  }

  const cpuMemory = med(cpu.memory, 'cpuPerOrderUs')
  const tputMemory = med(backlog.memory, 'throughputPerS')
  const measures = [
    {
      measure: 'Shop CPU per order, SQLite ÷ memory, 500 orders/s',
      result: f(med(cpu.sqlite, 'cpuPerOrderUs') / cpuMemory),
      target: '≤ 1.10',
      met: med(cpu.sqlite, 'cpuPerOrderUs') / cpuMemory <= 1.1,
    },
    {
      measure: 'Event-loop delay p99, SQLite store, 500 orders/s (ms)',
      result: f(med(cpu.sqlite, 'delayP99Ms')),
      baseline: {
        memory: f(med(cpu.memory, 'delayP99Ms')),
        bare: f(med(cpu.bare, 'delayP99Ms')),
        raw: f(med(cpu.raw, 'delayP99Ms')),
      },
      target: '≤ 2',
      met: med(cpu.sqlite, 'delayP99Ms') <= 2,
    },
    {
      measure: `Restart on ${plan.backlog} pending (SQLite): first delivery after the fork (ms)`,
      result: f(med(backlog.sqlite, 'firstDeliveryMs'), 0),
      target: '≤ 1000',
      met: med(backlog.sqlite, 'firstDeliveryMs') <= 1000,
    },
    {
      measure: `Restart on ${plan.backlog} pending: SQLite throughput ÷ memory`,
      result: f(med(backlog.sqlite, 'throughputPerS') / tputMemory),
      target: '≥ 0.80',
      met: med(backlog.sqlite, 'throughputPerS') / tputMemory >= 0.8,
    },
    {
      measure: 'Shop CPU per order, Redis ÷ memory, 500 orders/s',
      result: f(med(cpu.redis, 'cpuPerOrderUs') / cpuMemory),
      target: '≤ 1.7',
      met: med(cpu.redis, 'cpuPerOrderUs') / cpuMemory <= 1.7,
      // What the Redis store asks of Redis per order (BullMQ scripts: an add, a fetch and a completion at most).
      detail: { redisScriptsPerOrder: f(med(cpu.redis, 'redisScriptsPerOrder')) },
    },
    {
      measure: 'Delivery throughput, Redis (one worker) ÷ memory',
      result: f(med(backlog.redis, 'throughputPerS') / tputMemory),
      target: '≥ 0.6',
      met: med(backlog.redis, 'throughputPerS') / tputMemory >= 0.6,
    },
    // The A/B variants: each against the memory store, as its store is (see VARIANTS).
    ...(
      [
        ['redisB', 'Redis'],
        ['sqliteB', 'SQLite'],
      ] as const
    ).flatMap(([variant, name]) => [
      {
        measure: `Shop CPU per order, ${name} variant B (${flag('--variant-env') ?? ''}) ÷ memory`,
        result: f(med(cpu[variant], 'cpuPerOrderUs') / cpuMemory),
        target: `A/B against ${name}`,
        met: null,
      },
      {
        measure: `Delivery throughput, ${name} variant B (${flag('--variant-env') ?? ''}) ÷ memory`,
        result: f(med(backlog[variant], 'throughputPerS') / tputMemory),
        target: `A/B against ${name}`,
        met: null,
      },
    ]),
    {
      measure: 'Order → API latency p99, Redis store, 200 orders/s (ms)',
      result: f(med(latency.redis, 'latencyP99Ms'), 1),
      baseline: { memory: f(med(latency.memory, 'latencyP99Ms'), 1) },
      target: '≤ 50',
      met: med(latency.redis, 'latencyP99Ms') <= 50,
    },
  ]
  // `--only` / `--stores` leave some measures without runs: report those that were measured.
  const measured = measures.filter((m) => Number.isFinite(m.result))
  const summary = (runs: Rounds<LoadRun> | Rounds<BacklogRun>, keys: string[]): Record<string, unknown> =>
    Object.fromEntries(
      [...STORES, ...FLOORS, ...VARIANTS].map((store) => [
        store,
        Object.fromEntries(
          keys.map((key) => {
            const list = runs[store] as unknown as Record<string, number>[]
            return [
              key,
              { median: f(med(list, key)), spread: f(spr(list, key)), rounds: list.map((x) => f(x[key] ?? NaN)) },
            ]
          }),
        ),
      ]),
    )
  const result = {
    date: new Date().toISOString(),
    quick,
    pinned,
    node: process.version,
    plan,
    durationS: Math.round((Date.now() - began) / 1000),
    measures: measured,
    cpu500: summary(cpu, [
      'cpuPerOrderUs',
      'cpuPerOrderWindowUs',
      'deliveredInWindow',
      'delayP50Ms',
      'delayP99Ms',
      'latencyP99Ms',
    ]),
    latency200: summary(latency, ['latencyP50Ms', 'latencyP99Ms']),
    backlog: summary(backlog, ['firstDeliveryMs', 'firstAfterCreatedMs', 'allDeliveredMs', 'throughputPerS']),
  }
  console.table(measured.map(({ measure, result: value, target, met }) => ({ measure, result: value, target, met })))
  // A focused run (--only, --stores, --rounds) writes beside the full run's figures, not over them.
  const focused = only !== undefined || flag('--stores') !== undefined || flag('--rounds') !== undefined
  const out = path.join(
    __dirname,
    'results',
    quick ? 'stores-quick.json' : focused ? 'stores-partial.json' : 'stores.json',
  )
  mkdirSync(path.dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  console.log(`wrote ${path.relative(process.cwd(), out)} (${result.durationS} s)`)
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const child of [api, load]) child?.send({ type: 'exit' })
    await redis?.close()
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  })
