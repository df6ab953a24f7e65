/**
 * The store contracts, kept narrow so that each store is easy to write and to read:
 *
 * - {@link TouchpointStore}, the hot path: where a validated touchpoint waits between the pipeline
 *   and delivery (add, claim, settle, close). Our pump drives it; the memory and SQLite stores
 *   implement it. It speaks of touchpoints, never of HTTP, SQL or Redis.
 * - {@link SelfDeliveringStore}: a store that brings its own delivery engine (Redis: BullMQ's
 *   `Worker` runs the package's `deliver()`), so the pump does not drive it.
 * - {@link TouchpointOutbox}, the operator's view: counts, listing, sending dead letters again,
 *   purging — what the `outbox` CLI uses. Never on the hot path.
 */
import type { Engine, EngineParts } from '../delivery/engine'
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
 * What `add` did: stored; skipped as a duplicate within the dedupe window; refused because the
 * store holds `maxSize` touchpoints (`'full'`); or refused because the store cannot take it now —
 * unreachable with its local buffer full, or closed (`'unavailable'`).
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
  /**
   * The pump's wake-up: a store calls it when touchpoints may have become claimable without an `add`
   * of this process (another process's writes, an expired lease, a dead letter sent again, a
   * buffered write that finally committed). A store that polls may call it up to a poll later.
   */
  readonly onAvailable: () => void
}

/** What a claim found: the touchpoints due now, and when the next one that is not due yet will be. */
export interface Claim {
  readonly touchpoints: readonly StoredTouchpoint[]
  /** When the earliest waiting touchpoint that is not due yet becomes due (ms epoch), if any. */
  readonly nextDueAt: number | undefined
}

/** How an attempt (or no attempt) ends a claim. */
export type Settlement =
  /** Delivered: forget its data, keep its dedupe key (hashed) for the dedupe window. */
  | { readonly kind: 'delivered' }
  /**
   * To be attempted again at `dueAt`, after `attempts` attempts in all; `reason` is what the last
   * one met (`503`, `ECONNREFUSED`), kept where the store can show it (`outbox list --waiting`).
   */
  | { readonly kind: 'retry'; readonly attempts: number; readonly dueAt: number; readonly reason?: string }
  /**
   * Failed for good after `attempts` attempts: kept as a dead letter with `reason` where the store
   * keeps dead letters; its dedupe key is forgotten, so the order may come again.
   */
  | { readonly kind: 'failed'; readonly attempts: number; readonly reason: string }
  /** Given back unattempted, due now (at shutdown): the next start, or another process, sends it. */
  | { readonly kind: 'released' }

/**
 * The hot path: where touchpoints wait for our pump. Once `close()` has begun every method still
 * answers without throwing or rejecting, the same way in every store: `add` resolves
 * `'unavailable'`, `claim` finds nothing, `settle` does nothing, `close` returns its first answer.
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
   * since (`'duplicate'`), or the store holds `maxSize` waiting touchpoints (`'full'`). It resolves
   * without waiting for a lock held elsewhere: a durable store may keep a write in a bounded buffer
   * until its commit succeeds.
   */
  add(touchpoint: NewTouchpoint): Promise<AddResult>
  /** Claims up to `limit` touchpoints that are due now, oldest due first, leasing only those to this process. */
  claim(limit: number): Promise<Claim>
  /** Ends this process's claim on a touchpoint (see {@link Settlement}). */
  settle(touchpoint: StoredTouchpoint, outcome: Settlement): Promise<void>
  /**
   * Commits what is buffered and releases files and connections. Resolves with what a non-durable
   * store still held (the caller reports it as dropped); a durable store keeps it and resolves `[]`.
   * Idempotent, never rejects.
   */
  close(): Promise<readonly StoredTouchpoint[]>
}

/** Counts a store can give at once (synchronously), for `stats()`. */
export interface StoreCounts {
  /** Waiting to be claimed (due now or later), not counting what this process has claimed. */
  readonly waiting: number
  /** Dead letters kept. */
  readonly deadLetters: number
}

/** A store that can say, synchronously and cheaply, what it holds (every built-in store). */
export interface CountingStore {
  counts(): StoreCounts
  /** Order ids of waiting touchpoints, oldest first, at most `limit` (for the exit warning). */
  waitingOrderIds?(limit: number): string[]
}

/**
 * A store with its own delivery engine (Redis: BullMQ's `Worker` running the package's
 * `deliver()`). The middleware starts its engine instead of a pump.
 */
export interface SelfDeliveringStore extends CountingStore {
  readonly kind: string
  readonly durable: true
  /** Called once, by the middleware: opens the store and returns the engine that feeds and drains it. */
  start(parts: EngineParts): Engine
}

/** Any store the `store` option takes. */
export type AnyStore = TouchpointStore | SelfDeliveringStore

/** Whether a store brings its own engine. */
export function isSelfDelivering(store: AnyStore): store is SelfDeliveringStore {
  return typeof (store as Partial<SelfDeliveringStore>).start === 'function'
}

/** Counts of a store that may not keep any. */
export function countsOf(store: AnyStore): StoreCounts {
  const counting = store as Partial<CountingStore>
  return typeof counting.counts === 'function' ? counting.counts() : { waiting: 0, deadLetters: 0 }
}

/** A touchpoint as the operator's outbox lists it. */
export interface OutboxEntry {
  readonly id: string
  readonly orderId: string | undefined
  /** The wire body (customer data: the CLI masks it unless asked to show it). */
  readonly body: string
  readonly attempts: number
  readonly receivedAt: number
  /** `waiting` (due now), `delayed` (waiting for a retry), `sending` (claimed by a process now) or `dead`. */
  readonly state: 'waiting' | 'delayed' | 'sending' | 'dead'
  /** When a delayed one is due (ms epoch). */
  readonly dueAt?: number
  /** The last attempt's error or status, or a dead letter's reason. */
  readonly lastError?: string
  /** When a dead letter failed (ms epoch). */
  readonly failedAt?: number
}

/** The counts the operator sees; a store gives those it knows. */
export interface OutboxStats {
  /** Waiting to be sent: due now, waiting for a retry, or being sent. */
  readonly waiting: number
  /** Of those, being sent right now. */
  readonly beingSent: number
  /** Of those, waiting for a retry's due time. */
  readonly delayed?: number
  /** Delivered, kept for the dedupe window without customer data (SQLite). */
  readonly delivered?: number
  readonly deadLetters: number
  /** How many dead letters `retry()` would move now (half of the shops' `queue.maxSize` less what waits), when known. */
  readonly room?: number | undefined
}

/**
 * The operator's outbox: what the `outbox` CLI needs of a durable store, async so that a remote
 * store fits as well as a file. Never used on the hot path.
 */
export interface TouchpointOutbox {
  /** How to name it in output, e.g. `sqlite:/var/app/outbox.db` (never with a password). */
  readonly name: string
  stats(): Promise<OutboxStats>
  /** Waiting touchpoints (oldest first) or dead letters (newest first), a page at a time. */
  list(options: {
    readonly state: 'waiting' | 'dead'
    readonly limit: number
    readonly offset?: number
  }): Promise<OutboxEntry[]>
  /** The touchpoints of one order id (waiting or dead), or of one store id. */
  find(orderIdOrId: string): Promise<OutboxEntry[]>
  /**
   * Moves dead letters (all, or those ids) back to waiting, due now, attempts reset, never more
   * than the store has room for; resolves with how many.
   */
  retry(ids?: readonly string[]): Promise<number>
  /** Deletes dead letters (all, or those ids); resolves with how many. */
  purge(ids?: readonly string[]): Promise<number>
  close(): Promise<void>
}
