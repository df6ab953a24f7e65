/**
 * Outcome hooks: their typed events, and the runner that calls them so that a throwing or
 * rejecting hook is logged and never breaks delivery or leaks an unhandled rejection.
 */
import type { Log } from './logger'
import type { WirePayload } from './payload'

/** Why an order produced no touchpoint without being invalid. */
export type SkipReason = 'status' | 'no_customer' | 'duplicate'
/**
 * Why a touchpoint was dropped before delivery: `queue_full`, `closed` (arrived after `close()`),
 * `shutdown` (still pending at `close()`'s deadline, memory store), `store_error` (the store could
 * not take it), `store_unavailable` (the store was unreachable and its local buffer full: Redis).
 */
export type DropReason = 'queue_full' | 'closed' | 'shutdown' | 'store_error' | 'store_unavailable'
/** Why a touchpoint failed for good. */
export type FailReason = 'rejected' | 'attempts_exhausted'
/** Where an order was found invalid. */
export type InvalidStage = 'isSuccess' | 'mapper' | 'validation'

/** Passed to `onSent`. */
export interface SentEvent {
  readonly orderId: string | undefined
  /** The exact body that was delivered. */
  readonly payload: WirePayload
  readonly attempts: number
  readonly status: number
}

/** Passed to `onFailed`: keep `payload` if you want to send it again later. */
export interface FailedEvent {
  readonly orderId: string | undefined
  readonly payload: WirePayload
  readonly attempts: number
  /**
   * `rejected`: a final answer (a 4xx that is not worth retrying, or a status outside 100–599: a
   * broken server); `attempts_exhausted`: `retry.maxAttempts` retryable failures.
   */
  readonly reason: FailReason
  /** The last HTTP status, when there was an answer. */
  readonly status?: number
  /** The last network error code (`ECONNREFUSED`, `ETIMEDOUT`, …), when there was no answer. */
  readonly error?: string
}

/** Passed to `onDropped`: keep `payload` if you want to send it again later. */
export interface DroppedEvent {
  readonly orderId: string | undefined
  /** Absent when the order's response ended after `close()` began: it was never mapped. */
  readonly payload?: WirePayload
  readonly reason: DropReason
}

/** Passed to `onInvalid`: field names and reasons, never values. */
export interface InvalidEvent {
  readonly orderId: string | undefined
  /**
   * `isSuccess`: the `isSuccess` option threw; `mapper`: the mapper threw, rejected or timed out;
   * `validation`: a required field is missing or wrong.
   */
  readonly stage: InvalidStage
  readonly reasons: readonly string[]
}

/** Passed to `onSkipped`. */
export interface SkippedEvent {
  readonly orderId: string | undefined
  /** `status`: the response was not a success; `no_customer`: the mapper returned nothing; `duplicate`: same dedupe key within the dedupe window. */
  readonly reason: SkipReason
  /** The response status, for `status`. */
  readonly status?: number
}

/** Optional callbacks for every outcome. They never receive the API key; they may be async. */
export interface Hooks {
  onSent?: (event: SentEvent) => void | Promise<void>
  onFailed?: (event: FailedEvent) => void | Promise<void>
  onDropped?: (event: DroppedEvent) => void | Promise<void>
  onInvalid?: (event: InvalidEvent) => void | Promise<void>
  onSkipped?: (event: SkippedEvent) => void | Promise<void>
}

export const HOOK_NAMES = ['onSent', 'onFailed', 'onDropped', 'onInvalid', 'onSkipped'] as const

type EventOf<K extends keyof Hooks> = Parameters<NonNullable<Hooks[K]>>[0]

/** Calls hooks safely; the event is built only when the hook exists. */
export interface HookRunner {
  emit<K extends keyof Hooks>(name: K, event: () => EventOf<K>): void
}

export function createHookRunner(hooks: Hooks, log: Log): HookRunner {
  const failed = (name: string, error: unknown): void => {
    log.write('hookThrew', { hook: name, error: describeError(error, false) })
  }
  return {
    emit(name, event) {
      const hook = hooks[name] as ((e: EventOf<typeof name>) => unknown) | undefined
      if (hook === undefined) return
      try {
        const result = hook(event())
        // Any thenable, not only a native Promise; resolving it reads `then` inside the promise machinery.
        if (typeof result === 'object' && result !== null && 'then' in result) {
          Promise.resolve(result).catch((error: unknown) => failed(name, error))
        }
      } catch (error) {
        failed(name, error)
      }
    },
  }
}

/**
 * What an error's `name` or `code` may look like to be shown without `logPersonalData`: an
 * identifier (`ECONNRESET`, `SQLITE_BUSY`, `ER_DUP_ENTRY`, `P2002`, `auth.expired`). Anything else
 * may quote customer data (`e.code = 'E_DUP anna@example.com'`), so it is withheld.
 */
const IDENTIFIER = /^[A-Za-z0-9_.-]{1,40}$/

/**
 * An error's class name and string code; its message only with `withMessage` (messages can quote
 * customer data). Without `withMessage` (that is, without `logPersonalData`), a name or code that is
 * not an identifier is withheld too. Never throws, whatever was thrown: getters that throw, proxies,
 * revoked objects.
 */
export function describeError(error: unknown, withMessage: boolean): string {
  try {
    if (!(error instanceof Error)) return `non-Error thrown (${typeof error})`
    // A subclass that does not set `name` is still named by its class: `DbError`, not `Error`.
    const own = typeof error.name === 'string' ? error.name : 'Error'
    const ctor = (error.constructor as { name?: unknown } | undefined)?.name
    const fullName = own === 'Error' && typeof ctor === 'string' && ctor !== '' ? ctor : own
    const name = withMessage || IDENTIFIER.test(fullName) ? fullName.slice(0, 100) : '(name withheld)'
    let code: unknown
    try {
      code = (error as { code?: unknown }).code
    } catch {
      code = undefined
    }
    let named = name
    if (typeof code === 'string') {
      named = `${name} (${withMessage || IDENTIFIER.test(code) ? code.slice(0, 100) : 'code withheld'})`
    }
    if (!withMessage) return named
    return typeof error.message === 'string' ? `${named}: ${error.message.slice(0, 1000)}` : named
  } catch {
    return 'unreadable error'
  }
}
