// The store contract: one suite every TouchpointStore runs (memory, SQLite), so the pump and the
// delivery policy can rely on the same behaviour from each. Time is a ManualClock; a store's own
// background work (a durable store's group commit) runs on the real event loop.
import pino from 'pino'
import type {
  CountingStore,
  NewTouchpoint,
  Settlement,
  StoreContext,
  StoredTouchpoint,
  TouchpointStore,
} from '../../src/stores/contracts'
import { ManualClock } from '../helpers/manual-clock'
import type { Clock } from '../../src/types'

export type ContractStore = TouchpointStore & CountingStore

/** A fresh store, and how to open its successor on the same data (a restart: a durable store keeps what it held). */
export interface StoreUnderTest {
  readonly store: ContractStore
  reopen(): ContractStore
}

/** Makes a fresh, unopened store; called once per test (a file store gets a new file each time). */
export type StoreFactory = () => StoreUnderTest

export interface ContractOptions {
  /** The store keeps dead letters (a memory store keeps none). */
  readonly keepsDeadLetters: boolean
}

export const CONTRACT_CONTEXT = {
  maxSize: 5,
  dedupeWindowMs: 60_000,
  dedupeMaxEntries: 1000,
  leaseMs: 30_000,
} as const

export function contextFor(clock: Clock, overrides: Partial<StoreContext> = {}): StoreContext {
  return { ...CONTRACT_CONTEXT, clock, logger: pino({ level: 'silent' }), onAvailable: () => undefined, ...overrides }
}

let orderSeq = 0

/** A touchpoint as the pipeline would hand it over; `key` defaults to the order id. */
export function touchpoint(clock: Clock, orderId?: string, key: string | null = orderId ?? null): NewTouchpoint {
  const id = orderId ?? `order-${++orderSeq}`
  return {
    body: JSON.stringify({ email: `${id}@example.com`, first_name: 'Ada', order: id }),
    orderId: id,
    dedupeKey: key ?? undefined,
    receivedAt: clock.now(),
  }
}

const DELIVERED: Settlement = { kind: 'delivered' }
const RELEASED: Settlement = { kind: 'released' }
const retry = (attempts: number, dueAt: number): Settlement => ({ kind: 'retry', attempts, dueAt })
const failed = (attempts: number, reason: string): Settlement => ({ kind: 'failed', attempts, reason })

