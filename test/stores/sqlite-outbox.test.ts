// The SQLite outbox (TouchpointOutbox, for the CLI and for code): a store's file opened without a
// middleware, beside a running store — stats, waiting touchpoints and dead letters a page at a
// time, one order found, dead letters sent again within the room the shops leave, purged; the
// synchronous methods of earlier versions; a lock held elsewhere waited out from a timer.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openOutbox, sqliteStore } from 'express-transactionale/sqlite'
import { TouchpointConfigError } from '../../src/errors'
import type { StoreContext, StoredTouchpoint } from '../../src/stores/contracts'
import { createOutbox } from '../../src/stores/sqlite'
import { ManualClock } from '../helpers/manual-clock'
import { contextFor, touchpoint, type ContractStore } from './store-contract'

const dir = mkdtempSync(join(tmpdir(), 'touchpoint-outbox-'))
let files = 0
const freshFile = (): string => join(dir, `outbox-${++files}.db`)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

let clock: ManualClock
const stores: ContractStore[] = []
const openStore = async (file: string, overrides: Partial<StoreContext> = {}): Promise<ContractStore> => {
  const store = sqliteStore({ path: file })
  stores.push(store)
  await store.open(contextFor(clock, { maxSize: 10_000, ...overrides }))
  return store
}
const tp = (orderId: string) => touchpoint(clock, orderId)
const claim = async (store: ContractStore, limit: number): Promise<StoredTouchpoint[]> => [
  ...(await store.claim(limit)).touchpoints,
]

beforeEach(() => {
  clock = new ManualClock()
})
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

/** A file with A, B failed (dead letters), C delivered, D being sent, E waiting for a retry (503), F waiting. */
async function filled(file: string, overrides: Partial<StoreContext> = {}): Promise<ContractStore> {
  const store = await openStore(file, overrides)
  for (const id of ['A', 'B', 'C', 'D', 'E', 'F']) await store.add(tp(id))
  const [a, b, c, , e] = (await claim(store, 5)) as [
    StoredTouchpoint,
    StoredTouchpoint,
    StoredTouchpoint,
    StoredTouchpoint,
    StoredTouchpoint,
  ]
  await store.settle(a, { kind: 'failed', attempts: 2, reason: 'rejected (422)' })
  clock.advance(10)
  await store.settle(b, { kind: 'failed', attempts: 2, reason: 'rejected (400)' })
  await store.settle(c, { kind: 'delivered' })
  await store.settle(e, { kind: 'retry', attempts: 1, dueAt: clock.now() + 5000, reason: '503' })
  // The settlements are committed by the next group commit.
  await new Promise((resolve) => setTimeout(resolve, 50))
  return store
}

