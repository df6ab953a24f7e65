/**
 * The limit of requests in flight: fixed (`queue.concurrency: 8`), or adaptive (`'auto'`, the
 * default), which sizes itself to the API the way TCP and service meshes do, within
 * `queue.maxConcurrency`.
 *
 * Why our own few lines: the anchors are Netflix's concurrency-limits (Vegas, Gradient2, AIMD) and
 * Envoy's adaptive concurrency filter (gradient of a sampled minimum RTT). No well-kept npm library
 * implements them for a client (the maintained ones — p-limit, bottleneck, cockatiel — have fixed
 * limits or rate limits). And their ramps alone are too slow here: growing by one per round trip
 * (AIMD) or doubling per round trip (slow start) takes many 2 s round trips to reach the ~100
 * requests in flight that 50 orders/s × 2 s needs, and the backlog built meanwhile blows the
 * latency target. So the adaptive limit is three rules:
 *
 * 1. Little's law sizes it directly: in flight ≈ arrival rate × latency (× 1.25 headroom). Latency
 *    is the recent round-trip time, or — before any answer, or when the API slows down — the age of
 *    the oldest request still in flight, which is a lower bound of it.
 * 2. Gradient guard (Gradient2's idea): it grows only while latency is not rising (a short-term
 *    average of round trips no more than 1.5× the long-term one); when latency rises, it shrinks by
 *    5 % per round trip, so a slow API is not pushed over.
 * 3. AIMD on overload: a timeout, 429 or 5xx cuts it to 80 % of what was in flight; a 429 or 503
 *    (the API saying "too many") also sets a ceiling just below that level (not below the initial
 *    8), which rises by one every 5 s (so capacity is rediscovered, at the cost of one refused
 *    request per probe). When nothing waits, it settles back toward what the arrival rate needs. After an outage pause the limit
 *    restarts at half its previous value and doubles per round trip while touchpoints wait.
 *
 * It never goes below 1 or above `maxConcurrency`; with a fast API it stays at its initial 8 (the
 * fixed default of earlier versions), so a healthy shop pays nothing for it.
 */
import type { Clock } from '../types'

export interface ConcurrencyLimit {
  /** Requests allowed in flight now. Cheap: called for every claim. */
  current(now: number, queued: number, inFlight: number, oldestInFlightStart: number | undefined): number
  /** A touchpoint arrived (for the arrival rate). */
  arrived(now: number): void
  /**
   * An attempt finished after `rttMs`. `signal`: `ok`; `overload` (a timeout, 5xx, a refused
   * connection: cut, but no ceiling — that is an outage, the outage state machine's business); or
   * `limited` (429 or 503: the API says it has too many requests — cut, and a ceiling there).
   * `inFlight` includes it.
   */
  sample(now: number, rttMs: number, signal: 'ok' | 'overload' | 'limited', inFlight: number): void
  /** Delivery opens again after an outage pause: restart low. */
  recovered(): void
  /** The limit as it stands (for stats). */
  readonly limit: number
}

/** A fixed limit: what `queue.concurrency: <number>` asks for. */
export function fixedLimit(limit: number): ConcurrencyLimit {
  return {
    current: () => limit,
    arrived: () => undefined,
    sample: () => undefined,
    recovered: () => undefined,
    limit,
  }
}

export interface AdaptiveSettings {
  readonly max: number
  /** Where it starts, and the floor it keeps without overload. Defaults to `min(8, max)`. */
  readonly initial?: number
  /** Called with the new integer limit when it changes (logged at debug level). */
  readonly onChange?: (limit: number, reason: string) => void
}

const HEADROOM = 1.25
const RATE_WINDOW_MS = 2000
const RATE_FLOOR_MS = 100
/** A backlog must last this long (and a round trip) before it doubles the limit. */
const BACKLOG_MS = 50
const CEILING_STEP_MS = 5000
const RISING = 1.5
/** Time constants of the round-trip averages: seconds for the short one, a minute for the long one. */
const SHORT_RTT_MS = 2000
const LONG_RTT_MS = 60_000

