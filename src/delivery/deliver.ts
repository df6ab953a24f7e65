/**
 * One touchpoint → one verdict. `deliver()` makes one HTTP attempt and records what it means in
 * every place that must agree: the ledger (outcome, log line, hook), the instruments, the outage
 * state machine and the concurrency limit. It answers with the settlement the queue must apply.
 * Every engine runs it: our pump (memory and SQLite stores) and BullMQ's `Worker` (Redis).
 */
import type { HttpClient, HttpResult } from '../http-client'
import type { Ledger } from '../ledger'
import type { Log } from '../logger'
import type { Observers } from '../observe'
import type { Settlement, StoredTouchpoint } from '../stores/contracts'
import type { Clock } from '../types'
import { adaptiveLimit, fixedLimit, type ConcurrencyLimit } from './concurrency'
import { createOutage, type Outage, type OutageState } from './outage'
import { classify, NOT_CONNECTED, type RetrySettings, type Verdict } from './retry-policy'

export interface DeliverySettings {
  /** A fixed number of requests in flight, or `'auto'` (adaptive, up to `maxConcurrency`). */
  readonly concurrency: number | 'auto'
  readonly maxConcurrency: number
  readonly retry: RetrySettings
}

export interface DelivererDeps {
  readonly send: HttpClient
  readonly ledger: Ledger
  readonly log: Log
  readonly clock: Clock
  readonly random: () => number
  /** Instruments watching each attempt (metrics); none by default. */
  readonly observers?: Observers
}

/** Delivery as a whole: the attempts under way and what the outage state allows. */
export interface Deliverer {
  /**
   * One HTTP attempt for `t`, recorded everywhere (see the file header). Resolves with what the
   * queue must do with it; never rejects. After {@link Deliverer.stop} an attempt still under way
   * resolves `released` and records nothing (the caller has reported or kept it).
   */
  deliver(t: StoredTouchpoint): Promise<Settlement>
  /** How many more requests may start now, given how many touchpoints wait (none while paused, one in all while probing). */
  freeSlots(waiting: number): number
  /** A touchpoint arrived (the adaptive limit follows the arrival rate). */
  arrived(): void
  /** Attempts under way. */
  readonly inFlight: number
  /** `open`, `paused` or `probing`. */
  readonly state: OutageState
  /** When the current pause ends (ms epoch), or now when not paused. */
  resumesAt(): number
  /** The concurrency limit as the outage state allows it, for `stats()`. */
  readonly limit: number
  /** Order ids of the attempts under way, at most `limit` (the exit warning). */
  inFlightOrderIds(limit: number): string[]
  /** Calls `listener` when delivery may send again: a pause ended (time to probe). */
  onWake(listener: () => void): void
  /** Stops for good: no timers; what is in flight is returned and its results are ignored. */
  stop(): StoredTouchpoint[]
}

