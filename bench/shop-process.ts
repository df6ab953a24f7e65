/**
 * A shop as its own process, in one of five variants (BENCH_VARIANT):
 * - none:    no middleware at all;
 * - ours:    this package's middleware;
 * - minimal: the least possible work for the same job: after the response, a fire-and-forget
 *            node:http keep-alive POST of the same JSON;
 * - naive:   the documented snippet's way: await the HTTP call (axios) inside the route handler.
 * It measures its own CPU time between measure-start and measure-stop, and when each order's
 * response finished (monotonic clock), for the order → API latency. For the adaptive-concurrency
 * scenarios, `BENCH_CONCURRENCY` ('auto' or a number) and `BENCH_MAX_CONCURRENCY` set
 * `queue.concurrency` and `queue.maxConcurrency`; `sample-delivery` samples stats() and
 * `BENCH_TRACE_LIMIT=1` records the 'concurrency limit changed' debug lines; `BENCH_STAMP=1` puts
 * the moment each order is confirmed (monotonic µs) into its email, `<id>-<µs>@example.org`, so the
 * fake API can tell each touchpoint's order → API latency.
 */
import type { AddressInfo } from 'node:net'
import axios from 'axios'
import express from 'express'
import pino from 'pino'
import { transactionaleTouchpoint, type Customer, type TouchpointMiddleware } from '../src'
import { nowNs, nowUs, send, type DeliverySample, type ToChild } from './ipc'
import { rawPoster } from './raw-post'

const variant = process.env.BENCH_VARIANT ?? 'none'
// Only the order → API latency measure needs each response's finish time; elsewhere recording it
// would grow the shop's memory and skew the outage figures.
const recordFinishes = process.env.BENCH_RECORD_FINISHES === '1'
const endpoint = process.env.BENCH_ENDPOINT ?? 'http://127.0.0.1:9/api/v1/transaction'
const apiKey = 'bench-key'

const app = express()
let touchpoint: TouchpointMiddleware | undefined
const limitChanges: [number, number, string][] = []
// Only the limit's changes are kept: the hook sees each debug call before pino serialises anything,
// and every other line is discarded unwritten.
const traceLimit = pino({
  level: 'debug',
  hooks: {
    logMethod(args) {
      const [fields, message] = args as unknown as [{ limit?: number; reason?: string }, string | undefined]
      if (message === 'concurrency limit changed')
        limitChanges.push([nowUs(), fields.limit ?? NaN, fields.reason ?? ''])
    },
  },
})
const concurrency = process.env.BENCH_CONCURRENCY
const maxConcurrency = process.env.BENCH_MAX_CONCURRENCY
if (variant === 'ours') {
  touchpoint = transactionaleTouchpoint({
    apiKey,
    route: '/checkout',
    endpoint,
    logger: process.env.BENCH_TRACE_LIMIT === '1' ? traceLimit : pino({ level: 'silent' }),
    ...(process.env.BENCH_DEDUPE_ENTRIES ? { dedupe: { maxEntries: Number(process.env.BENCH_DEDUPE_ENTRIES) } } : {}),
    ...(concurrency !== undefined || maxConcurrency !== undefined
      ? {
          queue: {
            ...(concurrency !== undefined
              ? { concurrency: concurrency === 'auto' ? 'auto' : Number(concurrency) }
              : {}),
            ...(maxConcurrency !== undefined ? { maxConcurrency: Number(maxConcurrency) } : {}),
          },
        }
      : {}),
  })
  app.use(touchpoint)
}
app.use(express.json())

const finishes: Record<string, number> = {}
let requests = 0
app.use((_req, res, next) => {
  requests++
  next()
})

const stamp = process.env.BENCH_STAMP === '1'
const stamps: number[] = []
const customerOf = (body: { id: string }, confirmedUs?: number): Customer => ({
  orderId: body.id,
  email: confirmedUs === undefined ? `${body.id}@example.org` : `${body.id}-${confirmedUs}@example.org`,
  firstName: 'Bench',
  country: 'IT',
  zipCode: '00100',
})