describe('openOutbox: the TouchpointOutbox of a file', () => {
  test('stats, list --waiting (states, attempts, last error), list --dead (newest first), paging, find', async () => {
    const file = freshFile()
    await filled(file, { maxSize: 100 })
    const outbox = createOutbox(file, { clock })
    try {
      expect(outbox.name).toBe(`sqlite:${file}`)
      expect(await outbox.stats()).toEqual({
        waiting: 3,
        beingSent: 1,
        delayed: 1,
        delivered: 1,
        deadLetters: 2,
        room: 50 - 3,
      })
      const waiting = await outbox.list({ state: 'waiting', limit: 10 })
      expect(waiting.map((e) => [e.orderId, e.state, e.attempts, e.lastError])).toEqual([
        ['D', 'sending', 0, undefined],
        ['F', 'waiting', 0, undefined],
        ['E', 'delayed', 1, '503'],
      ])
      expect(waiting[2]).toMatchObject({
        dueAt: clock.now() + 5000,
        body: expect.stringContaining('E@example.com') as unknown,
      })
      expect((await outbox.list({ state: 'waiting', limit: 1, offset: 1 })).map((e) => e.orderId)).toEqual(['F'])
      const dead = await outbox.list({ state: 'dead', limit: 10 })
      expect(dead.map((e) => [e.orderId, e.state, e.lastError])).toEqual([
        ['B', 'dead', 'rejected (400)'],
        ['A', 'dead', 'rejected (422)'],
      ])
      expect(dead[0]?.failedAt).toBe(clock.now())
      expect((await outbox.find('E')).map((e) => e.orderId)).toEqual(['E'])
      expect((await outbox.find(dead[1]?.id as string)).map((e) => e.orderId)).toEqual(['A'])
      expect(await outbox.find('C')).toEqual([]) // delivered: nothing of it is kept but a hashed key
    } finally {
      await outbox.close()
    }
  })

  test('retry moves dead letters back, never more than half of maxSize less what waits; purge deletes them', async () => {
    const file = freshFile()
    const store = await openStore(file, { maxSize: 10, dedupeWindowMs: 0 })
    for (let i = 0; i < 8; i++) await store.add(tp(`X${i}`))
    for (const t of await claim(store, 8))
      await store.settle(t, { kind: 'failed', attempts: 1, reason: 'rejected (400)' })
    await store.add(tp('live'))
    await new Promise((resolve) => setTimeout(resolve, 50))
    const outbox = createOutbox(file, { clock })
    try {
      expect((await outbox.stats()).room).toBe(4) // 10 / 2 - 1 waiting
      expect(await outbox.retry()).toBe(4)
      expect(await outbox.retry()).toBe(0)
      expect(await outbox.stats()).toMatchObject({ waiting: 5, deadLetters: 4, room: 0 })
      // The shop delivers what waits: room again.
      for (const t of await claim(store, 10)) await store.settle(t, { kind: 'delivered' })
      await new Promise((resolve) => setTimeout(resolve, 50))
      const [oldest] = await outbox.list({ state: 'dead', limit: 1, offset: 3 })
      expect(await outbox.retry([oldest?.id as string, 'nonsense'])).toBe(1)
      expect(await outbox.purge()).toBe(3)
      expect(await outbox.stats()).toMatchObject({ waiting: 1, deadLetters: 0 })
    } finally {
      await outbox.close()
    }
  })

  test('a dead letter whose order came again stays dead', async () => {
    const file = freshFile()
    const store = await openStore(file)
    await store.add(tp('A'))
    await store.settle(((await claim(store, 1)) as [StoredTouchpoint])[0], {
      kind: 'failed',
      attempts: 1,
      reason: 'rejected (400)',
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await store.add(tp('A'))).toBe('added')
    const outbox = createOutbox(file, { clock })
    try {
      expect(await outbox.retry()).toBe(0)
      expect(await outbox.stats()).toMatchObject({ waiting: 1, deadLetters: 1 })
    } finally {
      await outbox.close()
    }
  })

  test('a lock held by another process is waited out from a timer, not on the event loop', async () => {
    const file = freshFile()
    await filled(file)
    const outbox = createOutbox(file, { clock })
    const holder = new Database(file)
    holder.exec('BEGIN IMMEDIATE')
    let ticks = 0
    const ticker = setInterval(() => ticks++, 10)
    try {
      const retried = outbox.retry()
      setTimeout(() => holder.exec('COMMIT'), 300)
      expect(await retried).toBe(2)
      // The loop kept turning while the outbox waited.
      expect(ticks).toBeGreaterThan(10)
    } finally {
      clearInterval(ticker)
      holder.close()
      await outbox.close()
    }
  })

  test('the synchronous methods of earlier versions still work beside a running store', async () => {
    const file = freshFile()
    const onAvailable = jest.fn()
    const store = await filled(file, { onAvailable })
    const opened = openOutbox(file)
    expect(opened.path).toBe(file)
    await opened.close()
    const outbox = createOutbox(file, { clock })
    expect(outbox.counts()).toEqual({ waiting: 3, leased: 1, delivered: 1, deadLetters: 2 })
    expect(outbox.deadLetters({ limit: 1 }).map((d) => d.orderId)).toEqual(['B'])
    const [b, a] = outbox.deadLetters()
    expect(outbox.retryDeadLetters([a?.id as string])).toBe(1)
    expect(outbox.purgeDeadLetters([b?.id as string, 'nonsense'])).toBe(1)
    expect(outbox.counts()).toMatchObject({ waiting: 4, deadLetters: 0 })
    void outbox.close()
    void outbox.close()
    expect(() => outbox.counts()).toThrow(/closed/)
    // The running store picks the resent one up at its next poll.
    clock.advance(1000)
    expect(onAvailable).toHaveBeenCalled()
    expect((await claim(store, 5)).map((t) => t.orderId)).toEqual(['F', 'A'])
  })

  test('a file that does not exist is refused, not created; a missing better-sqlite3 says how to install it', () => {
    const file = join(dir, 'nothing-here.db')
    expect(() => openOutbox(file)).toThrow(TouchpointConfigError)
    expect(() => statSync(file)).toThrow()
    const missing = (): never => {
      throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' })
    }
    expect(() => createOutbox(freshFile(), { load: missing })).toThrow(/npm install better-sqlite3/)
  })
})
