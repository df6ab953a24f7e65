/**
 * Prometheus metrics of one middleware: counters and gauges read from `stats()` when the registry is
 * scraped (so they can never disagree with it), histograms fed by the observation seam after each
 * HTTP attempt. prom-client is loaded here, at call time, and nowhere else.
 */
import type { Counter, Gauge, Histogram, Registry, RegistryContentType } from 'prom-client'
import type { OutageState } from '../delivery/outage'
import type { DropReason } from '../hooks'
import type { Outcome } from '../ledger'
import type { TouchpointMiddleware, TouchpointStats } from '../middleware'
import { OBSERVE } from '../observe'
import { loadPromClient, metricsError } from './prom-client'
import { CONFIG_ERROR_CODES } from '../errors'
import { parseOptions, spec, type OptionSpec, type Resolved } from '../option-parser'

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /**
   * The prom-client registry to add the metrics to: `new Registry()`, or the registry your `/metrics`
   * route serves. Defaults to prom-client's global `register` (the one `collectDefaultMetrics()`
   * fills), as resolved from this package — pass your own `register` if your app could load a
   * different copy of prom-client. A registry in the OpenMetrics format works too.
   */
  register?: Registry<RegistryContentType>
  /**
   * Put before every metric name: lower-case snake_case ending in `_`, or `''` for none. Use another
   * prefix to register the metrics of a second middleware in the same registry (or, better, a
   * second registry). Defaults to `'transactionale_'`.
   */
  prefix?: string
}

/** What {@link registerMetrics} returns. */
export interface TouchpointMetrics {
  /**
   * Removes the metrics from the registry and detaches them from the middleware (the histograms
   * stop observing). Calling it again does nothing; afterwards `registerMetrics` may be called again.
   */
  unregister(): void
}

/** Replaceable parts of {@link registerMetrics}, for tests. */
export interface MetricsDeps {
  /** Loads prom-client. Defaults to requiring it from beside this package. */
  readonly load?: () => unknown
}

/** What `registerMetrics` needs of a middleware: its counters and its observation seam. */
export type MeasuredTouchpoint = Pick<TouchpointMiddleware, 'stats' | typeof OBSERVE>

/** The defaults of {@link MetricsOptions}. */
export const METRICS_DEFAULTS = { prefix: 'transactionale_' } as const

/**
 * Buckets of `attempt_duration_seconds`, in seconds: 5 ms (a nearby API answering at once) to 30 s
 * (three times the default `timeoutMs`); slower attempts land in `+Inf`.
 */
export const ATTEMPT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * Buckets of `order_to_delivered_seconds`, in seconds: the attempt buckets, then minutes to an hour,
 * because this latency includes retries (backoff up to `retry.maxDelayMs`, 30 s by default) and
 * outage pauses (a `Retry-After` up to `retry.maxRetryAfterMs`, 5 min by default).
 */
export const ORDER_TO_DELIVERED_BUCKETS: readonly number[] = [...ATTEMPT_BUCKETS, 60, 120, 300, 600, 1800, 3600]

/**
 * The metric names without the prefix, with their help text: one table, so the names are defined,
 * checked for collisions and removed in one place.
 */
const METRICS = {
  touchpoints: ['touchpoints_total', 'Orders settled, by outcome of the ledger (each order ends in exactly one).'],
  skipped: ['touchpoints_skipped_total', 'Orders skipped by design, by reason (sums to outcome="skipped").'],
  dropped: ['touchpoints_dropped_total', 'Touchpoints dropped before delivery, by reason (sums to outcome="dropped").'],
  received: ['touchpoints_received_total', 'Orders seen: watched responses on the order route that ended.'],
  retried: ['attempts_retried_total', 'HTTP attempts that failed in a retryable way and will be tried again.'],
  queued: [
    'queued',
    "This process's touchpoints waiting to be sent: being stored, and with the memory store queued or waiting for a retry (a durable store's count in store_waiting).",
  ],
  inFlight: ['in_flight', 'HTTP attempts to the Transactionale API under way.'],
  limit: ['concurrency_limit', 'Requests allowed in flight now (0 while paused, 1 while probing).'],
  outage: ['outage_state', 'Delivery state: 1 for the current state (open, paused or probing), 0 for the others.'],
  storeWaiting: ['store_waiting', 'Touchpoints waiting in the store (of every process, for a shared durable store).'],
  deadLetters: ['dead_letters', 'Dead letters the store holds (failed touchpoints kept for a retry by hand).'],
  attempt: ['attempt_duration_seconds', 'Duration of HTTP attempts to the Transactionale API, by verdict.'],
  delivered: ['order_to_delivered_seconds', "From the end of the order's response to the API's 2xx, retries included."],
} as const satisfies Record<string, readonly [string, string]>

