/**
 * The pump: moves touchpoints from the store to the HTTP client, up to the concurrency limit the
 * outage state machine allows, and settles each attempt — in the store (delivered / retry at /
 * failed) and in the ledger (one outcome, its log line, its hook). It knows touchpoints, never SQL.
 */
import type { HttpClient, HttpResult } from '../http-client'
import type { Ledger } from '../ledger'
import type { Log } from '../logger'
import type { Observers } from '../observe'
import type { NewTouchpoint, StoredTouchpoint, TouchpointStore } from '../stores/store'
import type { Clock } from '../types'
import { adaptiveLimit, fixedLimit } from './concurrency'
import { createOutage, type OutageState } from './outage'
import { classify, NOT_CONNECTED, type RetrySettings, type Verdict } from './retry-policy'

export interface PumpSettings {
  /** A fixed number of requests in flight, or `'auto'` (adaptive, up to `maxConcurrency`). */
  readonly concurrency: number | 'auto'
  readonly maxConcurrency: number
  readonly retry: RetrySettings
}

export interface PumpDeps {
  readonly store: TouchpointStore
  /** Resolves (or rejects) once the store is open: nothing is added or claimed before. */
  readonly opened: Promise<void>
  readonly send: HttpClient
  readonly ledger: Ledger
  readonly log: Log
  readonly clock: Clock
  readonly random: () => number
  /** Instruments watching each attempt (metrics); none by default. */
  readonly observers?: Observers
}

/** The pump's gauges, for `stats()`. */
export interface PumpStats {
  /** This process's touchpoints waiting to be sent (being stored, queued, or waiting for a retry). */
  queued: number
  /** HTTP attempts under way. */
  inFlight: number
  /** The outage state. */
  state: OutageState
  /** Requests allowed in flight now: the concurrency limit, as the outage state allows it (0 while paused). */
  limit: number
}

/** What stopping left behind. */
export interface StopResult {
  /** Dropped as `shutdown` (a non-durable store): queued or in flight at the deadline. */
  readonly abandoned: number
  /** Left in a durable store for the next start. */
  readonly persisted: number
}

export interface Pump {
  /** Hands a touchpoint to the store; resolves once it is stored, or counted as deduped or dropped. Never rejects. */
  submit(touchpoint: NewTouchpoint): Promise<void>
  /** Resolves when nothing is being stored, waiting, claimed or in flight. All callers share one promise. */
  flush(): Promise<void>
  /** Resolves when nothing this process holds is being stored or in flight (claims nothing new meanwhile). */
  settleInFlight(): Promise<void>
  /** Stops for good: cancels timers, reports or persists what is left (see {@link StopResult}). */
  stop(): Promise<StopResult>
  /** Order ids of touchpoints waiting or in flight, at most `limit` (for the exit warning). */
  pendingOrderIds(limit: number): string[]
  stats(): PumpStats
}