export function adaptiveLimit(settings: AdaptiveSettings, clock: Pick<Clock, 'now'>): ConcurrencyLimit {
  const max = settings.max
  const floor = Math.min(settings.initial ?? 8, max)
  let limit = floor
  let ceiling = max
  let ceilingRaisedAt = clock.now()
  // Arrival rate: an exponentially decaying count (events per RATE_WINDOW_MS), read with the
  // start-up bias corrected (see arrivalsPerMs).
  let rate = 0
  let rateAt = clock.now()
  let firstArrivalAt: number | undefined
  // Round-trip times of delivered attempts: short- and long-term averages.
  let shortRtt = 0
  let longRtt = 0
  let rttAt = 0
  let lastAdjustAt = 0
  let backlogSince: number | undefined // since when more than half the limit's worth has waited
  let reported = limit

  const set = (value: number, reason: string): void => {
    limit = Math.max(1, Math.min(max, ceiling, value))
    const whole = Math.floor(limit)
    if (whole !== reported) {
      reported = whole
      settings.onChange?.(whole, reason)
    }
  }
  const rising = (): boolean => longRtt > 0 && shortRtt > longRtt * RISING
  /**
   * Arrivals per ms. The decaying count holds only `1 − e^(−t/window)` of a full window's worth
   * `t` ms after the first arrival: divide by that share, or the estimate (and the limit Little's
   * law gives) would start at a fraction of the real rate and take seconds to catch up — the
   * backlog built meanwhile is the p99 of a whole run. Never over less than RATE_FLOOR_MS, so a
   * burst of the first few orders is not read as a huge rate.
   */
  const arrivalsPerMs = (now: number): number => {
    if (firstArrivalAt === undefined) return 0
    const count = rate * Math.exp(-(now - rateAt) / RATE_WINDOW_MS)
    const elapsed = Math.max(RATE_FLOOR_MS, now - firstArrivalAt)
    return count / (RATE_WINDOW_MS * (1 - Math.exp(-elapsed / RATE_WINDOW_MS)))
  }

  return {
    get limit() {
      return Math.floor(limit)
    },
    arrived(now) {
      firstArrivalAt ??= now
      rate = rate * Math.exp(-(now - rateAt) / RATE_WINDOW_MS) + 1
      rateAt = now
    },
    current(now, queued, inFlight, oldestStart) {
      if (ceiling < max && now - ceilingRaisedAt >= CEILING_STEP_MS) {
        ceiling++
        ceilingRaisedAt = now
      }
      const age = oldestStart === undefined ? 0 : now - oldestStart
      const latency = Math.max(shortRtt, age)
      if (latency <= 0) return Math.floor(limit)
      // Waiting beyond the free slots: a touchpoint that a free slot takes now is no backlog.
      const waiting = queued - Math.max(0, Math.floor(limit) - inFlight)
      const little = Math.ceil(arrivalsPerMs(now) * latency * HEADROOM)
      if (waiting <= 0) backlogSince = undefined
      if (waiting > 0 && !rising()) {
        if (little > limit) set(little, 'arrival rate × latency')
        // While a real backlog waits, double once per round trip, as TCP's slow start. Real: more
        // than half the limit's worth, for a round trip and at least BACKLOG_MS — a burst that the
        // next answers absorb (orders that arrived together after a GC pause, with a fast API) is
        // none, or the limit would ratchet up on bursts and open sockets the API does not need.
        if (waiting > limit / 2) {
          backlogSince ??= now
          if (now - backlogSince >= Math.max(latency, BACKLOG_MS) && now - lastAdjustAt >= latency && limit < max) {
            lastAdjustAt = now
            backlogSince = now
            set(Math.max(limit, Math.min(limit * 2, limit + waiting)), 'backlog')
          }
        } else backlogSince = undefined
      } else if (waiting <= 0 && limit > floor && now - lastAdjustAt >= Math.max(latency, 100)) {
        // Nothing waits: settle back toward what the arrival rate needs (never below the floor).
        lastAdjustAt = now
        set(Math.max(floor, little, limit * 0.9), 'idle')
      }
      return Math.floor(limit)
    },
    sample(now, rttMs, signal, inFlight) {
      if (signal !== 'ok') {
        // Multiplicative decrease. Only a 429 / 503 says "too many requests": remember that level as
        // a ceiling (not below the floor). Timeouts, 5xx and refused connections are outages: a
        // ceiling from them would hold a recovered API back for minutes.
        if (signal === 'limited') {
          ceiling = Math.max(floor, inFlight - 1)
          ceilingRaisedAt = now
        }
        lastAdjustAt = now
        set(Math.min(limit, Math.max(1, Math.floor(inFlight * 0.8))), 'overload')
        return
      }
      // Averages over time, not over samples: their meaning must not depend on the request rate.
      const dt = Math.max(0, now - rttAt)
      rttAt = now
      const short = Math.max(0.05, 1 - Math.exp(-dt / SHORT_RTT_MS))
      const long = Math.max(0.002, 1 - Math.exp(-dt / LONG_RTT_MS))
      shortRtt = shortRtt === 0 ? rttMs : shortRtt + (rttMs - shortRtt) * short
      longRtt = longRtt === 0 ? rttMs : longRtt + (rttMs - longRtt) * long
      if (rising() && now - lastAdjustAt >= shortRtt && limit > floor) {
        lastAdjustAt = now
        set(Math.max(floor, limit * 0.95), 'latency rising')
      }
    },
    recovered() {
      lastAdjustAt = clock.now()
      set(Math.max(1, Math.floor(limit / 2)), 'recovered after a pause')
    },
  }
}