export function createDeliverer(settings: DeliverySettings, deps: DelivererDeps): Deliverer {
  const { send, ledger, log, clock, observers } = deps
  const started = new Map<StoredTouchpoint, number>() // a Map keeps insertion order: the first is the oldest
  const wakeListeners: (() => void)[] = []
  let stopped = false
  const outage: Outage = createOutage(settings.retry, {
    clock,
    random: deps.random,
    log,
    onProbe: () => {
      for (const listener of wakeListeners) listener()
    },
  })
  const limiter: ConcurrencyLimit =
    settings.concurrency === 'auto'
      ? adaptiveLimit(
          {
            max: settings.maxConcurrency,
            onChange: (limit, reason) => log.write('concurrencyChanged', { limit, reason }),
          },
          clock,
        )
      : fixedLimit(settings.concurrency)
  const oldestStart = (): number | undefined => {
    for (const at of started.values()) return at
    return undefined
  }

  const judge = (t: StoredTouchpoint, result: HttpResult, at: number, probe: boolean): Settlement => {
    const now = clock.now()
    const verdict = classify(result, settings.retry, now)
    limiter.sample(now, now - at, signalOf(verdict), started.size + 1)
    if (observers !== undefined && observers.size > 0) {
      const status = result.kind === 'response' ? result.status : undefined
      const durationMs = now - at
      observers.attempt(
        status === undefined ? { durationMs, verdict: verdict.kind } : { durationMs, verdict: verdict.kind, status },
      )
      if (verdict.kind === 'delivered') observers.delivered(now - t.receivedAt)
    }
    return settle(t, t.attempts + 1, verdict, probe)
  }

  const settle = (t: StoredTouchpoint, made: number, verdict: Verdict, probe: boolean): Settlement => {
    if (verdict.kind === 'delivered') {
      ledger.sent(t, made, verdict.status)
      if (outage.delivered()) limiter.recovered()
      return { kind: 'delivered' }
    }
    if (verdict.kind === 'final') {
      ledger.failed(t, made, 'rejected', { status: verdict.status }, verdict.keyRejected)
      return { kind: 'failed', attempts: made, reason: `rejected (${verdict.status})` }
    }
    const detail = verdict.status !== undefined ? { status: verdict.status } : { error: verdict.error ?? 'ERR_NETWORK' }
    // A probe that could not even connect tested the API, not the touchpoint (nothing reached it):
    // beyond the touchpoint's first attempt it uses up none, so an API that is down for hours
    // turns no order into a failure. An answer, a timeout or a reset counts as any attempt does.
    const free = probe && t.attempts > 0 && verdict.error !== undefined && NOT_CONNECTED.has(verdict.error)
    const attempts = free ? made - 1 : made
    outage.failed(verdict)
    if (attempts >= settings.retry.maxAttempts) {
      const reason = `attempts_exhausted (${verdict.status ?? verdict.error ?? 'error'})`
      ledger.failed(t, attempts, 'attempts_exhausted', detail, false)
      return { kind: 'failed', attempts, reason }
    }
    ledger.retried(t, attempts, detail)
    return {
      kind: 'retry',
      attempts,
      dueAt: outage.resumesAt(),
      reason: String(verdict.status ?? verdict.error ?? 'error'),
    }
  }

  return {
    deliver(t) {
      const at = clock.now()
      const probe = outage.state === 'probing'
      started.set(t, at)
      const done = (result: HttpResult): Settlement => {
        if (!started.delete(t) || stopped) return { kind: 'released' }
        try {
          return judge(t, result, at, probe)
        } catch (error) {
          // A hook or logger of the shop threw past the ledger's guards: the touchpoint was sent.
          log.write('internalError', { error: error instanceof Error ? error.name : typeof error })
          return { kind: 'released' }
        }
      }
      // The package's client never rejects; an injected one might, and must not leak a rejection.
      return send(t.body).then(done, () => done({ kind: 'network', code: 'ERR_CLIENT' }))
    },
    freeSlots(waiting) {
      const limit = limiter.current(clock.now(), waiting, started.size, oldestStart())
      return outage.allowance(limit) - started.size
    },
    arrived: () => limiter.arrived(clock.now()),
    get inFlight() {
      return started.size
    },
    get state() {
      return outage.state
    },
    resumesAt: () => outage.resumesAt(),
    get limit() {
      return outage.allowance(limiter.limit)
    },
    inFlightOrderIds(limit) {
      const ids: string[] = []
      for (const t of started.keys()) if (t.orderId !== undefined && ids.length < limit) ids.push(t.orderId)
      return ids
    },
    onWake: (listener) => void wakeListeners.push(listener),
    stop() {
      stopped = true
      outage.stop()
      const cut = [...started.keys()]
      started.clear()
      return cut
    },
  }
}

/** What an attempt tells the concurrency limit: fine, an outage-like failure, or "too many requests". */
function signalOf(verdict: Verdict): 'ok' | 'overload' | 'limited' {
  if (verdict.kind !== 'retry') return 'ok'
  return verdict.status === 429 || verdict.status === 503 ? 'limited' : 'overload'
}
