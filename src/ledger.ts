/**
 * The outcome ledger: every way an order can end — skipped, invalid, deduped, sent, failed,
 * dropped, dry run — goes through one call here that counts it, writes its log line and fires its
 * hook, so the counters, the logs and the hooks can never disagree. `stats()` is its snapshot.
 */
import { createHookRunner, type DropReason, type FailReason, type Hooks, type InvalidStage } from './hooks'
import type { Log, LogEvent } from './logger'
import { emailHash, type WirePayload } from './payload'
import { throttle } from './throttle'
import type { Clock } from './types'

/** The counted outcomes (each order ends in exactly one of them). */
export const OUTCOMES = ['skipped', 'invalid', 'deduped', 'sent', 'failed', 'dropped', 'dryRun'] as const
/** One of {@link OUTCOMES}. */
export type Outcome = (typeof OUTCOMES)[number]

/** The ledger's counters. */
export interface LedgerCounts {
  /** Watched responses that the handler ended (orders seen, successful or not). */
  received: number
  /** Orders that produced no touchpoint by design, by reason (`duplicate` is counted in `deduped`). */
  skipped: { total: number; status: number; no_customer: number }
  /** Orders whose `isSuccess` or mapper threw, whose mapper timed out, or whose customer failed validation. */
  invalid: number
  /** Touchpoints skipped because the same dedupe key was seen within the dedupe window. */
  deduped: number
  /** Delivered (2xx). */
  sent: number
  /** Failed for good (a final 4xx, or `retry.maxAttempts` reached). */
  failed: number
  /** Dropped before delivery, by reason. */
  dropped: { total: number } & Record<DropReason, number>
  /** Touchpoints that `dryRun` logged instead of sending. */
  dryRun: number
  /** Attempts that failed in a retryable way and will be tried again (not an outcome: not in the sum). */
  retried: number
}

/** A touchpoint as the ledger reports it. */
export interface LedgerTouchpoint {
  readonly orderId: string | undefined
  readonly body: string
}

/** Details of a failed attempt: the status when the API answered, the error code when it did not. */
export interface AttemptDetail {
  readonly status?: number
  readonly error?: string
}

export interface Ledger {
  received(): void
  skipped(reason: 'status' | 'no_customer', status?: number): void
  invalid(stage: InvalidStage, orderId: string | undefined, reasons: readonly string[], event: LogEvent): void
  deduped(orderId: string | undefined): void
  sent(touchpoint: LedgerTouchpoint, attempts: number, status: number): void
  dryRun(touchpoint: LedgerTouchpoint): void
  failed(
    touchpoint: LedgerTouchpoint,
    attempts: number,
    reason: FailReason,
    detail: AttemptDetail,
    keyRejected: boolean,
  ): void
  dropped(reason: DropReason, touchpoint: LedgerTouchpoint | undefined, orderId?: string): void
  /** Not an outcome: an attempt that will be repeated. */
  retried(touchpoint: LedgerTouchpoint, attempts: number, detail: AttemptDetail): void
  /** Fields for a log line about a touchpoint: order id and keyed email hash (and the payload with `logPersonalData`). */
  fields(touchpoint: LedgerTouchpoint): Record<string, unknown>
  counts(): LedgerCounts
}

export interface LedgerSettings {
  readonly logPersonalData: boolean
  /** The secret the email hash is keyed with (the API key): stable for one shop, useless to anyone else. */
  readonly hashKey: string
  readonly maxSize: number
}

const WARN_INTERVAL_MS = 60_000
const LOGGED_ORDER_ID_LENGTH = 200

