// Real processes for the Redis tests: shops and workers as children (test/helpers/child-shop), the
// hooks that end them (and clean the shared Redis) after each test, a load generator that posts
// orders at a fixed rate and records when each response arrived, and readers of what the fake API
// received.
import http from 'node:http'
import path from 'node:path'
import IORedis from 'ioredis'
import { startFakeTransactionaleApi, type FakeApiOptions, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { getJson as getJsonWith, postJson, startChildShop, type ChildShop, type Reply } from '../helpers/child-shop'
import { closeSharedRedis, deletePrefix, HAS_REDIS, sharedRedis, uniquePrefix } from './redis-server'

export type Child = ChildShop

/** Spawns `fixtures/<name>.ts` with `env`; resolves once it prints its ready line `{"port": n}`. */
export function startChild(name: 'redis-shop' | 'redis-worker', env: Record<string, string>): Promise<Child> {
  return startChildShop(path.join(__dirname, 'fixtures', `${name}.ts`), env)
}

/** What a test file on the shared Redis starts; everything is ended or removed for it. */
export interface SharedRedisTest {
  /** The Redis URL (REDIS_URL's, or the private server's); set before the first test. */
  readonly url: string
  /** A fresh key prefix, its keys deleted after the file. */
  prefix(name: string): string
  /** A fake Transactionale API, closed after the test. */
  api(options?: FakeApiOptions): Promise<FakeTransactionaleApi>
  /** A shop or worker process, SIGKILLed after the test. */
  start(name: 'redis-shop' | 'redis-worker', env: Record<string, string>): Promise<Child>
  /** A Redis client, disconnected after the test. */
  client(): IORedis
}

/** Registers a test file's hooks on the shared Redis (call it at the top level of the file). */
export function useSharedRedis(): SharedRedisTest {
  let url = ''
  const prefixes: string[] = []
  const children: Child[] = []
  const apis: FakeTransactionaleApi[] = []
  const clients: IORedis[] = []
  beforeAll(async () => {
    if (HAS_REDIS) url = await sharedRedis()
  })
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill()))
    await Promise.all(apis.splice(0).map((a) => a.close()))
    for (const client of clients.splice(0)) client.disconnect()
  })
  afterAll(async () => {
    if (!HAS_REDIS) return
    for (const prefix of prefixes.splice(0)) await deletePrefix(url, prefix)
    await closeSharedRedis()
  })
  return {
    get url() {
      return url
    },
    prefix(name) {
      const prefix = uniquePrefix(name)
      prefixes.push(prefix)
      return prefix
    },
    async api(options) {
      const api = await startFakeTransactionaleApi(options)
      apis.push(api)
      return api
    },
    async start(name, env) {
      const child = await startChild(name, env)
      children.push(child)
      return child
    },
    client() {
      const client = new IORedis(url)
      clients.push(client)
      return client
    },
  }
}

// Idle sockets are closed before the shop closes them (its keep-alive timeout is 5 s): reusing one the
// shop is closing would fail an order with a reset that is no fault of the shop.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4000 })

/** One order; resolves with the status (0 on a network error) and the body text. */
export function postOrder(port: number, id: string): Promise<Reply> {
  return postJson(port, '/checkout', { id }, agent)
}

export function getJson<T>(port: number, urlPath: string): Promise<T> {
  return getJsonWith<T>(port, urlPath, agent)
}

/** One order of a load run: where it went and when its response arrived. */
export interface Sent {
  readonly id: string
  readonly target: string
  readonly status: number
  readonly answeredAt: number
}

/**
 * Posts `count` orders at `perSecond`, each to the port `route(i)` gives (`undefined`: skipped, no
 * shop there now), calling `at(i)` before each (to kill or stop things mid-run). Resolves with every
 * order and its response time once all have answered.
 */
export async function runLoad(options: {
  readonly count: number
  readonly perSecond: number
  readonly prefix: string
  readonly route: (i: number) => { port: number; target: string } | undefined
  readonly at?: (i: number) => void | Promise<void>
}): Promise<Sent[]> {
  const started = Date.now()
  const pending: Promise<Sent | undefined>[] = []
  for (let i = 0; i < options.count; i++) {
    const due = started + (i * 1000) / options.perSecond
    const wait = due - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    await options.at?.(i)
    const to = options.route(i)
    if (to === undefined) continue
    const id = `${options.prefix}-${i}`
    pending.push(
      postOrder(to.port, id).then(({ status }) => ({ id, target: to.target, status, answeredAt: Date.now() })),
    )
  }
  return (await Promise.all(pending)).filter((s): s is Sent => s !== undefined)
}

/** Order ids the fake API answered with a 2xx, with how many times each. */
export function deliveredIds(api: FakeTransactionaleApi, ok: ReadonlySet<unknown>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of api.requests) {
    if (!ok.has(r)) continue
    const email = (r.body as { email?: unknown } | undefined)?.email
    if (typeof email !== 'string') continue
    const id = email.slice(0, email.indexOf('@'))
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Records which requests the fake API answered with a 2xx (a reply to a dead client counts too). */
export function trackReplies(api: FakeTransactionaleApi): Set<unknown> {
  const ok = new Set<unknown>()
  api.events.on('reply', (request: unknown, status: number) => {
    if (status >= 200 && status < 300) ok.add(request)
  })
  return ok
}

/** Waits until `condition` holds, checking every 50 ms; fails with `what` after `limitMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 60_000,
): Promise<void> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > limitMs) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
