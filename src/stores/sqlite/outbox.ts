/**
 * The SQLite store's file opened without a middleware, for an operator (the `outbox` CLI, or code):
 * the `TouchpointOutbox` contract — counts, waiting touchpoints and dead letters listed a page at a
 * time, one order found, dead letters sent again (never more than the shops have room for) or
 * purged — plus the synchronous methods of earlier versions. Safe beside running shops: the async
 * methods never wait for a lock on the event loop (a timer retries them); the synchronous ones wait
 * up to {@link SYNC_BUSY_TIMEOUT_MS}, as they always did.
 */
import type { DeadLetter, OutboxEntry, OutboxStats, TouchpointOutbox } from '../contracts'
import { isBusy, type Database } from './load'
import { OutboxStatements, type OutboxRow } from './statements'
import type { Clock } from '../../types'

/** Counts of an outbox file, exact at the time of the call (the synchronous API). */
export interface OutboxCounts {
  /** Waiting to be sent, leased or not. */
  readonly waiting: number
  /** Of those, leased right now by a running process (being sent). */
  readonly leased: number
  /** Dedupe keys (hashed) of delivered touchpoints, kept for the dedupe window; no customer data. */
  readonly delivered: number
  /** Dead letters kept. */
  readonly deadLetters: number
}

/** What `stats()` of a SQLite outbox adds to the contract's counts. */
export interface SqliteOutboxStats extends OutboxStats {
  /**
   * How many dead letters `retry()` would move now: half of the shops' `queue.maxSize` (recorded in
   * the file by the last shop that opened it) less what waits, so live orders keep the other half.
   * `undefined` when no shop of this version has opened the file (no limit is known).
   */
  readonly room: number | undefined
}

/**
 * A SQLite store's file opened directly: the operator's {@link TouchpointOutbox}, plus the
 * synchronous methods of earlier versions (`counts`, `deadLetters`, `retryDeadLetters`,
 * `purgeDeadLetters`), which throw on a store error. A dead letter sent again is picked up by a
 * running shop within a second.
 */
export interface SqliteOutbox extends TouchpointOutbox {
  /** The absolute path of the file. */
  readonly path: string
  stats(): Promise<SqliteOutboxStats>
  counts(): OutboxCounts
  /** Dead letters, newest first; at most `limit` (default 1000). */
  deadLetters(options?: { readonly limit?: number }): DeadLetter[]
  /** Moves dead letters (all, or those ids) back to waiting, due now, attempts reset; returns how many (no room limit). */
  retryDeadLetters(ids?: readonly string[]): number
  /** Deletes dead letters (all, or those ids); returns how many. */
  purgeDeadLetters(ids?: readonly string[]): number
  /** Closes the file. Idempotent; synchronous underneath (callers of earlier versions need not await it). */
  close(): Promise<void>
}

/** How long the synchronous methods wait for another process's lock. */
const SYNC_BUSY_TIMEOUT_MS = 5000
/** How long the async methods keep retrying a lock held elsewhere, from a timer. */
const ASYNC_LOCK_WAIT_MS = 10_000
const LOCK_RETRY_MS = [10, 25, 50, 100, 200] as const
/** Of the shops' `queue.maxSize`, the share `retry()` may fill: the rest is for live orders. */
const RETRY_SHARE = 0.5