/** Ledger outcome → its `outcome` label value (snake_case). Adding an outcome to the ledger fails to compile here. */
const OUTCOME_LABELS = {
  skipped: 'skipped',
  invalid: 'invalid',
  deduped: 'deduped',
  sent: 'sent',
  failed: 'failed',
  dropped: 'dropped',
  dryRun: 'dry_run',
} as const satisfies Record<Outcome, string>

const DROP_REASONS = Object.keys({
  queue_full: true,
  closed: true,
  shutdown: true,
  store_error: true,
  store_unavailable: true,
} satisfies Record<DropReason, true>) as DropReason[]

type SkipCountReason = Exclude<keyof TouchpointStats['skipped'], 'total'>
const SKIP_REASONS = Object.keys({ status: true, no_customer: true } satisfies Record<
  SkipCountReason,
  true
>) as SkipCountReason[]

const OUTAGE_STATES = Object.keys({ open: true, paused: true, probing: true } satisfies Record<
  OutageState,
  true
>) as OutageState[]

const VERDICTS = ['delivered', 'retry', 'final'] as const

const PREFIX = /^(?:[a-z][a-z0-9_]*_)?$/

/**
 * Registers Prometheus metrics of a touchpoint middleware in a prom-client registry (prom-client is an
 * optional peer dependency: `npm install prom-client`). Names below use the default prefix
 * `transactionale_`.
 *
 * Counters — read from `stats()` at scrape time, never decreasing:
 * - `transactionale_touchpoints_total{outcome}`: orders settled, one series per outcome of the
 *   ledger: `skipped`, `invalid`, `deduped`, `sent`, `failed`, `dropped`, `dry_run`. Summed over
 *   `outcome` it is every order that has ended, so `rate()` ratios such as failed / all need no
 *   other metric.
 * - `transactionale_touchpoints_skipped_total{reason}` (`status`, `no_customer`) and
 *   `transactionale_touchpoints_dropped_total{reason}` (`queue_full`, `closed`, `shutdown`,
 *   `store_error`, `store_unavailable`): the breakdowns of two outcomes. They are separate metrics rather than a `reason`
 *   label on `touchpoints_total` so that every series of `touchpoints_total` has the same labels,
 *   `sum(touchpoints_total)` counts each order once, and each breakdown sums exactly to its outcome.
 * - `transactionale_touchpoints_received_total`: orders seen. It equals the sum of
 *   `touchpoints_total` plus the orders still pending (`queued`, `in_flight`, being mapped).
 * - `transactionale_attempts_retried_total`: attempts that failed in a retryable way (a 5xx, a 429,
 *   a timeout, a network error) and will be tried again — a rising rate is the first sign of trouble.
 *
 * Gauges — read from `stats()` at scrape time:
 * - `transactionale_queued`, `transactionale_in_flight`: this process's waiting touchpoints and
 *   HTTP attempts under way.
 * - `transactionale_concurrency_limit`: requests allowed in flight now (0 while paused, 1 while
 *   probing).
 * - `transactionale_outage_state{state}`: a state set, `1` for the current state (`open`, `paused`,
 *   `probing`) and `0` for the others — alert on `transactionale_outage_state{state="paused"} == 1`.
 * - `transactionale_store_waiting`, `transactionale_dead_letters`: what the store holds. A shared
 *   durable store reports the same backlog from every process: aggregate it with `max`, not `sum`.
 *
 * Histograms — observed after each HTTP attempt, from the moment of this call:
 * - `transactionale_attempt_duration_seconds{verdict}`: each attempt's duration, by verdict:
 *   `delivered` (2xx), `retry` (to be tried again, or attempts exhausted) or `final` (a final 4xx).
 *   Its `_count` summed over `verdict` is the number of HTTP requests sent. Buckets: {@link ATTEMPT_BUCKETS}.
 * - `transactionale_order_to_delivered_seconds`: from the end of the order's response to the API's
 *   2xx, retries and pauses included. Buckets: {@link ORDER_TO_DELIVERED_BUCKETS}.
 *
 * Counters and gauges of one scrape come from one `stats()` snapshot, so they add up. The counters
 * count since the middleware was created; the histograms since this call. No label ever holds
 * customer data, an order id or the API key.
 *
 * @param touchpoint The middleware returned by `transactionaleTouchpoint()`.
 * @param options The registry (default: prom-client's global `register`) and the name prefix
 *   (default: `transactionale_`).
 * @param deps Replaceable parts, for tests.
 * @returns A handle whose `unregister()` removes the metrics and detaches them from the middleware.
 * @throws {TouchpointConfigError} with code `ERR_TOUCHPOINT_METRICS` when prom-client is not
 *   installed, when an argument is wrong, or when metrics of this name are already registered in the
 *   registry (call `unregister()` on the earlier handle, or choose another `prefix` or `register`).
 * @example
 * import express from 'express'
 * import { collectDefaultMetrics, register } from 'prom-client'
 * import { transactionaleTouchpoint } from 'express-transactionale'
 * import { registerMetrics } from 'express-transactionale/metrics'
 *
 * const touchpoint = transactionaleTouchpoint({ apiKey: process.env.TRANSACTIONALE_API_KEY!, route: '/checkout' })
 * collectDefaultMetrics()
 * registerMetrics(touchpoint) // into prom-client's global register
 *
 * const app = express()
 * app.use(touchpoint)
 * app.get('/metrics', async (_req, res) => {
 *   res.type(register.contentType).send(await register.metrics())
 * })
 */
