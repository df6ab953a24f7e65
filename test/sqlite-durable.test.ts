// The durable outbox end to end: real shop processes with the SQLite store, killed with SIGKILL,
// exiting with process.exit(), sharing one file, beside another process that holds the file's
// write lock for 12 s; real files; the fake API.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import request from 'supertest'
import { transactionaleTouchpoint, type TouchpointMiddleware } from '../src'
import { openOutbox, sqliteStore } from '../src/sqlite'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { getJson, postJson, startChildShop, type ChildShop } from './helpers/child-shop'
import { captureLogs } from './helpers/log-capture'
import { until } from './helpers/manual-clock'

const SHOP = 'test/fixtures/durable-shop.ts'

let dir: string
let fake: FakeTransactionaleApi
const children: ChildShop[] = []

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'trx-durable-'))
  fake = await startFakeTransactionaleApi()
})
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()))
  await fake.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A shop process; a short lease lets a restart take over what a killed process had claimed. */
const shop = async (db: string, leaseMs = 60_000, env: Record<string, string> = {}): Promise<ChildShop> => {
  const started = await startChildShop(SHOP, { DB: db, ENDPOINT: fake.endpoint, LEASE_MS: String(leaseMs), ...env })
  children.push(started)
  return started
}

/**
 * Order ids the fake received, with how many times each and when first, read incrementally: the
 * tests poll it every millisecond, and rebuilding it from every request then starved the fake API
 * (it runs in this process) once thousands had arrived.
 */
let tally = {
  fake: undefined as FakeTransactionaleApi | undefined,
  seen: 0,
  counts: new Map<string, number>(),
  first: new Map<string, number>(),
}
const readRequests = (): typeof tally => {
  if (tally.fake !== fake) tally = { fake, seen: 0, counts: new Map(), first: new Map() }
  const requests = fake.requests
  for (; tally.seen < requests.length; tally.seen++) {
    const r = requests[tally.seen] as (typeof requests)[number]
    const id = (r.body as { email: string }).email.split('@')[0] ?? ''
    tally.counts.set(id, (tally.counts.get(id) ?? 0) + 1)
    if (!tally.first.has(id)) tally.first.set(id, r.receivedAt)
  }
  return tally
}
const received = (): Map<string, number> => readRequests().counts
/** When the fake first received each order id. */
const firstReceived = (): Map<string, number> => readRequests().first

/** One order as the load generator saw it. */
interface Sent {
  readonly id: string
  readonly status: number
  /** From the request's start to the response's end, ms (the checkout latency a customer sees). */
  readonly latencyMs: number
  /** Date.now() at the response's end. */
  readonly ackedAt: number
}

/**
 * Sends `count` orders at `rate` per second (paced by their due times, not by the answers), each to
 * the shop `target(i)` picks, over keep-alive connections; resolves when every answer is in.
 */
async function drive(
  count: number,
  rate: number,
  target: (i: number) => ChildShop | undefined,
  prefix: string,
  agent: http.Agent,
): Promise<Sent[]> {
  const started = Date.now()
  const sends: Promise<Sent | undefined>[] = []
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / rate - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const shop = target(i)
    if (shop === undefined) continue
    const id = `${prefix}${i}`
    const at = performance.now()
    sends.push(
      postJson(shop.port, '/checkout', { id }, agent).then(({ status }) => ({
        id,
        status,
        latencyMs: performance.now() - at,
        ackedAt: Date.now(),
      })),
    )
  }
  return (await Promise.all(sends)).filter((s): s is Sent => s !== undefined)
}

const maxOf = (values: readonly number[]): number => values.reduce((m, v) => Math.max(m, v), 0)

/** A process that holds the file's write lock (BEGIN IMMEDIATE) for `ms`, as the sqlite3 shell or a backup would. */
async function holdLock(db: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `
    const Database = require('better-sqlite3')
    const db = new Database(process.argv[1])
    db.exec('BEGIN IMMEDIATE')
    console.log('locked')
    setTimeout(() => { db.exec('COMMIT'); db.close(); console.log('released') }, Number(process.argv[2]))`
  const child = spawn(process.execPath, ['-e', script, db, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  const seen = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (text.includes(word)) resolve()
      }
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString()
        check()
      })
      child.once('exit', () =>
        text.includes(word) ? resolve() : reject(new Error(`the lock holder exited before "${word}"`)),
      )
    })
  const locked = seen('locked')
  const released = seen('released')
  await locked
  return { released }
}

