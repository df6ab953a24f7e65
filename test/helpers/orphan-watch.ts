// The "no orphaned states" invariant, asserted throughout a liveness or kill test: delivery is never
// paused or probing for longer than its pause plus one probe interval with nothing in flight while
// touchpoints wait. The bound grows by the event-loop delay the test process itself measured, so a
// busy machine (timers firing late) does not fail it, while a stall (seconds to forever) does.
import { monitorEventLoopDelay } from 'node:perf_hooks'

export interface DeliveryGauges {
  readonly state: string
  readonly inFlight: number
  /** Touchpoints waiting for this process (queued, and what its store holds). */
  readonly waiting: number
  /**
   * Attempts finished so far (sent + failed + retried): a probe that started and ended between two
   * samples (a refused connection takes a millisecond) still ends an orphaned stretch.
   */
  readonly attempts: number
}

export interface OrphanReport {
  /** The longest stretch in an orphaned state, in ms. */
  readonly worstMs: number
  /** What was allowed: the pause plus one probe interval, plus the worst event-loop delay seen. */
  readonly allowedMs: number
  readonly samples: number
}

/** Samples `read()` every `everyMs` until `stop()`; `pauseAndProbeMs` is the longest pause plus one probe interval. */
export function watchOrphans(
  read: () => DeliveryGauges | Promise<DeliveryGauges>,
  pauseAndProbeMs: number,
  everyMs = 5,
): { stop(): OrphanReport } {
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let since: number | undefined
  let lastAttempts = -1
  let worstMs = 0
  let samples = 0
  let reading = false
  const timer = setInterval(() => {
    if (reading) return
    reading = true
    void Promise.resolve(read())
      .then((g) => {
        samples++
        const now = Date.now()
        const attempted = g.attempts !== lastAttempts
        lastAttempts = g.attempts
        if (g.state !== 'open' && g.inFlight === 0 && g.waiting > 0 && !attempted) {
          since ??= now
          worstMs = Math.max(worstMs, now - since)
        } else {
          since = undefined
        }
      })
      .catch(() => undefined)
      .finally(() => (reading = false))
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      loop.disable()
      // Twice the worst loop delay: the timer that ends the pause and the sampler may both be late.
      return { worstMs, allowedMs: pauseAndProbeMs + (2 * loop.max) / 1e6, samples }
    },
  }
}
