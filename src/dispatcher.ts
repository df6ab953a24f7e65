/**
 * The dispatcher: a bounded queue of validated touchpoints, sent at once through the HTTP client
 * up to `concurrency` at a time. It deduplicates by order id, retries what is worth retrying, and
 * meets outages as a whole: after a retryable failure it pauses (backoff or Retry-After), then lets
 * a single probe through and opens up again only when a probe succeeds.
 */
import { LRUCache } from 'lru-cache'
import type { DropReason, FailReason, HookRunner } from './hooks'
import type { HttpClient, HttpResult } from './http-client'
import type { TouchpointLogger } from './logger'
import { emailHash, type WirePayload } from './payload'
import { Fifo } from './queue'
import { backoffDelay, classify, type RetrySettings, type Verdict } from './retry-policy'

/** One touchpoint ready to go: the serialised wire body and the shop's order id. */
export interface Touchpoint {
  readonly body: string
  readonly orderId: string | undefined
}

/** The clock and timers the dispatcher uses; injected so tests can drive time. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): NodeJS.Timeout
  clearTimeout(timer: NodeJS.Timeout): void
}

/** The global clock, read at call time (so test fake timers apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer),
}

/** Dispatcher settings. */
export interface DispatcherSettings {
  readonly concurrency: number
  readonly maxSize: number
  readonly retry: RetrySettings
  readonly dedupe: { readonly windowMs: number; readonly maxEntries: number }
  readonly logPersonalData: boolean
}

/** Dispatcher dependencies. */
export interface DispatcherDeps {
  readonly send: HttpClient
  readonly logger: TouchpointLogger
  readonly hooks: HookRunner
  readonly clock?: Clock
  readonly random?: () => number
}

/** Counters of the dispatcher's outcomes. */
export interface DispatcherStats {
  /** Touchpoints skipped because the same orderId was seen within the dedupe window. */
  deduped: number
  /** Waiting in the queue (including those waiting for a retry). */
  queued: number
  /** HTTP attempts under way. */
  inFlight: number
  /** Delivered (2xx). */
  sent: number
  /** Attempts that failed in a retryable way and were queued again. */
  retried: number
  /** Failed for good (a final 4xx, or `retry.maxAttempts` reached). */
  failed: number
  /** Dropped before delivery, by reason. */
  dropped: { total: number } & Record<DropReason, number>
  /** `open` (full concurrency), `paused` (waiting after a failure) or `probing` (one request at a time). */
  state: 'open' | 'paused' | 'probing'
}

/** What `close()` reports. */
export interface CloseSummary {
  /** Delivered, over the middleware's life. */
  readonly sent: number
  /** Failed for good, over the middleware's life. */
  readonly failed: number
  /** Dropped because the queue was full or they arrived after `close()`. */
  readonly dropped: number
  /** Still queued or in flight at the deadline: abandoned (passed to `onDropped` with reason `shutdown`). */
  readonly pending: number
}

/** Sends touchpoints; `flush()` and `close()` never reject. */
export interface Dispatcher {
  /** Queues a touchpoint (or skips, or drops it, counted and reported). */
  submit(touchpoint: Touchpoint): void
  /** Counts and reports a touchpoint that arrived after close() (it never reached the queue). */
  dropClosed(): void
  /** Resolves when nothing is queued or in flight; all concurrent callers share one promise. */
  flush(): Promise<void>
  /** Cancels timers, reports what is queued or in flight as `shutdown` and ignores their results; returns how many. */
  abandon(): number
  stats(): DispatcherStats
}

interface Entry {
  readonly touchpoint: Touchpoint
  attempts: number
}

const WARN_INTERVAL_MS = 60_000

