/**
 * The observation seam: what happens to each HTTP attempt, for instruments that need more than the
 * counters of `stats()` (the Prometheus histograms of `express-transactionale/metrics`). Observers
 * are attached through a symbol, so the middleware's public surface stays `close/flush/stats`.
 */

/** One finished HTTP attempt. */
export interface AttemptObservation {
  /** From the request's start to its verdict, in ms. */
  readonly durationMs: number
  /** `delivered` (2xx), `retry` (will be tried again or exhausted), `final` (a final answer). */
  readonly verdict: 'delivered' | 'retry' | 'final'
  /** The HTTP status, when the API answered. */
  readonly status?: number
}

/** Receives observations; it must be cheap and must not throw (a throw is swallowed). */
export interface Observer {
  /** After every HTTP attempt. */
  attempt?(observation: AttemptObservation): void
  /** When a touchpoint is delivered: ms from the end of the order's response to the 2xx. */
  delivered?(latencyMs: number): void
}

/** The key under which a middleware takes observers: `touchpoint[OBSERVE](observer)` returns a detach function. */
export const OBSERVE: unique symbol = Symbol.for('express-transactionale.observe')

/** A set of observers that the pump calls; each call is guarded. */
export interface Observers extends Required<Observer> {
  add(observer: Observer): () => void
  readonly size: number
}

export function createObservers(): Observers {
  const list = new Set<Observer>()
  return {
    add(observer) {
      list.add(observer)
      return () => void list.delete(observer)
    },
    get size() {
      return list.size
    },
    attempt(observation) {
      for (const o of list) {
        try {
          o.attempt?.(observation)
        } catch {
          // An instrument's bug must not affect delivery.
        }
      }
    },
    delivered(latencyMs) {
      for (const o of list) {
        try {
          o.delivered?.(latencyMs)
        } catch {
          // As above.
        }
      }
    },
  }
}
