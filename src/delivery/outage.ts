/**
 * The outage state machine, per process: `open` (full concurrency) → after a retryable failure
 * `paused` (one shared pause: backoff or Retry-After) → `probing` (a single request at a time) →
 * `open` again when a probe is delivered, or `paused` again (longer) when it fails.
 */
import type { Log } from '../logger'
import type { Clock } from '../types'
import { pauseDelay, type RetrySettings, type Verdict } from './retry-policy'

/** `open` (full concurrency), `paused` (waiting after a failure) or `probing` (one request at a time). */
export type OutageState = 'open' | 'paused' | 'probing'

export interface Outage {
  readonly state: OutageState
  /** When the current pause ends (ms epoch), or `now` when not paused. */
  resumesAt(): number
  /** How many requests may be in flight now, given the full limit. */
  allowance(limit: number): number
  /** A delivery succeeded: a probe that succeeds opens delivery again (then it returns true). */
  delivered(): boolean
  /** A retryable failure: start (or lengthen, for a later Retry-After) the shared pause. */
  failed(verdict: Extract<Verdict, { kind: 'retry' }>): void
  /** Cancels the pause timer for good (close). */
  stop(): void
}

export interface OutageDeps {
  readonly clock: Clock
  readonly random: () => number
  readonly log: Log
  /** Called when a pause ends: time to send the probe. */
  readonly onProbe: () => void
}

export function createOutage(retry: RetrySettings, deps: OutageDeps): Outage {
  const { clock, log } = deps
  let state: OutageState = 'open'
  let failures = 0 // consecutive retryable failures, for the backoff
  let pauseEnds = 0
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  return {
    get state() {
      return state
    },
    resumesAt: () => (state === 'paused' ? pauseEnds : clock.now()),
    allowance: (limit) => (state === 'open' ? limit : state === 'probing' ? 1 : 0),
    delivered() {
      failures = 0
      if (state !== 'probing') return false
      state = 'open'
      log.write('resumed')
      return true
    },
    failed(verdict) {
      if (stopped) return
      const now = clock.now()
      if (state === 'paused') {
        // One shared pause: a later, longer Retry-After may lengthen it; other failures change nothing.
        if (verdict.retryAfterMs === undefined || now + verdict.retryAfterMs <= pauseEnds) return
      } else {
        failures++
      }
      const delay = pauseDelay(verdict, failures, retry, deps.random)
      if (state === 'open') {
        log.write('paused', { status: verdict.status, error: verdict.error, pauseMs: delay })
      }
      state = 'paused'
      pauseEnds = now + delay
      if (timer !== undefined) clock.clearTimeout(timer)
      timer = clock.setTimeout(() => {
        timer = undefined
        state = 'probing'
        deps.onProbe()
      }, delay)
      // A pause alone does not keep a finished process alive; close() waits on its own timer.
      timer.unref?.()
    },
    stop() {
      stopped = true
      if (timer !== undefined) clock.clearTimeout(timer)
      timer = undefined
    },
  }
}
