// The memory store: the store contract, plus what is particular to it (bounded dedupe memory,
// a touchpoint of another store ignored, order kept through many retries).
import type { Settlement, StoredTouchpoint } from '../../src/stores/contracts'
import { memoryStore } from '../../src/stores/memory-store'
import { ManualClock } from '../helpers/manual-clock'
import { contextFor, storeContract, touchpoint } from './store-contract'

storeContract('memoryStore', () => ({ store: memoryStore(), reopen: memoryStore }), { keepsDeadLetters: false })

describe('memoryStore', () => {
  test('is not durable and is called memory', () => {
    const store = memoryStore()
    expect(store.kind).toBe('memory')
    expect(store.durable).toBe(false)
  })

  test('remembers at most dedupeMaxEntries keys (least recently added forgotten first)', async () => {
    const clock = new ManualClock()
    const store = memoryStore()
    await store.open(contextFor(clock, { dedupeMaxEntries: 2, maxSize: 10 }))
    for (const id of ['A', 'B', 'C']) expect(await store.add(touchpoint(clock, id))).toBe('added')
    expect(await store.add(touchpoint(clock, 'C'))).toBe('duplicate')
    expect(await store.add(touchpoint(clock, 'A'))).toBe('added')
  })

  test('a touchpoint from another store, or a copy, is ignored by settle', async () => {
    const clock = new ManualClock()
    const [one, two] = [memoryStore(), memoryStore()]
    await one.open(contextFor(clock))
    await two.open(contextFor(clock))
    await one.add(touchpoint(clock, 'A'))
    await two.add(touchpoint(clock, 'B'))
    const [b] = (await two.claim(1)).touchpoints as [StoredTouchpoint]
    const forged: StoredTouchpoint = { ...b }
    await two.settle(forged, { kind: 'retry', attempts: 1, dueAt: clock.now() })
    await two.settle(forged, { kind: 'released' })
    expect(two.counts().waiting).toBe(0)
    await one.settle(b, { kind: 'released' })
    expect(one.counts().waiting).toBe(1)
  })

  test('keeps order and counts through many retries (heap and queues agree)', async () => {
    const clock = new ManualClock()
    const store = memoryStore()
    await store.open(contextFor(clock, { maxSize: 10_000, dedupeWindowMs: 0 }))
    for (let i = 0; i < 1000; i++) await store.add(touchpoint(clock, `o${i}`))
    const claimed = (await store.claim(1000)).touchpoints
    // Retry in a scrambled order with scrambled due times; they must come back sorted by due time.
    const due = new Map<string, number>()
    for (let i = 0; i < claimed.length; i++) {
      const t = claimed[(i * 397) % claimed.length] as StoredTouchpoint
      const at = clock.now() + ((i * 7919) % 5000)
      due.set(t.id, at)
      const outcome: Settlement = { kind: 'retry', attempts: 1, dueAt: at }
      await store.settle(t, outcome)
    }
    expect(store.counts().waiting).toBe(1000)
    clock.advance(5000)
    const back = (await store.claim(2000)).touchpoints
    expect(back).toHaveLength(1000)
    const times = back.map((t) => due.get(t.id) as number)
    expect(times).toEqual([...times].sort((x, y) => x - y))
  })
})
