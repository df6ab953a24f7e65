// The memory store's dedupe memory: a key is seen for the window, at most maxEntries keys are kept
// (the oldest forgotten first), and time is the injected clock's.
import { SeenKeys } from '../../src/stores/seen-keys'

const clockAt = (start = 1_000_000): { now: () => number; advance: (ms: number) => void } => {
  let now = start
  return { now: () => now, advance: (ms) => void (now += ms) }
}

test('a key is seen within the window and forgotten after it', () => {
  const clock = clockAt()
  const seen = new SeenKeys(1000, 10, clock)
  seen.add('a')
  clock.advance(999)
  expect(seen.has('a')).toBe(true)
  clock.advance(1)
  expect(seen.has('a')).toBe(false)
  expect(seen.size).toBe(0)
})

test('at most maxEntries keys: the oldest is forgotten first', () => {
  const clock = clockAt()
  const seen = new SeenKeys(60_000, 3, clock)
  for (const key of ['a', 'b', 'c', 'd']) {
    seen.add(key)
    clock.advance(1)
  }
  expect(['a', 'b', 'c', 'd'].map((k) => seen.has(k))).toEqual([false, true, true, true])
  expect(seen.size).toBe(3)
})

test('adding a key again restarts its window and makes it the newest', () => {
  const clock = clockAt()
  const seen = new SeenKeys(1000, 2, clock)
  seen.add('a')
  seen.add('b')
  clock.advance(600)
  seen.add('a')
  seen.add('c') // evicts b, the oldest now
  expect([seen.has('a'), seen.has('b'), seen.has('c')]).toEqual([true, false, true])
  clock.advance(600)
  expect(seen.has('a')).toBe(true)
})

test('expired keys are dropped as new ones arrive, so memory follows the window', () => {
  const clock = clockAt()
  const seen = new SeenKeys(100, 1_000_000, clock)
  for (let i = 0; i < 10_000; i++) {
    seen.add(`k${i}`)
    clock.advance(1)
  }
  expect(seen.size).toBeLessThanOrEqual(100)
})

test('delete forgets a key at once', () => {
  const seen = new SeenKeys(1000, 10, clockAt())
  seen.add('a')
  seen.delete('a')
  expect(seen.has('a')).toBe(false)
})