describe.each([
  ['early', 0.2],
  ['middle', 0.55],
  ['late', 0.85],
])('SIGKILL with the API down (%s in the run)', (_name, fraction) => {
  test('every order answered >100 ms before the kill is delivered after a restart; no duplicates beyond those in flight', async () => {
    const db = path.join(dir, 'outbox.db')
    await fake.stop()
    const first = await shop(db, 3000)
    const orders = 2000
    const rate = 200
    const acked = new Map<string, number>()
    const started = Date.now()
    const killAt = started + (orders / rate) * 1000 * fraction
    let killedAt = Number.POSITIVE_INFINITY
    const killer = setTimeout(() => {
      killedAt = Date.now()
      first.child.kill('SIGKILL')
    }, killAt - started)
    const sends: Promise<void>[] = []
    for (let i = 0; i < orders && Date.now() < killedAt; i++) {
      const due = started + (i * 1000) / rate
      const wait = due - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (Date.now() >= killedAt) break
      const id = `k${i}`
      sends.push(
        postJson(first.port, '/checkout', { id }).then(({ status }) => {
          if (status === 201) acked.set(id, Date.now())
        }),
      )
    }
    await Promise.all(sends)
    clearTimeout(killer)
    await first.exited
    const mustArrive = [...acked].filter(([, at]) => at < killedAt - 100).map(([id]) => id)
    expect(mustArrive.length).toBeGreaterThan(100)
    expect(statSync(db).mode & 0o777).toBe(0o600)

    await fake.start()
    const second = await shop(db, 3000)
    await until(() => mustArrive.every((id) => received().has(id)), 'every acknowledged order delivered', 60_000)
    const counts = received()
    const duplicates = [...counts.values()].filter((n) => n > 1).length
    // With the API down, at most the single probe was in flight at the kill.
    expect(duplicates).toBeLessThanOrEqual(1)
    await second.stop()
  }, 120_000)
})

test('process.exit() right after the orders loses nothing: a restart delivers all', async () => {
  const db = path.join(dir, 'exit.db')
  await fake.stop()
  const first = await shop(db)
  for (let i = 0; i < 50; i++) expect((await postJson(first.port, '/checkout', { id: `e${i}` })).status).toBe(201)
  await postJson(first.port, '/exit', {})
  expect(await first.exited).toBe(0)
  await fake.start()
  const second = await shop(db)
  await until(() => received().size === 50, 'all 50 delivered', 30_000)
  expect([...received().values()].every((n) => n === 1)).toBe(true)
  await second.stop()
}, 60_000)

test('two processes on one file, 5,000 orders split across them, API healthy: each order exactly once', async () => {
  const db = path.join(dir, 'shared.db')
  const [a, b] = [await shop(db), await shop(db)]
  const agents = [
    new http.Agent({ keepAlive: true, maxSockets: 16 }),
    new http.Agent({ keepAlive: true, maxSockets: 16 }),
  ]
  const total = 5000
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++
      const target = i % 2 === 0 ? a : b
      expect((await postJson(target.port, '/checkout', { id: `s${i}` }, agents[i % 2] as http.Agent)).status).toBe(201)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  await until(() => received().size === total, 'all 5,000 delivered', 90_000)
  // A little longer: a late duplicate would show up now.
  await new Promise((resolve) => setTimeout(resolve, 500))
  // Exactly once — except that an attempt that timed out is retried, and the API may have had it
  // (on this busy 2-core machine the fake runs in the test process): never more than those retries.
  const retried = await Promise.all([a, b].map((shop) => getJson(shop.port, '/stats')))
  const retries = retried.reduce((sum, stats) => sum + Number(stats.retried), 0)
  expect(fake.requests.length - total).toBeLessThanOrEqual(retries)
  for (const agent of agents) agent.destroy()
  await Promise.all([a.stop(), b.stop()])
}, 150_000)