export function registerMetrics(
  touchpoint: MeasuredTouchpoint,
  options: MetricsOptions = {},
  deps: MetricsDeps = {},
): TouchpointMetrics {
  checkTouchpoint(touchpoint)
  const { register: given, prefix } = parseMetricsOptions(options)
  const prom = loadPromClient(deps.load)
  const register = given ?? prom.register
  const name = (key: keyof typeof METRICS): string => `${prefix}${METRICS[key][0]}`
  const help = (key: keyof typeof METRICS): string => METRICS[key][1]

  const taken = (Object.keys(METRICS) as (keyof typeof METRICS)[])
    .map(name)
    .filter((n) => register.getSingleMetric(n) !== undefined)
  if (taken.length > 0)
    throw metricsError(
      'metrics.register',
      `this registry already has ${taken.map((n) => `"${n}"`).join(', ')}: registerMetrics() was called twice for it ` +
        '(call unregister() on the handle the first call returned), or another middleware or library uses these names ' +
        '(pass another `prefix`, or another `register`)',
    )

  const snapshot = snapshots(touchpoint)

  /** A counter whose series are the ledger's numbers at scrape time; `read` gives one number per label value. */
  const counter = (
    key: keyof typeof METRICS,
    label: string | undefined,
    read: (s: TouchpointStats) => Record<string, number>,
  ): Counter => {
    // The ledger's counts only grow; the high-water mark keeps that promise even if a snapshot did not.
    const highest = new Map<string, number>()
    const metric: Counter = new prom.Counter({
      name: name(key),
      help: help(key),
      labelNames: label === undefined ? [] : [label],
      registers: [],
      collect() {
        // Rebuilt from the ledger each scrape, so a `register.resetMetrics()` cannot leave it behind.
        metric.reset()
        for (const [value, count] of Object.entries(read(snapshot()))) {
          const total = Math.max(highest.get(value) ?? 0, count)
          highest.set(value, total)
          if (label === undefined) metric.inc(total)
          else metric.inc({ [label]: value }, total)
        }
      },
    })
    return metric
  }

  /** A gauge set from the snapshot at scrape time. */
  const gauge = (key: keyof typeof METRICS, read: (s: TouchpointStats) => number): Gauge =>
    new prom.Gauge({
      name: name(key),
      help: help(key),
      registers: [],
      collect() {
        this.set(read(snapshot()))
      },
    })

  const attempts: Histogram<'verdict'> = new prom.Histogram({
    name: name('attempt'),
    help: help('attempt'),
    labelNames: ['verdict'],
    buckets: [...ATTEMPT_BUCKETS],
    registers: [],
  })
  // Every verdict from the first scrape on, so rate() and ratios work before the first failure.
  for (const verdict of VERDICTS) attempts.zero({ verdict })
  const delivered: Histogram = new prom.Histogram({
    name: name('delivered'),
    help: help('delivered'),
    buckets: [...ORDER_TO_DELIVERED_BUCKETS],
    registers: [],
  })

  // One per entry of METRICS, checked by the compiler.
  const metrics = {
    touchpoints: counter('touchpoints', 'outcome', (s) =>
      Object.fromEntries(
        Object.entries(OUTCOME_LABELS).map(([outcome, label]) => [label, outcomeCount(s, outcome as Outcome)]),
      ),
    ),
    skipped: counter('skipped', 'reason', (s) => Object.fromEntries(SKIP_REASONS.map((r) => [r, s.skipped[r]]))),
    dropped: counter('dropped', 'reason', (s) => Object.fromEntries(DROP_REASONS.map((r) => [r, s.dropped[r]]))),
    received: counter('received', undefined, (s) => ({ '': s.received })),
    retried: counter('retried', undefined, (s) => ({ '': s.retried })),
    queued: gauge('queued', (s) => s.queued),
    inFlight: gauge('inFlight', (s) => s.inFlight),
    limit: gauge('limit', (s) => s.limit),
    outage: new prom.Gauge({
      name: name('outage'),
      help: help('outage'),
      labelNames: ['state'],
      registers: [],
      collect() {
        const { state } = snapshot()
        for (const s of OUTAGE_STATES) this.set({ state: s }, s === state ? 1 : 0)
      },
    }),
    storeWaiting: gauge('storeWaiting', (s) => s.store.waiting),
    deadLetters: gauge('deadLetters', (s) => s.store.deadLetters),
    attempt: attempts,
    delivered,
  } satisfies Record<keyof typeof METRICS, Counter | Gauge | Histogram>
  // The registry key of each; prom-client rewrites a counter's `.name` when it writes OpenMetrics.
  const entries = Object.entries(metrics).map(([key, metric]) => [name(key as keyof typeof METRICS), metric] as const)
  // All built before any is registered: a failure above leaves the registry as it was.
  for (const [, metric] of entries) register.registerMetric(metric)

  const detach = touchpoint[OBSERVE]({
    attempt: (o) => attempts.observe({ verdict: o.verdict }, o.durationMs / 1000),
    delivered: (latencyMs) => delivered.observe(latencyMs / 1000),
  })

  let registered = true
  return {
    unregister() {
      if (!registered) return
      registered = false
      detach()
      // Only ours: the registry may have been cleared and the name reused since.
      for (const [n, metric] of entries) if (register.getSingleMetric(n) === metric) register.removeSingleMetric(n)
    },
  }
}