export function storeContract(name: string, make: StoreFactory, options: ContractOptions): void {
  describe(`${name}: the store contract`, () => {
    let clock: ManualClock
    let made: StoreUnderTest
    let store: ContractStore
    const opened: ContractStore[] = []
    const open = async (overrides: Partial<StoreContext> = {}): Promise<ContractStore> => {
      made = make()
      store = made.store
      opened.push(store)
      await store.open(contextFor(clock, overrides))
      return store
    }
    const tp = (orderId?: string, key?: string | null): NewTouchpoint => touchpoint(clock, orderId, key)
    const orders = (ts: readonly StoredTouchpoint[]): (string | undefined)[] => ts.map((t) => t.orderId)
    const claim = async (limit: number): Promise<StoredTouchpoint[]> => [...(await store.claim(limit)).touchpoints]
    const claimOne = async (): Promise<StoredTouchpoint> => {
      const [t] = await claim(1)
      if (t === undefined) throw new Error('nothing to claim')
      return t
    }

    beforeEach(() => {
      clock = new ManualClock()
    })
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })

    test('add then claim returns the touchpoint as given, with a string id, no attempts and no next due time', async () => {
      await open()
      const given = tp('A')
      await expect(store.add(given)).resolves.toBe('added')
      const { touchpoints, nextDueAt } = await store.claim(10)
      expect(touchpoints).toHaveLength(1)
      expect(touchpoints[0]).toMatchObject({ ...given, attempts: 0 })
      expect(typeof touchpoints[0]?.id).toBe('string')
      expect(nextDueAt).toBeUndefined()
    })

    test('claim returns the oldest first, at most `limit`, never the same touchpoint twice, nothing for 0', async () => {
      await open()
      for (const id of ['A', 'B', 'C', 'D']) await store.add(tp(id))
      expect(await claim(0)).toEqual([])
      const first = await claim(3)
      const second = await claim(3)
      expect(orders(first)).toEqual(['A', 'B', 'C'])
      expect(orders(second)).toEqual(['D'])
      expect(await claim(3)).toEqual([])
      expect(new Set([...first, ...second].map((t) => t.id)).size).toBe(4)
    })

    test('adds that arrive together all resolve, in order', async () => {
      await open({ maxSize: 100 })
      const results = await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map((id) => store.add(tp(id))))
      expect(results).toEqual(Array(6).fill('added'))
      expect(orders(await claim(10))).toEqual(['A', 'B', 'C', 'D', 'E', 'F'])
    })

    test('counts: waiting excludes what this process has claimed; delivered leaves, released comes back', async () => {
      await open()
      expect(store.counts()).toEqual({ waiting: 0, deadLetters: 0 })
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      expect(store.counts().waiting).toBe(3)
      const [a, b] = (await claim(2)) as [StoredTouchpoint, StoredTouchpoint]
      expect(store.counts().waiting).toBe(1)
      await store.settle(a, DELIVERED)
      expect(store.counts().waiting).toBe(1)
      await store.settle(b, RELEASED)
      expect(store.counts().waiting).toBe(2)
    })

    test("'full' once maxSize touchpoints are waiting; claimed ones make room; a refused one is not remembered", async () => {
      await open({ maxSize: 2 })
      expect(await store.add(tp('A'))).toBe('added')
      expect(await store.add(tp('B'))).toBe('added')
      expect(await store.add(tp('C'))).toBe('full')
      await claim(1)
      expect(await store.add(tp('C'))).toBe('added')
      expect(orders(await claim(5))).toEqual(['B', 'C'])
    })

    describe('dedupe', () => {
      test('the same key within the window is a duplicate while waiting, claimed and after delivery', async () => {
        await open()
        expect(await store.add(tp('A'))).toBe('added')
        expect(await store.add(tp('A'))).toBe('duplicate')
        const a = await claimOne()
        expect(await store.add(tp('A'))).toBe('duplicate')
        await store.settle(a, DELIVERED)
        expect(await store.add(tp('A'))).toBe('duplicate')
        expect(store.counts().waiting).toBe(0)
      })

      test('two adds of one key arriving together: one is added, the other a duplicate', async () => {
        await open()
        const results = await Promise.all([store.add(tp('A')), store.add(tp('A')), store.add(tp('B'))])
        expect(results).toEqual(['added', 'duplicate', 'added'])
      })

      test('the key is free again after the window', async () => {
        await open()
        await store.add(tp('A'))
        await store.settle(await claimOne(), DELIVERED)
        clock.advance(CONTRACT_CONTEXT.dedupeWindowMs - 1)
        expect(await store.add(tp('A'))).toBe('duplicate')
        clock.advance(2)
        expect(await store.add(tp('A'))).toBe('added')
      })

      test('a failed touchpoint frees its key: the order may come again', async () => {
        await open()
        await store.add(tp('A'))
        await store.settle(await claimOne(), failed(1, 'rejected (400)'))
        expect(await store.add(tp('A'))).toBe('added')
      })

      test('keys are independent of order ids; touchpoints without a key are never duplicates', async () => {
        await open()
        expect(await store.add(tp('A', 'customer@example.com'))).toBe('added')
        expect(await store.add(tp('B', 'customer@example.com'))).toBe('duplicate')
        expect(await store.add(tp('C', null))).toBe('added')
        expect(await store.add(tp('C', null))).toBe('added')
      })

      test('a window of 0 turns dedupe off', async () => {
        await open({ dedupeWindowMs: 0 })
        expect(await store.add(tp('A'))).toBe('added')
        expect(await store.add(tp('A'))).toBe('added')
        for (const t of await claim(2)) await store.settle(t, DELIVERED)
        expect(await store.add(tp('A'))).toBe('added')
      })
    })

    describe('retry', () => {
      test('is not claimable before its due time; the claim says when it is due; then it comes back with its attempts', async () => {
        await open()
        await store.add(tp('A'))
        const a = await claimOne()
        const dueAt = clock.now() + 5000
        await store.settle(a, retry(2, dueAt))
        expect(store.counts().waiting).toBe(1)
        expect(await store.claim(5)).toEqual({ touchpoints: [], nextDueAt: dueAt })
        clock.advance(4999)
        expect((await store.claim(5)).touchpoints).toEqual([])
        clock.advance(1)
        const { touchpoints, nextDueAt } = await store.claim(5)
        expect(touchpoints).toMatchObject([{ id: a.id, orderId: 'A', body: a.body, attempts: 2 }])
        expect(nextDueAt).toBeUndefined()
      })

      test('nextDueAt is the earliest of several retries; due retries come back in due order', async () => {
        await open()
        for (const id of ['A', 'B', 'C']) await store.add(tp(id))
        const [a, b, c] = (await claim(3)) as [StoredTouchpoint, StoredTouchpoint, StoredTouchpoint]
        const now = clock.now()
        await store.settle(a, retry(1, now + 3000))
        await store.settle(b, retry(1, now + 1000))
        await store.settle(c, retry(1, now + 2000))
        expect((await store.claim(5)).nextDueAt).toBe(now + 1000)
        clock.advance(1500)
        const due = await store.claim(5)
        expect(orders(due.touchpoints)).toEqual(['B'])
        expect(due.nextDueAt).toBe(now + 2000)
        clock.advance(1500)
        expect(orders(await claim(5))).toEqual(['C', 'A'])
      })

      test('oldest due first: a due retry comes before touchpoints added after its due time, after older ones', async () => {
        await open()
        await store.add(tp('A'))
        const a = await claimOne()
        await store.add(tp('B'))
        await store.settle(a, retry(1, clock.now() + 1000))
        clock.advance(1000)
        await store.add(tp('C'))
        expect(orders(await claim(5))).toEqual(['B', 'A', 'C'])
      })

      test('a retried touchpoint keeps its dedupe key', async () => {
        await open()
        await store.add(tp('A'))
        await store.settle(await claimOne(), retry(1, clock.now() + 1000))
        expect(await store.add(tp('A'))).toBe('duplicate')
      })
    })

    test('delivered: gone for good; settling it again, or settling what is not claimed, changes nothing', async () => {
      await open()
      await store.add(tp('A'))
      await store.add(tp('B'))
      const a = await claimOne()
      await store.settle(a, DELIVERED)
      for (const outcome of [DELIVERED, retry(1, clock.now()), failed(1, 'rejected (400)'), RELEASED]) {
        await expect(store.settle(a, outcome)).resolves.toBeUndefined()
      }
      expect(orders(await claim(5))).toEqual(['B'])
      expect(await claim(5)).toEqual([])
      expect(store.counts()).toEqual({ waiting: 0, deadLetters: 0 })
      expect(await store.add(tp('A'))).toBe('duplicate')
    })

    test('released: back due now, first in line, attempts unchanged; a second release does nothing', async () => {
      await open()
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      const claimed = await claim(2)
      for (const t of claimed) await store.settle(t, RELEASED)
      for (const t of claimed) await store.settle(t, RELEASED)
      const again = await claim(5)
      // Both before C (in either order: each store keeps its own order among released ones).
      expect([...orders(again.slice(0, 2))].sort()).toEqual(['A', 'B'])
      expect(orders(again.slice(2))).toEqual(['C'])
      expect(again.map((t) => t.attempts)).toEqual([0, 0, 0])
    })

    test(`failed: not claimable again, no longer waiting, ${options.keepsDeadLetters ? 'kept' : 'not kept'} as a dead letter`, async () => {
      await open()
      await store.add(tp('A'))
      await store.settle(await claimOne(), failed(3, 'attempts_exhausted (503)'))
      expect(await claim(5)).toEqual([])
      expect(store.counts()).toEqual({ waiting: 0, deadLetters: options.keepsDeadLetters ? 1 : 0 })
    })

    test(`close(): a non-durable store hands back what waits and forgets its keys; a durable one keeps it for the next start`, async () => {
      await open()
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      const a = await claimOne()
      await store.settle(a, retry(1, clock.now() + 60_000))
      const left = await store.close()
      const next = made.reopen()
      opened.push(next)
      await next.open(contextFor(clock))
      if (store.durable) {
        expect(left).toEqual([])
        expect(next.counts().waiting).toBe(3)
        expect(await next.add(tp('B'))).toBe('duplicate')
        expect(orders((await next.claim(5)).touchpoints)).toEqual(['B', 'C'])
      } else {
        expect(orders(left).sort()).toEqual(['A', 'B', 'C'])
        expect(next.counts().waiting).toBe(0)
      }
    })

    test('waitingOrderIds (when offered): oldest first, at most limit, claimed ones left out', async () => {
      await open()
      if (store.waitingOrderIds === undefined) return
      for (const id of ['A', 'B', 'C', 'D']) await store.add(tp(id))
      await claim(1)
      expect(store.waitingOrderIds(2)).toEqual(['B', 'C'])
      expect(store.waitingOrderIds(10)).toEqual(['B', 'C', 'D'])
    })

    test('onAvailable is not called for the store’s own adds', async () => {
      const onAvailable = jest.fn()
      await open({ onAvailable })
      await store.add(tp('A'))
      await store.add(tp('B'))
      await claim(5)
      expect(onAvailable).not.toHaveBeenCalled()
    })

    test('every store answers the same after close(): add unavailable, claim nothing, settle nothing, close its first answer', async () => {
      await open()
      await store.add(tp('A'))
      await store.add(tp('B'))
      const [a, b] = (await claim(2)) as [StoredTouchpoint, StoredTouchpoint]
      await store.add(tp('C'))
      const pendingAdd = store.add(tp('D'))
      const [first, second] = await Promise.all([store.close(), store.close()])
      expect(second).toEqual(first)
      await expect(pendingAdd).resolves.toBe('added')
      await expect(store.add(tp('E'))).resolves.toBe('unavailable')
      await expect(store.claim(5)).resolves.toEqual({ touchpoints: [], nextDueAt: undefined })
      await expect(store.settle(a, DELIVERED)).resolves.toBeUndefined()
      await expect(store.settle(b, retry(1, clock.now()))).resolves.toBeUndefined()
      await expect(store.settle(b, failed(1, 'rejected (400)'))).resolves.toBeUndefined()
      await expect(store.settle(b, RELEASED)).resolves.toBeUndefined()
      await expect(store.close()).resolves.toEqual(first)
      const counts = store.counts()
      expect([typeof counts.waiting, typeof counts.deadLetters]).toEqual(['number', 'number'])
      expect(() => store.waitingOrderIds?.(5)).not.toThrow()
    })

    test('close() before open() and after a failed one answers too', async () => {
      made = make()
      store = made.store
      await expect(store.close()).resolves.toEqual([])
      await expect(store.add(tp('A'))).resolves.toBe('unavailable')
      await expect(store.claim(1)).resolves.toEqual({ touchpoints: [], nextDueAt: undefined })
    })

    test('kind and durable are set', async () => {
      await open()
      expect(typeof store.kind).toBe('string')
      expect(typeof store.durable).toBe('boolean')
    })
  })
}