export function createDispatcher(settings: DispatcherSettings, deps: DispatcherDeps): Dispatcher {
  const { send, logger, hooks } = deps
  const clock = deps.clock ?? systemClock
  const random = deps.random ?? Math.random
  const queue = new Fifo<Entry>()
  const inFlight = new Set<Entry>()
  const dedupeOn = settings.dedupe.windowMs > 0
  const seen = new LRUCache<string, true>({ max: settings.dedupe.maxEntries, ttl: settings.dedupe.windowMs })
  const counts = { deduped: 0, sent: 0, retried: 0, failed: 0 }
  const dropped = { total: 0, queue_full: 0, closed: 0, shutdown: 0 }
  let state: DispatcherStats['state'] = 'open'
  let failures = 0 // consecutive retryable failures, for the backoff
  let pauseTimer: NodeJS.Timeout | undefined
  let pauseEnds = 0
  let abandoned = false
  let idle: { promise: Promise<void>; resolve: () => void } | undefined
  const throttled = throttle(clock)

  // Built only for lines that are written: parsing the body back is cheaper than keeping a hash
  // per queued touchpoint that is almost never logged.
  const logFields = (t: Touchpoint): Record<string, unknown> => {
    const payload = payloadOf(t)
    const fields: Record<string, unknown> = { orderId: t.orderId, emailHash: emailHash(payload.email) }
    if (settings.logPersonalData) fields.touchpoint = payload
    return fields
  }
  const debugging = (): boolean => logger.isLevelEnabled?.('debug') ?? true

  const settleIdle = (): void => {
    if (idle !== undefined && queue.length === 0 && inFlight.size === 0) {
      idle.resolve()
      idle = undefined
    }
  }

  const pump = (): void => {
    const limit = state === 'open' ? settings.concurrency : 1
    while (state !== 'paused' && inFlight.size < limit) {
      const entry = queue.shift()
      if (entry === undefined) break
      attempt(entry)
    }
    settleIdle()
  }

  const attempt = (entry: Entry): void => {
    entry.attempts++
    inFlight.add(entry)
    const done = (result: HttpResult): void => {
      if (!inFlight.delete(entry)) return // abandoned at close(): already reported
      try {
        settle(entry, classify(result, settings.retry, clock.now()))
      } catch {
        // Only a throwing logger gets here; the touchpoint has been counted, delivery goes on.
      }
      pump()
    }
    // The package's client never rejects; an injected one might, and must not leak a rejection.
    void send(entry.touchpoint.body).then(done, () => done({ kind: 'network', code: 'ERR_CLIENT' }))
  }

  const settle = (entry: Entry, verdict: Verdict): void => {
    const t = entry.touchpoint
    if (verdict.kind === 'delivered') {
      counts.sent++
      failures = 0
      if (state === 'probing') {
        state = 'open'
        logger.info('Transactionale API reachable again: deliveries resumed')
      }
      if (debugging())
        logger.debug({ ...logFields(t), status: verdict.status, attempts: entry.attempts }, 'touchpoint sent')
      hooks.emit('onSent', () => ({
        orderId: t.orderId,
        payload: payloadOf(t),
        attempts: entry.attempts,
        status: verdict.status,
      }))
      return
    }
    if (verdict.kind === 'final') return fail(entry, 'rejected', verdict)
    if (entry.attempts >= settings.retry.maxAttempts) {
      fail(entry, 'attempts_exhausted', verdict)
    } else {
      counts.retried++
      queue.unshift(entry)
      if (debugging()) {
        logger.debug(
          { ...logFields(t), ...reasonOf(verdict), attempts: entry.attempts },
          'touchpoint attempt failed, will retry',
        )
      }
    }
    pause(verdict)
  }

  const fail = (entry: Entry, reason: FailReason, verdict: Exclude<Verdict, { kind: 'delivered' }>): void => {
    const t = entry.touchpoint
    counts.failed++
    forget(t)
    const { status } = verdict
    if (status === 401 || status === 403) {
      throttled('key', WARN_INTERVAL_MS, (suppressed) =>
        logger.error(
          { status, rejectedSinceLastLine: suppressed + 1 },
          'API key rejected by Transactionale: check the apiKey option (touchpoints are failing)',
        ),
      )
    } else {
      logger.error(
        { ...logFields(t), ...reasonOf(verdict), attempts: entry.attempts, reason },
        'touchpoint not delivered',
      )
    }
    hooks.emit('onFailed', () => ({
      orderId: t.orderId,
      payload: payloadOf(t),
      attempts: entry.attempts,
      reason,
      ...reasonOf(verdict),
    }))
  }

  const pause = (verdict: Extract<Verdict, { kind: 'retry' }>): void => {
    if (abandoned) return
    const now = clock.now()
    if (state === 'paused') {
      // One shared pause: a later Retry-After may lengthen it, other failures change nothing.
      if (verdict.retryAfterMs === undefined || now + verdict.retryAfterMs <= pauseEnds) return
    } else {
      failures++
    }
    const delay = verdict.retryAfterMs ?? backoffDelay(failures, settings.retry, random)
    if (state === 'open') {
      logger.warn(
        { ...reasonOf(verdict), pauseMs: delay },
        'Transactionale API unavailable: deliveries paused, then probed one at a time',
      )
    }
    state = 'paused'
    pauseEnds = now + delay
    if (pauseTimer !== undefined) clock.clearTimeout(pauseTimer)
    pauseTimer = clock.setTimeout(() => {
      pauseTimer = undefined
      state = 'probing'
      pump()
    }, delay)
    // A pause alone does not keep a finished process alive; close() waits on its own timer.
    pauseTimer.unref?.()
  }

  const drop = (touchpoint: Touchpoint | undefined, orderId: string | undefined, reason: DropReason): void => {
    dropped.total++
    dropped[reason]++
    if (touchpoint !== undefined) forget(touchpoint)
    if (reason === 'queue_full') {
      throttled('queue_full', WARN_INTERVAL_MS, (suppressed) =>
        logger.warn(
          { maxSize: settings.maxSize, droppedSinceLastLine: suppressed + 1 },
          'touchpoint queue full: newest touchpoints are being dropped',
        ),
      )
    } else if (reason === 'closed') {
      logger.warn({ orderId, reason }, 'touchpoint dropped: the middleware is closed')
    }
    hooks.emit('onDropped', () =>
      touchpoint === undefined ? { orderId, reason } : { orderId, reason, payload: payloadOf(touchpoint) },
    )
  }

  const forget = (t: Touchpoint): void => {
    // A failed or dropped order may be submitted again: it was never delivered.
    if (t.orderId !== undefined) seen.delete(t.orderId)
  }

  return {
    submit(touchpoint) {
      if (abandoned) return drop(touchpoint, touchpoint.orderId, 'closed')
      const { orderId } = touchpoint
      if (orderId !== undefined && dedupeOn) {
        if (seen.has(orderId)) {
          counts.deduped++
          logger.debug({ orderId }, 'touchpoint skipped: duplicate order')
          hooks.emit('onSkipped', () => ({ orderId, reason: 'duplicate' }))
          return
        }
        seen.set(orderId, true)
      }
      if (queue.length >= settings.maxSize) return drop(touchpoint, orderId, 'queue_full')
      queue.push({ touchpoint, attempts: 0 })
      pump()
    },
    dropClosed: () => drop(undefined, undefined, 'closed'),
    flush() {
      if (queue.length === 0 && inFlight.size === 0) return Promise.resolve()
      if (idle === undefined) {
        let resolve: () => void = () => undefined
        const promise = new Promise<void>((r) => (resolve = r))
        idle = { promise, resolve }
      }
      return idle.promise
    },
    abandon() {
      abandoned = true
      if (pauseTimer !== undefined) clock.clearTimeout(pauseTimer)
      pauseTimer = undefined
      const left = [...inFlight, ...queue.drain()]
      inFlight.clear()
      if (left.length > 0) {
        logger.error({ pending: left.length }, 'touchpoints abandoned at close(): still pending at the deadline')
      }
      // The caller destroys the HTTP client's sockets, which ends the requests still in flight.
      for (const entry of left) drop(entry.touchpoint, entry.touchpoint.orderId, 'shutdown')
      settleIdle()
      return left.length
    },
    stats: () => ({
      ...counts,
      queued: queue.length,
      inFlight: inFlight.size,
      dropped: { ...dropped },
      state,
    }),
  }
}

function payloadOf(t: Touchpoint): WirePayload {
  return JSON.parse(t.body) as WirePayload
}

function reasonOf(verdict: Verdict): { status?: number; error?: string } {
  if (verdict.kind !== 'retry') return { status: verdict.status }
  const out: { status?: number; error?: string } = {}
  if (verdict.status !== undefined) out.status = verdict.status
  if (verdict.error !== undefined) out.error = verdict.error
  return out
}

/** Runs `log` at most once per interval per key, telling it how many calls it swallowed since. */
function throttle(clock: Clock): (key: string, intervalMs: number, log: (suppressed: number) => void) => void {
  const last = new Map<string, { at: number; suppressed: number }>()
  return (key, intervalMs, log) => {
    const now = clock.now()
    const entry = last.get(key)
    if (entry !== undefined && now - entry.at < intervalMs) {
      entry.suppressed++
      return
    }
    log(entry?.suppressed ?? 0)
    last.set(key, { at: now, suppressed: 0 })
  }
}
