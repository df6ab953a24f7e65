/**
 * A shop as its own process, with the middleware on one store (BENCH_STORE: memory, sqlite or
 * redis). It measures its own CPU time and event-loop delay between measure-start and
 * measure-stop. Each order's confirmation (monotonic µs) is stamped into its email, so the fake
 * API can tell the order → API latency. BENCH_PRELOAD=n (memory store) puts n touchpoints into
 * the store as the middleware opens it: the memory store's counterpart of a durable store that
 * restarts with n pending.
 */
import type { AddressInfo } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import express from 'express'
import pino from 'pino'
import { memoryStore, transactionaleTouchpoint, type AnyStore, type TouchpointStore } from '../../src'
import { sqliteStore } from '../../src/sqlite'
import { redisStore } from '../../src/redis'
import { rawPoster } from '../raw-post'
import { nowUs, send, wireBody, type Message } from './messages'

const startedUs = nowUs()
const kind = process.env.BENCH_STORE ?? 'memory'
const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

function withPreload(inner: TouchpointStore, count: number): TouchpointStore {
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'open') {
        return async (context: Parameters<TouchpointStore['open']>[0]) => {
          await target.open(context)
          const now = Date.now()
          for (let i = 0; i < count; i++) {
            await target.add({
              body: wireBody(`pre-${i}`, 0),
              orderId: `pre-${i}`,
              dedupeKey: undefined,
              receivedAt: now,
            })
          }
        }
      }
      const value: unknown = Reflect.get(target, key)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

const store: AnyStore =
  kind === 'sqlite'
    ? sqliteStore({ path: env('BENCH_SQLITE_PATH') })
    : kind === 'redis'
      ? redisStore({ connection: env('BENCH_REDIS_URL'), prefix: env('BENCH_REDIS_PREFIX') })
      : withPreload(memoryStore(), Number(process.env.BENCH_PRELOAD ?? 0))

/** `bare` and `raw` (the floors in bench/stores.ts): a shop without the middleware. */
const floor = kind === 'bare' || kind === 'raw'
const touchpoint = transactionaleTouchpoint({
  apiKey: 'bench-key',
  route: '/checkout',
  endpoint: env('BENCH_ENDPOINT'),
  logger: pino({ level: 'silent' }),
  store,
  queue: { maxSize: 100_000 },
})
const createdUs = nowUs()

const app = express()
if (!floor) app.use(touchpoint)
const rawPost = rawPoster(env('BENCH_ENDPOINT'), 'bench-key')
app.use(express.json())
let requests = 0
app.post('/checkout', (req, res) => {
  requests++
  const id = (req.body as { id: string }).id
  res.locals.transactionale = {
    orderId: id,
    email: `${id}-${nowUs()}@example.org`,
    firstName: 'Bench',
    country: 'IT',
    zipCode: '00100',
  }
  if (kind === 'raw') {
    const body = wireBody(id, nowUs())
    res.on('finish', () => rawPost(body))
  }
  res.status(201).json({ ok: true, id })
})

// The whole run's CPU, from ready to every touchpoint delivered (`cpu-total`): the measured window
// alone undercounts a store whose delivery lags behind the orders.
let cpuAtReady = process.cpuUsage()
// Times the process went to sleep and was woken (voluntary context switches): each costs CPU of its own.
let wakesAtReady = process.resourceUsage().voluntaryContextSwitches
const server = app.listen(0, '127.0.0.1', () => {
  cpuAtReady = process.cpuUsage()
  wakesAtReady = process.resourceUsage().voluntaryContextSwitches
  send({ type: 'ready', port: (server.address() as AddressInfo).port, startedUs, createdUs })
})
server.keepAliveTimeout = 60_000

// Resolution 1 ms: each sample is the time between two 1 ms timers, so the delay is the value − 1 ms.
const RESOLUTION_MS = 1
const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
let cpuStart = process.cpuUsage()
let wallStart = Date.now()
let requestsStart = 0

process.on('message', (message: Message) => {
  if (message.type === 'measure-start') {
    cpuStart = process.cpuUsage()
    wallStart = Date.now()
    requestsStart = requests
    delay.reset()
    delay.enable()
    send({ type: 'ack' })
  } else if (message.type === 'measure-stop') {
    const cpu = process.cpuUsage(cpuStart)
    delay.disable()
    send({
      type: 'measured',
      cpuMicros: cpu.user + cpu.system,
      requests: requests - requestsStart,
      wallMs: Date.now() - wallStart,
      delayP50Ms: delay.percentile(50) / 1e6 - RESOLUTION_MS,
      delayP99Ms: delay.percentile(99) / 1e6 - RESOLUTION_MS,
      delayMaxMs: delay.max / 1e6 - RESOLUTION_MS,
    })
  } else if (message.type === 'cpu-total') {
    const cpu = process.cpuUsage(cpuAtReady)
    const wakes = process.resourceUsage().voluntaryContextSwitches - wakesAtReady
    send({ type: 'cpu-total', cpuMicros: cpu.user + cpu.system, requests, wakes })
  } else if (message.type === 'exit') {
    void touchpoint.close({ timeoutMs: 1000 }).then((summary) => {
      send({ type: 'closed', summary })
      process.exit(0)
    })
  }
})