/** The count of one outcome in a snapshot. */
function outcomeCount(s: TouchpointStats, outcome: Outcome): number {
  if (outcome === 'skipped') return s.skipped.total
  if (outcome === 'dropped') return s.dropped.total
  return s[outcome]
}

/**
 * `stats()` once per scrape: every collect of one `register.metrics()` runs in the same tick, so the
 * snapshot is kept until the next microtask. If `stats()` throws (a durable store that cannot be
 * read), the last good snapshot is served rather than failing the whole scrape of the app's metrics.
 */
function snapshots(touchpoint: MeasuredTouchpoint): () => TouchpointStats {
  let last = touchpoint.stats()
  let current: TouchpointStats | undefined
  return () => {
    if (current !== undefined) return current
    try {
      current = last = touchpoint.stats()
    } catch {
      current = last
    }
    queueMicrotask(() => (current = undefined))
    return current
  }
}

function checkTouchpoint(touchpoint: unknown): asserts touchpoint is MeasuredTouchpoint {
  const t = touchpoint as Partial<MeasuredTouchpoint> | null | undefined
  if (typeof t?.stats !== 'function' || typeof t[OBSERVE] !== 'function')
    throw metricsError(
      'metrics.touchpoint',
      'registerMetrics() takes the middleware that transactionaleTouchpoint() returned, as its first argument',
    )
}

/** The options of registerMetrics(): a default and a parser each. */
const METRICS_OPTION_TABLE = {
  register: spec("prom-client's global `register`", (value, report) => {
    if (value === undefined || isRegistry(value)) return value
    report("register must be a prom-client Registry: `new Registry()` or prom-client's `register`")
    return undefined
  }),
  prefix: spec(`\`'${METRICS_DEFAULTS.prefix}'\``, (value, report) => {
    const prefix = value ?? METRICS_DEFAULTS.prefix
    if (typeof prefix === 'string' && PREFIX.test(prefix)) return prefix
    report(
      `prefix ${JSON.stringify(prefix)} would make names that break Prometheus conventions: use lower-case snake_case ending in "_", such as "shop_transactionale_", or "" for none`,
    )
    return METRICS_DEFAULTS.prefix
  }),
} satisfies { readonly [K in keyof MetricsOptions]-?: OptionSpec<unknown> }

function parseMetricsOptions(options: unknown): Resolved<typeof METRICS_OPTION_TABLE> {
  return parseOptions(options, METRICS_OPTION_TABLE, {
    notAnObject: 'the options of registerMetrics() must be an object such as `{ register, prefix }`',
    code: () => CONFIG_ERROR_CODES.metrics,
    path: (path) => (path in METRICS_OPTION_TABLE ? `metrics.${path}` : 'metrics'),
  })
}

function isRegistry(value: unknown): value is Registry<RegistryContentType> {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  return (
    typeof r.registerMetric === 'function' &&
    typeof r.getSingleMetric === 'function' &&
    typeof r.removeSingleMetric === 'function'
  )
}
