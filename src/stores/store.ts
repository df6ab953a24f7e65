/**
 * The store seam: where a validated touchpoint waits between the pipeline and delivery. The
 * delivery policy (pump, outage, retries, concurrency) is written once and drives every store
 * through this interface, so it speaks of touchpoints — add, claim the due ones, settle them, dead
 * letters — never of SQL or Redis. Implementations: `memoryStore()` (the default, one process's
 * memory) and `sqliteStore()` (`express-transactionale/sqlite`, durable on one machine).
 */
import type { TouchpointLogger } from '../logger'
import type { Clock } from '../types'

/** A touchpoint as the pipeline hands it to a store. */
export interface NewTouchpoint {
  /** The exact wire body (JSON text) to POST. */
  readonly body: string
  /** The shop's order id (any length), for logs and hooks; never sent to the API. */
  readonly orderId: string | undefined
  /** The dedupe key (at most 135 characters), or `undefined` when no dedupe applies to this order. */
  readonly dedupeKey: string | undefined
  /** When the order's response ended, ms since the epoch. */
  readonly receivedAt: number
}

/** A touchpoint held by a store. */
export interface StoredTouchpoint extends NewTouchpoint {
  /** The store's id for it (unique within the store). */
  readonly id: string
  /** HTTP attempts already made before this claim (0 for a new one). */
  readonly attempts: number
}

/** A touchpoint that failed for good, kept with its reason so it can be listed and sent again. */
export interface DeadLetter {
  readonly id: string
  readonly orderId: string | undefined
  readonly body: string
  readonly attempts: number
  /** Why it failed: `rejected (400)`, `attempts_exhausted (ECONNREFUSED)`, … */
  readonly reason: string
  readonly receivedAt: number
  readonly failedAt: number
}

/**
 * What `add` did: stored, skipped as a duplicate within the dedupe window, refused (store full), or
 * refused because the store is unreachable and its local buffer is full (a networked store: Redis).
 */
export type AddResult = 'added' | 'duplicate' | 'full' | 'unavailable'

/** What the middleware tells its store when it opens it. */
export interface StoreContext {
  /** Touchpoints that may wait at most (the `queue.maxSize` option). */
  readonly maxSize: number
  /** The dedupe window (`dedupe.windowMs`); `0` turns dedupe off. */
  readonly dedupeWindowMs: number
  /** How many dedupe keys an in-memory store keeps at most (`dedupe.maxEntries`). */
  readonly dedupeMaxEntries: number
  /**
   * How long a claim holds a touchpoint for this process: a touchpoint claimed by a process that
   * died is claimable again after it. Longer than one HTTP attempt can take.
   */
  readonly leaseMs: number
  readonly clock: Clock
  readonly logger: TouchpointLogger
}

/** Counts a store can give at once (synchronously), for `stats()`. */
export interface StoreCounts {
  /** Waiting to be claimed (due now or later), not counting what this process has claimed. */
  readonly waiting: number
  /** Dead letters kept. */
  readonly deadLetters: number
}

/**
 * Where touchpoints wait. Every method may be called again after `close()` has begun and must then
 * neither throw nor reject (return what it can). A store is opened by exactly one middleware.
 */
export interface TouchpointStore {
  /** `'memory'`, `'sqlite'`, … for logs and `stats()`. */
  readonly kind: string
  /** True when what it holds survives the process (then `close()` leaves it for the next start). */
  readonly durable: boolean
  /** Called once, by the middleware, before anything else. Recovers what a durable store holds. */
  open(context: StoreContext): Promise<void>
  /**
   * Stores a touchpoint, unless its `dedupeKey` was added within the dedupe window and has not failed
   * since (`'duplicate'`), or the store holds `maxSize` waiting touchpoints (`'full'`). A durable
   * store resolves once the touchpoint is on disk (writes arriving together share one commit).
   */
  add(touchpoint: NewTouchpoint): Promise<AddResult>
  /** Claims up to `limit` touchpoints that are due now, oldest due first, leasing them to this process. */
  claim(limit: number): Promise<StoredTouchpoint[]>
  /** Delivered: forget its data, keep its dedupe key (hashed, with the time) for the dedupe window. */
  delivered(touchpoint: StoredTouchpoint): Promise<void>
  /** To be attempted again at `dueAt`, after `attempts` attempts in all; ends this process's claim. */
  retry(touchpoint: StoredTouchpoint, attempts: number, dueAt: number): Promise<void>
  /**
   * Failed for good after `attempts` attempts: kept as a dead letter with `reason` for the store's
   * retention (a memory store keeps none); its dedupe key is forgotten, so the order may come again.
   */
  failed(touchpoint: StoredTouchpoint, attempts: number, reason: string): Promise<void>
  /** Gives claimed touchpoints back unattempted (due now): at `close()`, for the next start. */
  release(touchpoints: readonly StoredTouchpoint[]): Promise<void>
  /**
   * Removes and returns everything waiting (a non-durable store at `close()`'s deadline: the caller
   * reports them as dropped). A durable store returns `[]` and keeps them.
   */
  drain(): Promise<StoredTouchpoint[]>
  /** Forgets a dedupe key (a touchpoint that was dropped before it was stored may come again). */
  forget(dedupeKey: string): void
  /** Counts for `stats()`; synchronous and cheap. */
  counts(): StoreCounts
  /** Order ids of waiting touchpoints, oldest first, at most `limit` (optional: for the exit warning). */
  waitingOrderIds?(limit: number): string[]
  /** When the earliest waiting touchpoint that is not due yet becomes due (ms epoch), if any. */
  nextDueAt(): number | undefined
  /**
   * Registers the pump's wake-up: called when touchpoints may have become claimable without an `add`
   * of this process (another process's writes, an expired lease, a dead letter sent again, a retry
   * that came due after a claim and before `nextDueAt()`, which no longer counts it). A store that
   * polls may call it up to a poll later.
   */
  onAvailable(listener: () => void): void
  /** Dead letters, newest first. */
  deadLetters(options?: { readonly limit?: number }): Promise<DeadLetter[]>
  /** Moves dead letters (all, or those ids) back to waiting, due now, attempts reset; resolves with how many. */
  retryDeadLetters(ids?: readonly string[]): Promise<number>
  /** Deletes dead letters (all, or those ids); resolves with how many. */
  purgeDeadLetters(ids?: readonly string[]): Promise<number>
  /** Commits what is buffered and releases files and connections. Idempotent, never rejects. */
  close(): Promise<void>
  /**
   * Optional, for a store shared by several processes (Redis): the outage pause of this process
   * started or grew, so every process sharing the store stops claiming until `until` (ms epoch), then
   * claims one touchpoint at a time in all, until {@link TouchpointStore.resumeAll}. Never throws.
   */
  pauseAll?(until: number): void
  /** Optional: a probe of this process was delivered; the processes sharing the store claim freely again. */
  resumeAll?(): void
}
