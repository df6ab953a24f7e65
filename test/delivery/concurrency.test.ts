// The concurrency limit, driven by hand: arrivals, in-flight ages and samples at chosen times.
import { adaptiveLimit, fixedLimit } from '../../src/delivery/concurrency'

const clockAt = (start = 0): { now: () => number; set: (t: number) => void } => {
  let time = start
  return { now: () => time, set: (t) => (time = t) }
}

/** `count` arrivals spread evenly over [from, to). */
function arrive(limiter: ReturnType<typeof adaptiveLimit>, from: number, to: number, count: number): void {
  for (let i = 0; i < count; i++) limiter.arrived(from + ((to - from) * i) / count)
}

describe('fixed limit', () => {
  test('is what it was given, whatever happens', () => {
    const limit = fixedLimit(8)
    limit.sample(0, 5000, 'limited', 8)
    expect(limit.current(0, 1000, 8, -10_000)).toBe(8)
  })
})

describe('adaptive limit', () => {
  test('starts at 8 and stays there for a fast API (no backlog)', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    for (let t = 0; t < 1000; t += 1) {
      limit.arrived(t)
      limit.sample(t, 2, 'ok', 1)
      expect(limit.current(t, 0, 1, t - 1)).toBe(8)
      // A touchpoint that a free slot takes at once is no backlog, and neither is a short burst.
      expect(limit.current(t, 1, 1, t - 1)).toBe(8)
      expect(limit.current(t, 3, 8, t - 1)).toBe(8)
    }
  })

  test('a fast API with bursts (orders arriving together after a pause) does not ratchet it up', () => {
    // 1000 orders/s, a 2 ms API; every 20 ms a burst of 12 arrives at once and the 8 slots absorb
    // it within a few ms. The limit may not climb burst after burst.
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 256 }, clock)
    let highest = 0
    for (let t = 0; t < 10_000; t += 1) {
      clock.set(t)
      limit.arrived(t)
      limit.sample(t, 2, 'ok', 8)
      const waiting = t % 20 < 4 ? 12 - 3 * (t % 20) : 0
      highest = Math.max(highest, limit.current(t, waiting, 8, t - 1))
    }
    expect(highest).toBeLessThanOrEqual(16)
    expect(limit.limit).toBeLessThanOrEqual(10)
  })

  test("Little's law: 50 orders/s and requests 1 s old → about 63 in flight, before any answer", () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    arrive(limit, 0, 2000, 100) // 50/s for 2 s
    clock.set(2000)
    // Nothing answered yet; the oldest request has been in flight for 1 s.
    const current = limit.current(2000, 30, 8, 1000)
    expect(current).toBeGreaterThanOrEqual(50)
    expect(current).toBeLessThanOrEqual(80)
  })

  test('the arrival rate is right from the first orders: 500/s and a 200 ms API → ~125 within 300 ms', () => {
    // A decaying count alone reads 300 ms of 500/s as ~70/s (a 2 s window barely filled): the
    // limit would take seconds to reach what the API needs, and the backlog built meanwhile would
    // be the run's p99.
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 256 }, clock)
    let current = 0
    for (let t = 0; t <= 300; t += 2) {
      clock.set(t)
      limit.arrived(t)
      if (t >= 200) limit.sample(t, 200, 'ok', current)
      current = limit.current(t, 20, current, t >= 200 ? t - 200 : 0)
    }
    expect(current).toBeGreaterThanOrEqual(110)
    expect(current).toBeLessThanOrEqual(160)
  })

  test('a 2 s API at 50 orders/s reaches ~100–128 in flight, capped at maxConcurrency', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    for (let t = 0; t <= 10_000; t += 20) {
      limit.arrived(t)
      if (t >= 2000) limit.sample(t, 2000, 'ok', 100)
    }
    const current = limit.current(10_000, 20, 128, 8000)
    expect(current).toBeGreaterThanOrEqual(100)
    expect(current).toBeLessThanOrEqual(128)
    const small = adaptiveLimit({ max: 40 }, clock)
    arrive(small, 0, 10_000, 500)
    small.sample(10_000, 2000, 'ok', 40)
    expect(small.current(10_000, 50, 40, 8000)).toBe(40)
  })

  test('overload (429 above 16 in flight): cut to 80 % and a ceiling that rises one per 5 s', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    arrive(limit, 0, 1000, 500)
    limit.sample(1000, 200, 'ok', 17)
    expect(limit.current(1000, 100, 17, 800)).toBeGreaterThan(16)
    limit.sample(1001, 5, 'limited', 17) // a 429 with 17 in flight
    expect(limit.limit).toBe(13)
    // Backlog and arrivals would push it far higher; the ceiling holds it at 16 …
    arrive(limit, 1001, 4000, 1500)
    expect(limit.current(4000, 500, 13, 3000)).toBe(16)
    // … and lets it probe one higher after 5 s.
    expect(limit.current(6001, 500, 16, 5000)).toBe(17)
  })

  test('rising latency shrinks it toward its floor; recovery after a pause halves it', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    for (let t = 0; t < 5000; t += 10) {
      limit.arrived(t)
      limit.sample(t, 100, 'ok', 20)
    }
    limit.current(5000, 200, 20, 4800)
    const grown = limit.limit
    expect(grown).toBeGreaterThan(8)
    for (let t = 5000; t < 8000; t += 10) limit.sample(t, 1000, 'ok', grown) // latency ×10
    expect(limit.limit).toBeLessThan(grown)
    expect(limit.limit).toBeGreaterThanOrEqual(8)
    const before = limit.limit
    limit.recovered()
    expect(limit.limit).toBe(Math.floor(before / 2))
  })

  test('a timeout or 5xx cuts the limit but sets no ceiling: after an outage it climbs back freely', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    arrive(limit, 0, 1000, 100)
    limit.sample(1000, 2000, 'overload', 40) // e.g. a refused connection
    arrive(limit, 1000, 3000, 200)
    // No 5-second ceiling steps: Little's law takes it straight to what 100/s × 2 s needs.
    expect(limit.current(3000, 300, 8, 1000)).toBe(128)
  })

  test('when nothing waits any more, it settles back toward the floor', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 128 }, clock)
    arrive(limit, 0, 2000, 200)
    limit.sample(2000, 500, 'ok', 60)
    expect(limit.current(2000, 100, 60, 1500)).toBeGreaterThan(60)
    // The burst is over: no arrivals, nothing waiting, fast answers.
    let t = 2000
    for (; t < 60_000; t += 200) {
      limit.sample(t, 5, 'ok', 1)
      limit.current(t, 0, 0, undefined)
    }
    expect(limit.limit).toBe(8)
  })

  test('never below 1, never above max', () => {
    const clock = clockAt()
    const limit = adaptiveLimit({ max: 3 }, clock)
    expect(limit.limit).toBe(3)
    limit.sample(0, 10, 'limited', 1)
    expect(limit.limit).toBe(1)
    limit.recovered()
    expect(limit.limit).toBe(1)
  })
})