export function createLedger(settings: LedgerSettings, hooks: Hooks, log: Log, clock: Clock): Ledger {
  const run = createHookRunner(hooks, log)
  const counts = { received: 0, invalid: 0, deduped: 0, sent: 0, failed: 0, dryRun: 0, retried: 0 }
  const skipped = { total: 0, status: 0, no_customer: 0 }
  const dropped = { total: 0, queue_full: 0, closed: 0, shutdown: 0, store_error: 0, store_unavailable: 0 }
  const throttled = throttle(() => clock.now())

  // Built only for lines that are written: parsing the body back is cheaper than keeping a hash
  // per queued touchpoint that is almost never logged.
  const fields = (t: LedgerTouchpoint): Record<string, unknown> => {
    const payload = payloadOf(t)
    const out: Record<string, unknown> = {
      orderId: loggedOrderId(t.orderId),
      emailHash: typeof payload?.email === 'string' ? emailHash(payload.email, settings.hashKey) : undefined,
    }
    if (settings.logPersonalData) out.touchpoint = payload
    return out
  }

  return {
    received: () => void counts.received++,
    skipped(reason, status) {
      skipped.total++
      skipped[reason]++
      if (reason === 'status') log.write('skippedStatus', { status })
      else log.write('skippedNoCustomer')
      run.emit('onSkipped', () =>
        status === undefined ? { orderId: undefined, reason } : { orderId: undefined, reason, status },
      )
    },
    invalid(stage, orderId, reasons, event) {
      counts.invalid++
      log.write(event, () => ({ orderId: loggedOrderId(orderId), stage, invalid: reasons }))
      run.emit('onInvalid', () => ({ orderId, stage, reasons }))
    },
    deduped(orderId) {
      counts.deduped++
      log.write('deduped', () => ({ orderId: loggedOrderId(orderId) }))
      run.emit('onSkipped', () => ({ orderId, reason: 'duplicate' }))
    },
    sent(t, attempts, status) {
      counts.sent++
      log.write('sent', () => ({ ...fields(t), status, attempts }))
      run.emit('onSent', () => ({ orderId: t.orderId, payload: payloadOf(t) ?? ({} as WirePayload), attempts, status }))
    },
    dryRun(t) {
      counts.dryRun++
      log.write('dryRun', () => ({ touchpoint: '[redacted]', ...fields(t) }))
    },
    failed(t, attempts, reason, detail, keyRejected) {
      counts.failed++
      if (keyRejected) {
        // The same for every touchpoint until the key is fixed: once a minute, with a count.
        throttled('key', WARN_INTERVAL_MS, (suppressed) =>
          log.write('keyRejected', { status: detail.status, rejectedSinceLastLine: suppressed + 1 }),
        )
      } else {
        log.write('failed', () => ({ ...fields(t), ...detail, attempts, reason }))
      }
      run.emit('onFailed', () => ({
        orderId: t.orderId,
        payload: payloadOf(t) ?? ({} as WirePayload),
        attempts,
        reason,
        ...detail,
      }))
    },
    dropped(reason, t, orderId = t?.orderId) {
      dropped.total++
      dropped[reason]++
      if (reason === 'queue_full') {
        throttled('queue_full', WARN_INTERVAL_MS, (suppressed) =>
          log.write('queueFull', { maxSize: settings.maxSize, droppedSinceLastLine: suppressed + 1 }),
        )
      } else if (reason === 'store_error') {
        throttled('store_error', WARN_INTERVAL_MS, (suppressed) =>
          log.write('storeFailed', { droppedSinceLastLine: suppressed + 1 }),
        )
      } else if (reason === 'closed') {
        log.write('droppedClosed', { orderId: loggedOrderId(orderId), reason })
      }
      // `shutdown` is logged once for all of them, by close().
      run.emit('onDropped', () => {
        const payload = t === undefined ? undefined : payloadOf(t)
        return payload === undefined ? { orderId, reason } : { orderId, reason, payload }
      })
    },
    retried(t, attempts, detail) {
      counts.retried++
      log.write('retrying', () => ({ ...fields(t), ...detail, attempts }))
    },
    fields,
    counts: () => ({ ...counts, skipped: { ...skipped }, dropped: { ...dropped } }),
  }
}

/** The sum of the outcomes: with the gauges (mapping, queued, in flight) it equals `received`. */
export function settledCount(c: LedgerCounts): number {
  return c.skipped.total + c.invalid + c.deduped + c.sent + c.failed + c.dropped.total + c.dryRun
}

/** An order id as logs show it: long ones are cut (the whole id still reaches hooks and dedupe). */
export function loggedOrderId(orderId: string | undefined): string | undefined {
  if (orderId === undefined || orderId.length <= LOGGED_ORDER_ID_LENGTH) return orderId
  return `${orderId.slice(0, LOGGED_ORDER_ID_LENGTH)}…`
}

function payloadOf(t: LedgerTouchpoint): WirePayload | undefined {
  try {
    return JSON.parse(t.body) as WirePayload
  } catch {
    return undefined
  }
}
