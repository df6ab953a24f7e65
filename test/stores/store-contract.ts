// The store contract: one suite every TouchpointStore implementation runs (memory, SQLite, later
// Redis), so the delivery policy can rely on the same behaviour from each. Time is a ManualClock;
// the store's own background work (a durable store's group commit) runs on the real event loop. A
// store whose times are a server's (Redis TTLs and delayed jobs) runs it on the wall clock instead
// (`realTime`), with short windows and delays that the tests wait out.
import pino from 'pino'
import type { NewTouchpoint, StoreContext, StoredTouchpoint, TouchpointStore } from '../../src/stores/store'
import type { Clock } from '../../src/types'
import { ManualClock } from '../helpers/manual-clock'

/** What a contract run needs to know about the store under test. */
export interface ContractOptions {
  /** The store keeps dead letters (a memory store keeps none). */
  readonly keepsDeadLetters: boolean
  /**
   * The store keeps time by the wall clock (a server's TTLs and delayed jobs: Redis), not by the
   * injected clock: the contract gives it the system clock, shortens the dedupe window and retry
   * delays, waits them out, and checks boundaries with a margin. A due retry is queued when a claim
   * finds it due (as BullMQ promotes delayed jobs), so it may come after touchpoints added between
   * its due time and that claim.
   */
  readonly realTime?: boolean
}

/** The contract's clock: a ManualClock, or the wall clock whose `advance` waits (`realTime`). */
interface ContractClock extends Clock {
  advance(ms: number): void | Promise<void>
}

/** Divides the contract's delays for a `realTime` store (5 s of retry delay become 250 ms). */
const REAL_TIME_SCALE = 20

function wallClock(): ContractClock {
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (timer) => clearTimeout(timer),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }
}

/** Makes a fresh, unopened store; called once per test (a file store gets a new file each time). */
export type StoreFactory = () => TouchpointStore

export const CONTRACT_CONTEXT = {
  maxSize: 5,
  dedupeWindowMs: 60_000,
  dedupeMaxEntries: 1000,
  leaseMs: 30_000,
} as const

