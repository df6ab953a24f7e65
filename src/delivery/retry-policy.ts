/**
 * The retry policy: which outcomes are delivered, final or worth another attempt (and whether a
 * final one means the API key itself is refused), and how long delivery pauses after a retryable
 * one (full-jitter exponential backoff, or the API's Retry-After), all as pure functions.
 */
import type { HttpResult } from '../http-client'

/** Retry settings (see the `retry` option). */
export interface RetrySettings {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly maxRetryAfterMs: number
}

/** What an attempt's outcome means for the touchpoint and for delivery as a whole. */
export type Verdict =
  | { readonly kind: 'delivered'; readonly status: number }
  | {
      readonly kind: 'final'
      readonly status: number
      /** 401 or 403: the API refuses the key, so every touchpoint will fail the same way. */
      readonly keyRejected: boolean
    }
  | { readonly kind: 'retry'; readonly status?: number; readonly error?: string; readonly retryAfterMs?: number }

const RETRYABLE_STATUS = new Set([408, 425, 429])

/**
 * HTTP defines status codes from 100 to 599. Node's parser accepts any three digits (`600`, `999`,
 * `099`), and such an answer comes from a broken server or proxy, not a busy one: retrying it only
 * repeats the request, so it is a final failure, counted like a refusal.
 */
function isHttpStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 100 && status <= 599
}

/** Classifies one attempt. `now` is for HTTP-date Retry-After values. */
export function classify(result: HttpResult, settings: RetrySettings, now: number): Verdict {
  if (result.kind === 'network') return { kind: 'retry', error: result.code }
  const { status } = result
  if (!isHttpStatus(status)) return { kind: 'final', status, keyRejected: false }
  if (status >= 200 && status < 300) return { kind: 'delivered', status }
  const retryable = RETRYABLE_STATUS.has(status) || (status >= 500 && status !== 501 && status !== 505)
  if (!retryable) return { kind: 'final', status, keyRejected: status === 401 || status === 403 }
  if ((status === 429 || status === 503) && result.retryAfter !== undefined) {
    const wait = parseRetryAfter(result.retryAfter, now)
    if (wait !== undefined) return { kind: 'retry', status, retryAfterMs: Math.min(wait, settings.maxRetryAfterMs) }
  }
  return { kind: 'retry', status }
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; `undefined` if unreadable. */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const trimmed = value.trim()
  if (/^\d{1,12}$/.test(trimmed)) return Number(trimmed) * 1000
  // An HTTP date names its day and month; Date.parse alone would read "-1" as a year.
  if (!/^[A-Za-z]{3}, /.test(trimmed)) return undefined
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Full-jitter exponential backoff for the `failures`-th consecutive failure (1-based). */
export function backoffDelay(failures: number, settings: RetrySettings, random: () => number): number {
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.min(failures - 1, 30))
  return Math.floor(random() * ceiling)
}

/**
 * Network errors that mean no connection was made, so nothing reached the API: the request's
 * content cannot be their cause (a failed probe of these uses up no attempt; see the pump).
 */
export const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
])

/**
 * The longest pause after a failure to connect at all. Such a probe costs the API nothing (it is
 * not even reached) and uses up no attempt (see the pump), so the end of an outage is seen within
 * seconds instead of up to `maxDelayMs`; an API that answers 5xx, on the other hand, may be
 * overloaded and gets the full backoff.
 */
export const NOT_CONNECTED_MAX_PAUSE_MS = 5000

/**
 * How long delivery pauses after a retryable failure: the API's Retry-After when it gave one, else
 * the backoff (capped at {@link NOT_CONNECTED_MAX_PAUSE_MS} when no connection was made) — never
 * less than `baseDelayMs` (a `Retry-After: 0` or an unlucky jitter must not let a burst of retries
 * hit a struggling API).
 */
export function pauseDelay(
  verdict: Extract<Verdict, { kind: 'retry' }>,
  failures: number,
  settings: RetrySettings,
  random: () => number,
): number {
  const backoff =
    verdict.error !== undefined && NOT_CONNECTED.has(verdict.error)
      ? { ...settings, maxDelayMs: Math.min(settings.maxDelayMs, NOT_CONNECTED_MAX_PAUSE_MS) }
      : settings
  const delay = verdict.retryAfterMs ?? backoffDelay(failures, backoff, random)
  return Math.max(settings.baseDelayMs, delay)
}