export function sqliteOutbox(db: Database, path: string, clock: Clock): SqliteOutbox {
  const sql = new OutboxStatements(db)
  const live = (): void => {
    if (!db.open) throw new Error(`express-transactionale: the outbox "${path}" is closed`)
  }
  /** Runs `work` now; on SQLITE_BUSY again from a timer, up to {@link ASYNC_LOCK_WAIT_MS}. */
  const whenFree = async <T>(work: () => T): Promise<T> => {
    const deadline = Date.now() + ASYNC_LOCK_WAIT_MS
    for (let attempt = 0; ; attempt++) {
      live()
      try {
        return work()
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error
      }
      const delay = LOCK_RETRY_MS[Math.min(attempt, LOCK_RETRY_MS.length - 1)] as number
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
  /** Runs `work` waiting for a lock as the synchronous API always did. */
  const waiting = <T>(work: () => T): T => {
    live()
    db.pragma(`busy_timeout = ${SYNC_BUSY_TIMEOUT_MS}`)
    try {
      return work()
    } finally {
      db.pragma('busy_timeout = 0')
    }
  }
  const room = (): number | undefined => {
    const maxSize = sql.getMeta.get('max_size')
    if (maxSize === undefined) return undefined
    return Math.max(0, Math.floor(maxSize * RETRY_SHARE) - (sql.countWaiting.get() ?? 0))
  }
  const readStats = db.transaction((now: number): SqliteOutboxStats => {
    const waitingCount = sql.countWaiting.get() ?? 0
    return {
      waiting: waitingCount,
      beingSent: sql.countLeased.get(now) ?? 0,
      delayed: sql.countDelayed.get(now) ?? 0,
      delivered: sql.countDelivered.get() ?? 0,
      deadLetters: sql.countDead.get() ?? 0,
      room: room(),
    }
  })
  /** Moves dead letters back, in order, while there is room (`limit`); a letter whose order came again stays. */
  const moveBack = (ids: readonly number[], limit: number): number => {
    const now = clock.now()
    let moved = 0
    for (const id of ids) {
      if (moved >= limit) break
      moved += sql.retryDead.run(now, id).changes
    }
    return moved
  }
  const retryTx = db.transaction((ids: readonly string[] | undefined): number => {
    const limit = room() ?? Number.POSITIVE_INFINITY
    if (limit <= 0) return 0
    return moveBack(ids === undefined ? sql.oldestDead.all(-1) : rowIds(ids), limit)
  })
  const retryAllTx = db.transaction((ids: readonly string[] | undefined): number =>
    moveBack(ids === undefined ? sql.oldestDead.all(-1) : rowIds(ids), Number.POSITIVE_INFINITY),
  )
  const purgeTx = db.transaction((ids: readonly string[] | undefined): number => {
    if (ids === undefined) return sql.purgeAllDead.run().changes
    let purged = 0
    for (const id of rowIds(ids)) purged += sql.purgeDead.run(id).changes
    return purged
  })

  return {
    name: `sqlite:${path}`,
    path,
    stats: () => whenFree(() => readStats(clock.now())),
    list({ state, limit, offset = 0 }) {
      const now = clock.now()
      return whenFree(() =>
        (state === 'dead' ? sql.listDead : sql.listWaiting).all(limit, offset).map((row) => entryOf(row, now)),
      )
    },
    find(orderIdOrId) {
      const now = clock.now()
      const id = rowIds([orderIdOrId])[0] ?? -1
      return whenFree(() => sql.find.all(orderIdOrId, id).map((row) => entryOf(row, now)))
    },
    retry: (ids) => whenFree(() => retryTx.immediate(ids)),
    purge: (ids) => whenFree(() => purgeTx.immediate(ids)),
    counts() {
      const { waiting: count, beingSent, delivered = 0, deadLetters } = waiting(() => readStats(clock.now()))
      return { waiting: count, leased: beingSent, delivered, deadLetters }
    },
    deadLetters(options = {}) {
      const limit =
        options.limit !== undefined && Number.isFinite(options.limit) && options.limit >= 0
          ? Math.floor(options.limit)
          : 1000
      return waiting(() => sql.listDead.all(limit, 0)).map(deadLetterOf)
    },
    retryDeadLetters: (ids) => waiting(() => retryAllTx.immediate(ids)),
    purgeDeadLetters: (ids) => waiting(() => purgeTx.immediate(ids)),
    close() {
      if (db.open) db.close()
      return Promise.resolve()
    },
  }
}

/** Store ids are the row ids as strings; anything else names no row. */
function rowIds(ids: readonly string[]): number[] {
  const out: number[] = []
  for (const id of ids) if (/^[1-9]\d{0,15}$/.test(id)) out.push(Number(id))
  return out
}

function entryOf(row: OutboxRow, now: number): OutboxEntry {
  const base = {
    id: String(row.id),
    orderId: row.order_id ?? undefined,
    body: row.body ?? '',
    attempts: row.attempts,
    receivedAt: row.received_at,
  }
  if (row.state === 'dead') {
    return {
      ...base,
      state: 'dead',
      ...(row.reason === null ? {} : { lastError: row.reason }),
      ...(row.failed_at === null ? {} : { failedAt: row.failed_at }),
    }
  }
  const lastError = row.last_error === null ? {} : { lastError: row.last_error }
  if (row.lease_until !== null && row.lease_until > now) return { ...base, state: 'sending', ...lastError }
  if (row.due_at > now) return { ...base, state: 'delayed', dueAt: row.due_at, ...lastError }
  return { ...base, state: 'waiting', ...lastError }
}

function deadLetterOf(row: OutboxRow): DeadLetter {
  return {
    id: String(row.id),
    orderId: row.order_id ?? undefined,
    body: row.body ?? '',
    attempts: row.attempts,
    reason: row.reason ?? '',
    receivedAt: row.received_at,
    failedAt: row.failed_at ?? 0,
  }
}