export function contextFor(clock: Clock, overrides: Partial<StoreContext> = {}): StoreContext {
  return { ...CONTRACT_CONTEXT, clock, logger: pino({ level: 'silent' }), ...overrides }
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

export function storeContract(name: string, make: StoreFactory, options: ContractOptions): void {
  describe(`${name}: the store contract`, () => {
    let clock: ContractClock
    let store: TouchpointStore
    const realTime = options.realTime === true
    /** A delay of the contract, as this store runs it. */
    const ms = (delay: number): number => (realTime ? delay / REAL_TIME_SCALE : delay)
    const open = async (overrides: Partial<StoreContext> = {}): Promise<TouchpointStore> => {
      store = make()
      await store.open(contextFor(clock, overrides))
      return store
    }
    const tp = (orderId?: string, key?: string | null): NewTouchpoint => touchpoint(clock, orderId, key)
    const orders = (ts: readonly StoredTouchpoint[]): (string | undefined)[] => ts.map((t) => t.orderId)

    beforeEach(() => {
      clock = realTime ? wallClock() : new ManualClock()
    })
    afterEach(async () => {
      await store.close()
    })

    test('add then claim returns the touchpoint as given, with a string id and no attempts', async () => {
      await open()
      const given = tp('A')
      await expect(store.add(given)).resolves.toBe('added')
      const [claimed, ...rest] = await store.claim(10)
      expect(rest).toEqual([])
      expect(claimed).toMatchObject({ ...given, attempts: 0 })
      expect(typeof claimed?.id).toBe('string')
    })

    test('claim returns the oldest first, at most `limit`, and never the same touchpoint twice', async () => {
      await open()
      for (const id of ['A', 'B', 'C', 'D']) await store.add(tp(id))
      const first = await store.claim(3)
      const second = await store.claim(3)
      expect(orders(first)).toEqual(['A', 'B', 'C'])
      expect(orders(second)).toEqual(['D'])
      expect(await store.claim(3)).toEqual([])
      expect(new Set([...first, ...second].map((t) => t.id)).size).toBe(4)
    })

    test('adds that arrive together all resolve, in order', async () => {
      await open({ maxSize: 100 })
      const results = await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map((id) => store.add(tp(id))))
      expect(results).toEqual(Array(6).fill('added'))
      expect(orders(await store.claim(10))).toEqual(['A', 'B', 'C', 'D', 'E', 'F'])
    })

    test('counts: waiting excludes what this process has claimed; no dead letters at first', async () => {
      await open()
      expect(store.counts()).toEqual({ waiting: 0, deadLetters: 0 })
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      expect(store.counts().waiting).toBe(3)
      const claimed = await store.claim(2)
      expect(store.counts().waiting).toBe(1)
      await store.delivered(claimed[0] as StoredTouchpoint)
      expect(store.counts().waiting).toBe(1)
      await store.release([claimed[1] as StoredTouchpoint])
      expect(store.counts().waiting).toBe(2)
    })

    test("'full' once maxSize touchpoints are waiting; claimed ones make room", async () => {
      await open({ maxSize: 2 })
      expect(await store.add(tp('A'))).toBe('added')
      expect(await store.add(tp('B'))).toBe('added')
      expect(await store.add(tp('C'))).toBe('full')
      await store.claim(1)
      expect(await store.add(tp('C'))).toBe('added')
      expect(orders(await store.claim(5))).toEqual(['B', 'C'])
    })

    test('a refused (full) touchpoint is not remembered for dedupe', async () => {
      await open({ maxSize: 1 })
      await store.add(tp('A'))
      expect(await store.add(tp('B'))).toBe('full')
      await store.claim(1)
      expect(await store.add(tp('B'))).toBe('added')
    })

    describe('dedupe', () => {
      test('the same key within the window is a duplicate while waiting, claimed and after delivery', async () => {
        await open()
        expect(await store.add(tp('A'))).toBe('added')
        expect(await store.add(tp('A'))).toBe('duplicate')
        const [a] = await store.claim(1)
        expect(await store.add(tp('A'))).toBe('duplicate')
        await store.delivered(a as StoredTouchpoint)
        expect(await store.add(tp('A'))).toBe('duplicate')
        expect(store.counts().waiting).toBe(0)
      })

      test('two adds of one key arriving together: one is added, the other a duplicate', async () => {
        await open()
        const results = await Promise.all([store.add(tp('A')), store.add(tp('A')), store.add(tp('B'))])
        expect(results).toEqual(['added', 'duplicate', 'added'])
      })

      test('the key is free again after the window', async () => {
        const windowMs = realTime ? 1000 : CONTRACT_CONTEXT.dedupeWindowMs
        await open({ dedupeWindowMs: windowMs })
        const [a] = await Promise.all([store.add(tp('A')), store.add(tp('B'))]).then(() => store.claim(1))
        await store.delivered(a as StoredTouchpoint)
        if (!realTime) {
          await clock.advance(windowMs - 1)
          expect(await store.add(tp('A'))).toBe('duplicate')
          await clock.advance(2)
        } else {
          expect(await store.add(tp('A'))).toBe('duplicate')
          await clock.advance(windowMs + 50)
        }
        expect(await store.add(tp('A'))).toBe('added')
      })

      test('failed forgets the key: the order may come again', async () => {
        await open()
        await store.add(tp('A'))
        const [a] = await store.claim(1)
        await store.failed(a as StoredTouchpoint, 1, 'rejected (400)')
        expect(await store.add(tp('A'))).toBe('added')
      })

      test('forget(key): a key never stored stays free; a delivered key is freed', async () => {
        await open()
        store.forget('A')
        expect(await store.add(tp('A'))).toBe('added')
        const [a] = await store.claim(1)
        await store.delivered(a as StoredTouchpoint)
        store.forget('A')
        expect(await store.add(tp('A'))).toBe('added')
      })

      test('keys are independent of order ids, and touchpoints without a key are never duplicates', async () => {
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
        const claimed = await store.claim(2)
        for (const t of claimed) await store.delivered(t)
        expect(await store.add(tp('A'))).toBe('added')
      })
    })

    describe('retry', () => {
      test('is not claimable before its due time; nextDueAt says when; then it comes back with its attempts', async () => {
        await open()
        expect(store.nextDueAt()).toBeUndefined()
        await store.add(tp('A'))
        const [a] = await store.claim(1)
        const dueAt = clock.now() + ms(5000)
        await store.retry(a as StoredTouchpoint, 2, dueAt)
        expect(store.counts().waiting).toBe(1)
        expect(await store.claim(5)).toEqual([])
        expect(store.nextDueAt()).toBe(dueAt)
        if (!realTime) {
          await clock.advance(4999)
          expect(await store.claim(5)).toEqual([])
        }
        await clock.advance(realTime ? dueAt - clock.now() + 20 : 1)
        const [again] = await store.claim(5)
        expect(again).toMatchObject({ id: a?.id, orderId: 'A', body: a?.body, attempts: 2 })
        expect(store.nextDueAt()).toBeUndefined()
      })

      test('nextDueAt is the earliest of several retries; due retries come back in due order', async () => {
        await open()
        for (const id of ['A', 'B', 'C']) await store.add(tp(id))
        const [a, b, c] = (await store.claim(3)) as [StoredTouchpoint, StoredTouchpoint, StoredTouchpoint]
        const now = clock.now()
        await store.retry(a, 1, now + ms(3000))
        await store.retry(b, 1, now + ms(1000))
        await store.retry(c, 1, now + ms(2000))
        expect(store.nextDueAt()).toBe(now + ms(1000))
        await clock.advance(now + ms(1500) - clock.now())
        expect(store.nextDueAt()).toBe(now + ms(2000))
        await clock.advance(now + ms(3000) - clock.now() + (realTime ? 20 : 0))
        expect(orders(await store.claim(5))).toEqual(['B', 'C', 'A'])
      })

      test('oldest due first: a due retry before touchpoints added after its due time, after older ones', async () => {
        await open()
        await store.add(tp('A'))
        const [a] = await store.claim(1)
        await store.add(tp('B'))
        await store.retry(a as StoredTouchpoint, 1, clock.now() + ms(1000))
        await clock.advance(ms(1000) + (realTime ? 20 : 0))
        await store.add(tp('C'))
        const claimed = orders(await store.claim(5))
        if (realTime) {
          expect(claimed[0]).toBe('B')
          expect([...claimed].sort()).toEqual(['A', 'B', 'C'])
        } else {
          expect(claimed).toEqual(['B', 'A', 'C'])
        }
      })

      test('a retried touchpoint keeps its dedupe key', async () => {
        await open()
        await store.add(tp('A'))
        const [a] = await store.claim(1)
        await store.retry(a as StoredTouchpoint, 1, clock.now() + 1000)
        expect(await store.add(tp('A'))).toBe('duplicate')
      })
    })

    test('delivered: gone for good, and settling it again (or settling an unclaimed one) changes nothing', async () => {
      await open()
      await store.add(tp('A'))
      await store.add(tp('B'))
      const [a] = await store.claim(1)
      await store.delivered(a as StoredTouchpoint)
      await store.delivered(a as StoredTouchpoint)
      await store.retry(a as StoredTouchpoint, 1, clock.now())
      await store.failed(a as StoredTouchpoint, 1, 'rejected (400)')
      await store.release([a as StoredTouchpoint])
      expect(orders(await store.claim(5))).toEqual(['B'])
      expect(await store.claim(5)).toEqual([])
      expect(store.counts()).toEqual({ waiting: 0, deadLetters: 0 })
      expect(await store.add(tp('A'))).toBe('duplicate')
    })

    test('release: claimed touchpoints come back due now, first in line, attempts unchanged', async () => {
      await open()
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      const claimed = await store.claim(2)
      await store.release(claimed)
      await store.release(claimed) // a second release is a no-op
      const again = await store.claim(5)
      expect(orders(again)).toEqual(['A', 'B', 'C'])
      expect(again.map((t) => t.attempts)).toEqual([0, 0, 0])
    })

    test('failed: not claimable again, no longer waiting', async () => {
      await open()
      await store.add(tp('A'))
      const [a] = await store.claim(1)
      await store.failed(a as StoredTouchpoint, 3, 'attempts_exhausted (503)')
      expect(await store.claim(5)).toEqual([])
      expect(store.counts().waiting).toBe(0)
      expect(store.counts().deadLetters).toBe(options.keepsDeadLetters ? 1 : 0)
    })

    describe('dead letters', () => {
      const fail = async (orderId: string, reason: string): Promise<StoredTouchpoint> => {
        await store.add(tp(orderId))
        const [t] = await store.claim(1)
        await store.failed(t as StoredTouchpoint, 3, reason)
        await clock.advance(10)
        return t as StoredTouchpoint
      }

      if (!options.keepsDeadLetters) {
        test('none are kept: listing is empty, retry and purge do nothing', async () => {
          await open()
          await fail('A', 'rejected (400)')
          expect(await store.deadLetters()).toEqual([])
          expect(await store.retryDeadLetters()).toBe(0)
          expect(await store.purgeDeadLetters()).toBe(0)
        })
        return
      }

      test('listed newest first with their reason, attempts and times; limit applies', async () => {
        await open()
        const receivedA = clock.now()
        const a = await fail('A', 'rejected (400)')
        const b = await fail('B', 'attempts_exhausted (ECONNREFUSED)')
        const all = await store.deadLetters()
        expect(all.map((d) => d.orderId)).toEqual(['B', 'A'])
        expect(all[1]).toEqual({
          id: a.id,
          orderId: 'A',
          body: a.body,
          attempts: 3,
          reason: 'rejected (400)',
          receivedAt: a.receivedAt,
          failedAt: realTime ? (expect.any(Number) as number) : receivedA,
        })
        expect(a.receivedAt - receivedA).toBeLessThan(realTime ? 1000 : 1)
        expect(all[0]?.reason).toBe('attempts_exhausted (ECONNREFUSED)')
        expect(all[0]?.id).toBe(b.id)
        expect((await store.deadLetters({ limit: 1 })).map((d) => d.orderId)).toEqual(['B'])
        expect(store.counts().deadLetters).toBe(2)
      })

      test('retryDeadLetters(ids) moves those back, due now, attempts reset; the key counts again', async () => {
        await open()
        const a = await fail('A', 'rejected (400)')
        await fail('B', 'rejected (400)')
        const listener = jest.fn()
        store.onAvailable(listener)
        expect(await store.retryDeadLetters([a.id, 'no-such-id'])).toBe(1)
        expect(store.counts()).toEqual({ waiting: 1, deadLetters: 1 })
        const [again] = await store.claim(5)
        expect(again).toMatchObject({ id: a.id, orderId: 'A', attempts: 0 })
        expect(await store.add(tp('A'))).toBe('duplicate')
        expect(listener).toHaveBeenCalled()
      })

      test('retryDeadLetters() moves all back', async () => {
        await open()
        await fail('A', 'rejected (400)')
        await fail('B', 'rejected (400)')
        expect(await store.retryDeadLetters()).toBe(2)
        expect(orders(await store.claim(5))).toEqual(['A', 'B'])
        expect(await store.deadLetters()).toEqual([])
      })

      test('a dead letter whose order came again since stays a dead letter when sent again', async () => {
        await open()
        const a = await fail('A', 'rejected (400)')
        expect(await store.add(tp('A'))).toBe('added')
        expect(await store.retryDeadLetters([a.id])).toBe(0)
        expect(store.counts()).toEqual({ waiting: 1, deadLetters: 1 })
      })

      test('purgeDeadLetters(ids) and purgeDeadLetters() delete them', async () => {
        await open()
        const a = await fail('A', 'rejected (400)')
        await fail('B', 'rejected (400)')
        await fail('C', 'rejected (400)')
        expect(await store.purgeDeadLetters([a.id])).toBe(1)
        expect((await store.deadLetters()).map((d) => d.orderId)).toEqual(['C', 'B'])
        expect(await store.purgeDeadLetters()).toBe(2)
        expect(await store.deadLetters()).toEqual([])
        expect(store.counts().deadLetters).toBe(0)
      })
    })

    test(`drain: a non-durable store hands over everything waiting and forgets its keys; a durable one keeps it`, async () => {
      await open()
      for (const id of ['A', 'B', 'C']) await store.add(tp(id))
      const [a] = await store.claim(1)
      await store.retry(a as StoredTouchpoint, 1, clock.now() + 60_000)
      const drained = await store.drain()
      if (store.durable) {
        expect(drained).toEqual([])
        expect(store.counts().waiting).toBe(3)
        expect(await store.add(tp('B'))).toBe('duplicate')
      } else {
        expect(orders(drained).sort()).toEqual(['A', 'B', 'C'])
        expect(store.counts().waiting).toBe(0)
        expect(await store.claim(5)).toEqual([])
        expect(store.nextDueAt()).toBeUndefined()
        expect(await store.add(tp('B'))).toBe('added')
      }
    })

    test('waitingOrderIds (when offered): oldest first, at most limit, claimed ones left out', async () => {
      await open()
      if (store.waitingOrderIds === undefined) return
      for (const id of ['A', 'B', 'C', 'D']) await store.add(tp(id))
      await store.claim(1)
      expect(store.waitingOrderIds(2)).toEqual(['B', 'C'])
      expect(store.waitingOrderIds(10)).toEqual(['B', 'C', 'D'])
      expect(orders(await store.claim(5))).toEqual(['B', 'C', 'D'])
    })

    test('onAvailable accepts a listener; the store never calls it for its own add', async () => {
      await open()
      const listener = jest.fn()
      store.onAvailable(listener)
      await store.add(tp('A'))
      expect(listener).not.toHaveBeenCalled()
    })

    test('after close(): every method neither throws nor rejects; close is idempotent', async () => {
      await open()
      await store.add(tp('A'))
      await store.add(tp('B'))
      const [a, b] = (await store.claim(2)) as [StoredTouchpoint, StoredTouchpoint]
      const pendingAdd = store.add(tp('C'))
      await Promise.all([store.close(), store.close()])
      await expect(pendingAdd).resolves.toBe('added')
      await expect(store.add(tp('D'))).resolves.toEqual(expect.any(String))
      await expect(store.claim(5)).resolves.toEqual([])
      await expect(store.delivered(a)).resolves.toBeUndefined()
      await expect(store.retry(b, 1, clock.now())).resolves.toBeUndefined()
      await expect(store.failed(b, 1, 'rejected (400)')).resolves.toBeUndefined()
      await expect(store.release([a, b])).resolves.toBeUndefined()
      await expect(store.drain()).resolves.toEqual(expect.any(Array))
      expect(() => store.forget('A')).not.toThrow()
      const counts = store.counts()
      expect([typeof counts.waiting, typeof counts.deadLetters]).toEqual(['number', 'number'])
      expect(() => store.nextDueAt()).not.toThrow()
      expect(() => store.onAvailable(() => undefined)).not.toThrow()
      expect(() => store.waitingOrderIds?.(5)).not.toThrow()
      await expect(store.deadLetters()).resolves.toEqual(expect.any(Array))
      await expect(store.retryDeadLetters()).resolves.toEqual(expect.any(Number))
      await expect(store.purgeDeadLetters()).resolves.toEqual(expect.any(Number))
      await expect(store.close()).resolves.toBeUndefined()
    })

    test('kind and durable are set', async () => {
      await open()
      expect(typeof store.kind).toBe('string')
      expect(typeof store.durable).toBe('boolean')
    })
  })
}