test('another process holds the write lock for 12 s at 100 orders/s: checkouts never wait, nothing is dropped or lost, all is delivered after the release', async () => {
  const db = path.join(dir, 'locked.db')
  const shopProcess = await shop(db)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
  const loop = (): Promise<{ maxMs: number; p99Ms: number }> => getJson(shopProcess.port, '/loop')
  try {
    // The same shop and load without the lock, in the same run: what this machine gives now.
    await drive(100, 100, () => shopProcess, 'warm', agent)
    await loop()
    const baseline = await drive(300, 100, () => shopProcess, 'base', agent)
    const baselineLoop = await loop()
    await until(() => received().size === 400, 'the baseline orders delivered', 30_000)

    const lock = await holdLock(db, 12_000)
    const lockedAt = Date.now()
    await loop()
    const locked = await drive(1150, 100, () => shopProcess, 'lock', agent)
    const lockedLoop = await loop()
    const deliveredDuringLock = [...firstReceived().entries()].filter(([id]) => id.startsWith('lock')).length
    await lock.released
    const releasedAt = Date.now()
    expect(releasedAt - lockedAt).toBeGreaterThanOrEqual(11_500)

    expect(locked.filter((s) => s.status !== 201)).toEqual([])
    await until(
      () => locked.every((s) => received().has(s.id)),
      'every order taken during the lock delivered after its release',
      30_000,
    )
    const arrival = firstReceived()
    const lastArrival = maxOf(locked.map((s) => arrival.get(s.id) ?? 0))
    const stats = await getJson<{ dropped: { total: number }; sent: number }>(shopProcess.port, '/stats')
    expect(stats.dropped.total).toBe(0)

    const figures = {
      checkoutMaxMs: {
        withoutLock: maxOf(baseline.map((s) => s.latencyMs)),
        withLock: maxOf(locked.map((s) => s.latencyMs)),
      },
      eventLoopDelayMaxMs: { withoutLock: baselineLoop.maxMs, withLock: lockedLoop.maxMs },
      deliveredDuringLock,
      allDeliveredMsAfterRelease: lastArrival - releasedAt,
    }
    console.log(`foreign lock: ${JSON.stringify(figures)}`)
    // Nothing could be committed, so nothing taken during the lock was delivered during it.
    expect(deliveredDuringLock).toBe(0)
    // The bound: a checkout (its latency as the load generator saw it) and the shop's event loop may
    // be as slow as this machine made them without the lock in this run, doubled, plus 100 ms, and
    // never more than 1 s — not the seconds of a connection waiting for the lock (the code before
    // this change: up to 5 s per commit, 14 s in all).
    const bound = (withoutLock: number): number => Math.min(1000, 2 * withoutLock + 100)
    expect(figures.checkoutMaxMs.withLock).toBeLessThanOrEqual(bound(figures.checkoutMaxMs.withoutLock))
    expect(figures.eventLoopDelayMaxMs.withLock).toBeLessThanOrEqual(bound(figures.eventLoopDelayMaxMs.withoutLock))
    await shopProcess.stop()
  } finally {
    agent.destroy()
  }
}, 120_000)

test('two shops on one file, the API down, one SIGKILLed, the API back: every order the survivor took arrives within 10 s; only what the killed one had in flight may wait for its lease', async () => {
  const db = path.join(dir, 'two.db')
  await fake.stop()
  const [killed, survivor] = [await shop(db), await shop(db)]
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
  type Stats = { inFlight: number; limit: number }
  try {
    let dead = false
    const killing = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 2500))
      const atKill = await getJson<Stats>(killed.port, '/stats')
      dead = true
      const killedAt = Date.now()
      killed.child.kill('SIGKILL')
      return { atKill, killedAt }
    })()
    const sent = await drive(700, 200, (i) => (i % 2 === 0 ? (dead ? undefined : killed) : survivor), 't', agent)
    const { atKill, killedAt } = await killing
    await killed.exited
    const acked = sent.filter((s) => s.status === 201)
    const bySurvivor = acked.filter((s) => Number(s.id.slice(1)) % 2 === 1)
    // The killed shop's orders it answered 100 ms or more before the kill: committed by then.
    const byKilled = acked.filter((s) => Number(s.id.slice(1)) % 2 === 0 && s.ackedAt < killedAt - 100)
    expect(bySurvivor.length).toBeGreaterThan(300)
    expect(byKilled.length).toBeGreaterThan(150)

    await fake.start()
    const backAt = Date.now()
    const mayWait = Math.max(atKill.inFlight, atKill.limit)
    await until(
      () =>
        bySurvivor.every((s) => received().has(s.id)) &&
        byKilled.filter((s) => !received().has(s.id)).length <= mayWait,
      'the orders delivered',
      30_000,
    )
    const arrival = firstReceived()
    const late = (orders: readonly Sent[]): Sent[] =>
      orders.filter((s) => (arrival.get(s.id) ?? Infinity) > backAt + 10_000)
    console.log(
      `two shops, one killed: ${JSON.stringify({ survivorAcked: bySurvivor.length, killedAcked: byKilled.length, inFlightAtKill: atKill.inFlight, limitAtKill: atKill.limit, lastArrivalMsAfterReturn: maxOf([...arrival.values()]) - backAt })}`,
    )
    expect(late(bySurvivor)).toEqual([])
    expect(late(byKilled).length).toBeLessThanOrEqual(mayWait)
    await survivor.stop()
  } finally {
    agent.destroy()
  }
}, 120_000)