const rawPost = rawPoster(endpoint, apiKey)
// The snippet's way: a plain axios call, its own connection handling, awaited in the handler.
const naiveClient = axios.create({ timeout: 10_000 })

app.post('/checkout', async (req, res) => {
  const body = req.body as { id: string }
  let confirmedUs: number | undefined
  if (stamp) {
    confirmedUs = nowUs()
    stamps[Number(/-(\d+)$/.exec(body.id)?.[1])] = confirmedUs
  }
  const customer = customerOf(body, confirmedUs)
  if (recordFinishes) res.on('finish', () => (finishes[`${body.id}@example.org`] = Number(nowNs() / 1000n)))
  if (variant === 'ours') res.locals.transactionale = customer
  if (variant === 'minimal') {
    res.on('finish', () =>
      rawPost(
        JSON.stringify({ country: 'IT', email: customer.email, first_name: customer.firstName, zip_code: '00100' }),
      ),
    )
  }
  if (variant === 'naive') {
    try {
      await naiveClient.post(
        endpoint,
        { country: 'IT', email: customer.email, first_name: customer.firstName, zip_code: '00100' },
        { headers: { 'X-Authorization': apiKey } },
      )
    } catch {
      // The snippet's way: the shop answers anyway once the call has failed.
    }
  }
  res.status(201).json({ ok: true, id: body.id })
})
app.get('/products', (_req, res) => {
  res.json({ products: ['moka', 'espresso'] })
})

const server = app.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', port: (server.address() as AddressInfo).port })
})
server.keepAliveTimeout = 60_000

let cpuStart = process.cpuUsage()
let wallStart = Date.now()
let requestsStart = 0
let memoryTimer: NodeJS.Timeout | undefined
const memory: { t: number; rss: number; heapUsed: number; queued: number }[] = []
let deliveryTimer: NodeJS.Timeout | undefined
const delivery: DeliverySample[] = []

process.on('message', (message: ToChild) => {
  if (message.type === 'measure-start') {
    cpuStart = process.cpuUsage()
    wallStart = Date.now()
    requestsStart = requests
    send({ type: 'ack' })
  } else if (message.type === 'measure-stop') {
    const cpu = process.cpuUsage(cpuStart)
    send({
      type: 'measured',
      cpuMicros: cpu.user + cpu.system,
      requests: requests - requestsStart,
      wallMs: Date.now() - wallStart,
    })
  } else if (message.type === 'report-arrivals') {
    send({ type: 'finishes', finishes })
    for (const key of Object.keys(finishes)) delete finishes[key]
  } else if (message.type === 'sample-memory') {
    const started = Date.now()
    memoryTimer = setInterval(() => {
      const { rss, heapUsed } = process.memoryUsage()
      memory.push({ t: Date.now() - started, rss, heapUsed, queued: touchpoint?.stats().queued ?? 0 })
    }, message.everyMs)
    send({ type: 'ack' })
  } else if (message.type === 'sample-delivery') {
    deliveryTimer = setInterval(() => {
      const stats = touchpoint?.stats()
      if (stats === undefined) return
      const { limit, inFlight, queued, state } = stats
      delivery.push({ t: nowUs(), limit, inFlight, queued, state })
    }, message.everyMs)
    send({ type: 'ack' })
  } else if (message.type === 'report-delivery') {
    const stats = touchpoint?.stats()
    send({
      type: 'delivery',
      samples: delivery,
      changes: limitChanges,
      stamps,
      counts: {
        received: stats?.received ?? 0,
        sent: stats?.sent ?? 0,
        failed: stats?.failed ?? 0,
        dropped: stats?.dropped.total ?? 0,
        retried: stats?.retried ?? 0,
        queued: stats?.queued ?? 0,
        inFlight: stats?.inFlight ?? 0,
        limit: stats?.limit ?? 0,
        state: stats?.state ?? 'open',
      },
    })
  } else if (message.type === 'exit') {
    if (memoryTimer) clearInterval(memoryTimer)
    if (deliveryTimer) clearInterval(deliveryTimer)
    send({ type: 'memory', samples: memory })
    void (touchpoint?.close({ timeoutMs: 0 }) ?? Promise.resolve()).then(() => process.exit(0))
  }
})