export function createPump(settings: PumpSettings, deps: PumpDeps): Pump {
  const { store, send, ledger, log, clock } = deps
  // In flight, with when each attempt started; a Map keeps insertion order, so the first is the oldest.
  const inFlight = new Map<StoredTouchpoint, number>()
  let storing = 0 // adds not yet resolved
  // This process's touchpoints between submit and claim (or retry and claim), counted here rather
  // than read from the store so that, at every moment, each order is in exactly one gauge or outcome.
  let queued = 0
  let claiming = false
  let kickAgain = false // new work arrived while a claim was out (see newWork)
  let draining = false // settleInFlight(): claim nothing new
  let stopped = false
  let dueTimer: NodeJS.Timeout | undefined
  let idle: { promise: Promise<void>; resolve: () => void; whenEmpty: boolean } | undefined
  let open = false
  const opened = deps.opened.then(
    () => {
      open = true
      kick()
    },
    (error: unknown) => {
      // Every add will fail and be counted as a store error; the store has said why.
      log.write('storeFailed', { error: error instanceof Error ? error.message.slice(0, 300) : typeof error })
    },
  )

  const outage = createOutage(settings.retry, { clock, random: deps.random, log, onProbe: () => kick() })
  const limiter =
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
    for (const started of inFlight.values()) return started
    return undefined
  }

  /**
   * Outcomes handed to the store and not recorded yet (a SQLite group commit, a Redis completion):
   * flush() waits for them too, so once it resolves the store holds each outcome (a delivered
   * touchpoint's customer data is gone from it). close() does not: the store's own close settles them.
   */
  let recording = 0
  const recorded = (): void => {
    recording--
    checkIdle()
  }
  const record = (outcome: Promise<void>): void => {
    recording++
    outcome.then(recorded, recorded)
  }

  const isIdle = (whenEmpty: boolean): boolean =>
    storing === 0 &&
    inFlight.size === 0 &&
    !claiming &&
    (!whenEmpty || (recording === 0 && store.counts().waiting === 0))

  const checkIdle = (): void => {
    if (idle !== undefined && isIdle(idle.whenEmpty)) {
      idle.resolve()
      idle = undefined
    }
  }

  const waitIdle = (whenEmpty: boolean): Promise<void> => {
    if (isIdle(whenEmpty)) return Promise.resolve()
    if (idle === undefined || idle.whenEmpty !== whenEmpty) {
      // A stricter wait (flush) replaces a laxer one only after settling it: never strand a caller.
      const previous = idle
      let resolve: () => void = () => undefined
      const promise = new Promise<void>((r) => (resolve = r))
      idle = { promise, resolve, whenEmpty }
      if (previous !== undefined) void promise.then(previous.resolve)
    }
    return idle.promise
  }

  /** Claims as many due touchpoints as there are free slots; one claim at a time. */
  const kick = (): void => {
    if (claiming) return
    kickAgain = false
    if (stopped || draining || !open) return
    const limit = limiter.current(clock.now(), queued, inFlight.size, oldestStart())
    const free = outage.allowance(limit) - inFlight.size
    if (free <= 0) return checkIdle()
    claiming = true
    store.claim(free).then(
      (claimed) => {
        claiming = false
        if (stopped) return void store.release(claimed)
        // A durable store may hand over touchpoints another run or process stored: never below 0.
        // A shared store may also have given this process's touchpoints to another: never above
        // what the store holds (with the memory store, the two are always equal).
        queued = Math.max(0, Math.min(queued - claimed.length, storing + store.counts().waiting))
        for (const t of claimed) attempt(t)
        if (claimed.length === free || kickAgain) kick()
        else if (claimed.length === 0) scheduleDue()
        checkIdle()
      },
      () => {
        // The store logged its own failure; try again when something new arrives or is due.
        claiming = false
        kickAgain = false
        scheduleDue()
        checkIdle()
      },
    )
  }

  // Touchpoints may become claimable without an add of this process: another process's, a lease
  // that expired, a dead letter sent again.
  store.onAvailable(() => newWork())

  /**
   * Something new may be claimable (an add of this process, or the store says so). During a claim
   * (a slow store's round trip) it is noted, and claimed when the claim is back: else it would wait
   * for the next add or poll. A slot freed during a claim is not noted: a claim that came back
   * short found the store empty, and one that came back full claims again anyway.
   */
  const newWork = (): void => {
    if (claiming) kickAgain = true
    else kick()
  }

  /** Wakes the pump when the earliest touchpoint that is not due yet becomes due (retries after a restart). */
  const scheduleDue = (): void => {
    if (dueTimer !== undefined || outage.state === 'paused') return
    const at = store.nextDueAt()
    if (at === undefined) return
    dueTimer = clock.setTimeout(
      () => {
        dueTimer = undefined
        kick()
      },
      Math.max(0, at - clock.now()),
    )
    dueTimer.unref?.()
  }

  const { observers } = deps
  const attempt = (t: StoredTouchpoint): void => {
    const started = clock.now()
    inFlight.set(t, started)
    const attempts = t.attempts + 1
    const probe = outage.state === 'probing'
    const done = (result: HttpResult): void => {
      if (!inFlight.delete(t)) return // abandoned at stop(): already reported or persisted
      try {
        const now = clock.now()
        const verdict = classify(result, settings.retry, now)
        limiter.sample(now, now - started, signalOf(verdict), inFlight.size + 1)
        if (observers !== undefined && observers.size > 0) {
          const status = result.kind === 'response' ? result.status : undefined
          observers.attempt(
            status === undefined
              ? { durationMs: now - started, verdict: verdict.kind }
              : { durationMs: now - started, verdict: verdict.kind, status },
          )
          if (verdict.kind === 'delivered') observers.delivered(now - t.receivedAt)
        }
        settle(t, attempts, verdict, probe)
      } catch (error) {
        log.write('internalError', { error: error instanceof Error ? error.name : typeof error })
      }
      kick()
      checkIdle()
    }
    // The package's client never rejects; an injected one might, and must not leak a rejection.
    send(t.body).then(done, () => done({ kind: 'network', code: 'ERR_CLIENT' }))
  }

  const settle = (t: StoredTouchpoint, made: number, verdict: Verdict, probe: boolean): void => {
    if (verdict.kind === 'delivered') {
      const attempts = made
      record(store.delivered(t))
      ledger.sent(t, attempts, verdict.status)
      if (outage.delivered()) {
        limiter.recovered()
        // A shared store: the other processes may claim freely again.
        store.resumeAll?.()
      }
      return
    }
    if (verdict.kind === 'final') {
      const attempts = made
      record(store.failed(t, attempts, `rejected (${verdict.status})`))
      ledger.failed(t, attempts, 'rejected', { status: verdict.status }, verdict.keyRejected)
      return
    }
    const detail = verdict.status !== undefined ? { status: verdict.status } : { error: verdict.error ?? 'ERR_NETWORK' }
    // A probe that could not even connect tested the API, not the touchpoint (nothing reached the
    // API, so nothing about the touchpoint can be the cause): beyond the touchpoint's first
    // attempt, it uses up none, and an API that is down for hours turns no order into a failure
    // (with `maxAttempts: 1`, every touchpoint still fails after one). An answer (5xx, 429), a
    // timeout or a reset counts as any attempt does, so a touchpoint the API chokes on cannot
    // probe forever.
    const free = probe && t.attempts > 0 && verdict.error !== undefined && NOT_CONNECTED.has(verdict.error)
    const attempts = free ? made - 1 : made
    if (attempts >= settings.retry.maxAttempts) {
      record(store.failed(t, attempts, `attempts_exhausted (${verdict.status ?? verdict.error ?? 'error'})`))
      ledger.failed(t, attempts, 'attempts_exhausted', detail, false)
    } else {
      queued++
      ledger.retried(t, attempts, detail)
    }
    const pausedUntil = outage.resumesAt()
    outage.failed(verdict)
    // A shared store pauses every process that shares it, for as long as this one pauses.
    if (outage.state === 'paused' && outage.resumesAt() !== pausedUntil) store.pauseAll?.(outage.resumesAt())
    if (attempts < settings.retry.maxAttempts) record(store.retry(t, attempts, outage.resumesAt()))
  }

  return {
    submit(touchpoint) {
      if (stopped) {
        ledger.dropped('closed', touchpoint)
        return Promise.resolve()
      }
      storing++
      queued++
      limiter.arrived(clock.now())
      const added = open ? store.add(touchpoint) : opened.then(() => store.add(touchpoint))
      return added.then(
        (result) => {
          storing--
          if (result === 'added') return newWork()
          queued--
          if (result === 'duplicate') ledger.deduped(touchpoint.orderId)
          else ledger.dropped(result === 'unavailable' ? 'store_unavailable' : 'queue_full', touchpoint)
          checkIdle()
        },
        () => {
          storing--
          queued--
          ledger.dropped('store_error', touchpoint)
          checkIdle()
        },
      )
    },
    flush: () => waitIdle(true),
    settleInFlight() {
      draining = true
      return waitIdle(false)
    },
    async stop() {
      stopped = true
      outage.stop()
      if (dueTimer !== undefined) clock.clearTimeout(dueTimer)
      dueTimer = undefined
      const cut = [...inFlight.keys()]
      inFlight.clear()
      let abandoned = 0
      let persisted = 0
      if (store.durable) {
        // The requests in flight are cut by the caller destroying the sockets; the next start sends them again.
        await store.release(cut)
        queued += cut.length
        persisted = store.counts().waiting
      } else {
        const left = [...cut, ...(await store.drain())]
        queued = 0
        abandoned = left.length
        if (abandoned > 0) log.write('abandoned', { pending: abandoned })
        for (const t of left) ledger.dropped('shutdown', t)
      }
      checkIdle()
      return { abandoned, persisted }
    },
    pendingOrderIds(limit) {
      const ids: string[] = []
      for (const t of inFlight.keys()) if (t.orderId !== undefined && ids.length < limit) ids.push(t.orderId)
      for (const id of store.waitingOrderIds?.(limit - ids.length) ?? []) ids.push(id)
      return ids
    },
    stats: () => ({
      queued,
      inFlight: inFlight.size,
      state: outage.state,
      limit: outage.allowance(limiter.limit),
    }),
  }
}

/** What an attempt tells the concurrency limit: fine, an outage-like failure, or "too many requests". */
function signalOf(verdict: Verdict): 'ok' | 'overload' | 'limited' {
  if (verdict.kind !== 'retry') return 'ok'
  return verdict.status === 429 || verdict.status === 503 ? 'limited' : 'overload'
}
