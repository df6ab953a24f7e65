/**
 * The engine seam: what moves touchpoints from a store to `deliver()`. Our pump is one engine (the
 * memory and SQLite stores); a store that brings its own (Redis: BullMQ's `Worker`) is another.
 * The middleware and `runWorker()` speak only to this interface.
 */
import type { Ledger } from '../ledger'
import type { Log } from '../logger'
import type { NewTouchpoint, StoreContext } from '../stores/contracts'
import type { Clock } from '../types'
import type { Deliverer } from './deliver'
import type { OutageState } from './outage'

/** An engine's gauges, for `stats()`. */
export interface EngineStats {
  /** This process's touchpoints waiting to be sent by this process (see `TouchpointStats.queued`). */
  readonly queued: number
  /** HTTP attempts under way. */
  readonly inFlight: number
  /** The outage state. */
  readonly state: OutageState
  /** Requests allowed in flight now: the concurrency limit, as the outage state allows it (0 while paused). */
  readonly limit: number
}

/** What stopping left behind. */
export interface StopResult {
  /** Dropped as `shutdown` (a non-durable store): waiting or in flight at the deadline. */
  readonly abandoned: number
  /** Left in a durable store for the next start. */
  readonly persisted: number
}

export interface Engine {
  /** Hands a touchpoint to the store; resolves once it is stored, or counted as deduped or dropped. Never rejects. */
  submit(touchpoint: NewTouchpoint): Promise<void>
  /**
   * Resolves when nothing this process holds is being stored, waiting, claimed or in flight, and
   * the store has recorded each outcome. All callers share one promise. Never rejects.
   */
  flush(): Promise<void>
  /** Resolves when nothing this process holds is being stored or in flight; claims nothing new meanwhile. */
  settleInFlight(): Promise<void>
  /** Stops for good: cancels timers, reports or persists what is left, closes the store. */
  stop(): Promise<StopResult>
  /** Order ids of touchpoints waiting or in flight, at most `limit` (for the exit warning). */
  pendingOrderIds(limit: number): string[]
  stats(): EngineStats
}

/** What an engine is built from: the delivery function and the parts every engine shares. */
export interface EngineParts {
  readonly deliverer: Deliverer
  readonly ledger: Ledger
  readonly log: Log
  readonly clock: Clock
  /** The store's settings (the engine passes them on when it opens its store). */
  readonly context: Omit<StoreContext, 'onAvailable'>
}
