// The outbox handle a CLI uses: a store's file opened without a middleware, beside a running store.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openOutbox, sqliteStore } from 'express-transactionale/sqlite'
import { TouchpointConfigError } from '../../src/errors'
import { createOutbox } from '../../src/stores/sqlite-outbox'
import type { StoredTouchpoint, TouchpointStore } from '../../src/stores/store'
import { ManualClock } from '../helpers/manual-clock'
import { contextFor, touchpoint } from './store-contract'

const dir = mkdtempSync(join(tmpdir(), 'touchpoint-outbox-'))
let files = 0
const freshFile = (): string => join(dir, `outbox-${++files}.db`)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

let clock: ManualClock
const stores: TouchpointStore[] = []
const openStore = async (file: string): Promise<TouchpointStore> => {
  const store = sqliteStore({ path: file })
  stores.push(store)
  await store.open(contextFor(clock, { maxSize: 10_000 }))
  return store
}
const tp = (orderId: string) => touchpoint(clock, orderId)

beforeEach(() => {
  clock = new ManualClock()
})
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

describe('openOutbox (for a CLI)', () => {
  test('counts, lists, sends again and purges dead letters of a file, beside a running store', async () => {
    const file = freshFile()
    const store = await openStore(file)
    const listener = jest.fn()
    store.onAvailable(listener)
    for (const id of ['A', 'B', 'C', 'D']) await store.add(tp(id))
    const [a, b, c] = (await store.claim(3)) as [StoredTouchpoint, StoredTouchpoint, StoredTouchpoint]
    await store.failed(a, 2, 'rejected (422)')
    await store.failed(b, 2, 'rejected (400)')
    await store.delivered(c)

    const outbox = createOutbox(file, { clock })
    try {
      expect(outbox.path).toBe(file)
      // D waits, leased to the store that stored it (it claims it next, without a transaction).
      expect(outbox.counts()).toEqual({ waiting: 1, leased: 1, delivered: 1, deadLetters: 2 })
      expect(outbox.deadLetters({ limit: 1 }).map((d) => d.orderId)).toEqual(['B'])
      expect(outbox.retryDeadLetters([a.id])).toBe(1)
      expect(outbox.purgeDeadLetters([b.id, 'nonsense'])).toBe(1)
      expect(outbox.counts()).toMatchObject({ waiting: 2, deadLetters: 0 })
    } finally {
      outbox.close()
      outbox.close()
    }
    expect(() => outbox.counts()).toThrow(/closed/)
    // The running store picks the resent one up at its next poll.
    clock.advance(1000)
    expect(listener).toHaveBeenCalled()
    expect(store.counts()).toEqual({ waiting: 2, deadLetters: 0 })
    expect((await store.claim(5)).map((t) => t.orderId)).toEqual(['A', 'D'])
  })

  test('a file that does not exist is refused, not created', () => {
    const file = join(dir, 'nothing-here.db')
    expect(() => openOutbox(file)).toThrow(TouchpointConfigError)
    expect(() => statSync(file)).toThrow()
  })
})

test('a missing better-sqlite3 is a TouchpointConfigError that says `npm install better-sqlite3`', () => {
  const missing = (): never => {
    throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' })
  }
  expect(() => createOutbox(freshFile(), { load: missing })).toThrow(TouchpointConfigError)
  expect(() => createOutbox(freshFile(), { load: missing })).toThrow(/npm install better-sqlite3/)
})