describe('in one process', () => {
  let touchpoint: TouchpointMiddleware | undefined
  afterEach(async () => {
    await touchpoint?.close({ timeoutMs: 1000 })
    touchpoint = undefined
  })

  const appWith = (db: string, extra = {}) => {
    touchpoint = transactionaleTouchpoint({
      apiKey: 'k',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: captureLogs().logger,
      store: sqliteStore({ path: db }),
      ...extra,
    })
    const app = express()
    app.use(touchpoint)
    app.post('/checkout', (req, res) => {
      res.locals.transactionale = {
        orderId: req.query.id as string,
        email: 'd@example.org',
        firstName: 'D',
        country: 'IT',
      }
      res.status(201).json({ ok: true })
    })
    return app
  }

  test('a 400 keeps the touchpoint as a dead letter; sending it again after the fix delivers it', async () => {
    const db = path.join(dir, 'dead.db')
    fake.script({ status: 400 })
    const app = appWith(db)
    await request(app).post('/checkout?id=d-1').expect(201)
    await touchpoint?.flush()
    expect(touchpoint?.stats()).toMatchObject({ failed: 1 })
    await until(() => touchpoint?.stats().store.deadLetters === 1, 'the dead letter counted')
    const outbox = openOutbox(db)
    const [letter] = await outbox.list({ state: 'dead', limit: 10 })
    expect(letter).toMatchObject({ orderId: 'd-1', lastError: 'rejected (400)', attempts: 1 })
    expect(await outbox.retry()).toBe(1)
    await outbox.close()
    // The running shop picks it up (the store polls for work other processes made claimable).
    await until(() => fake.requests.length === 2, 'sent again', 10_000)
    expect(fake.requests[1]?.body).toEqual(fake.requests[0]?.body)
  })

  test('a restart inside the dedupe window with the same order id sends nothing again', async () => {
    const db = path.join(dir, 'dedupe.db')
    const app = appWith(db)
    await request(app).post('/checkout?id=same-1').expect(201)
    await touchpoint?.flush()
    await touchpoint?.close()
    const again = appWith(db)
    await request(again).post('/checkout?id=same-1').expect(201)
    await touchpoint?.flush()
    expect(touchpoint?.stats()).toMatchObject({ deduped: 1, sent: 0 })
    expect(fake.requests).toHaveLength(1)
  })

  test('close() leaves what waits in the store (persisted, no onDropped); the next start delivers it', async () => {
    const db = path.join(dir, 'persist.db')
    await fake.stop()
    const dropped: string[] = []
    const app = appWith(db, { hooks: { onDropped: (e: { reason: string }) => void dropped.push(e.reason) } })
    for (let i = 0; i < 5; i++) await request(app).post(`/checkout?id=p-${i}`).expect(201)
    const summary = await touchpoint?.close({ timeoutMs: 500 })
    expect(summary).toMatchObject({ persisted: 5, pending: 0 })
    expect(dropped).toEqual([])
    await fake.start()
    appWith(db)
    await until(() => fake.requests.length === 5, 'delivered at the next start', 15_000)
  })
})
