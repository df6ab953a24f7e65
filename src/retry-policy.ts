/**
 * The retry policy: which outcomes are worth another attempt, how long the dispatcher pauses after
 * one (full-jitter exponential backoff, or the API's Retry-After), all as pure functions.
 */
import type { HttpResult } from './http-client'

/** Retry settings (see the `retry` option). */
export interface RetrySettings {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly maxRetryAfterMs: number
}

/** What an attempt's outcome means for the touchpoint and for the dispatcher. */
export type Verdict =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'final'; readonly status: number }
  | { readonly kind: 'retry'; readonly status?: number; readonly error?: string; readonly retryAfterMs?: number }

const RETRYABLE_STATUS = new Set([408, 425, 429])

/** Classifies one attempt. `now` is for HTTP-date Retry-After values. */
export function classify(result: HttpResult, settings: RetrySettings, now: number): Verdict {
  if (result.kind === 'network') return { kind: 'retry', error: result.code }
  const { status } = result
  if (status >= 200 && status < 300) return { kind: 'delivered', status }
  const retryable = RETRYABLE_STATUS.has(status) || (status >= 500 && status !== 501 && status !== 505)
  if (!retryable) return { kind: 'final', status }
  if ((status === 429 || status === 503) && result.retryAfter !== undefined) {
    const wait = parseRetryAfter(result.retryAfter, now)
    if (wait !== undefined) return { kind: 'retry', status, retryAfterMs: Math.min(wait, settings.maxRetryAfterMs) }
  }
  return { kind: 'retry', status }
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; `undefined` if unreadable. */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
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
