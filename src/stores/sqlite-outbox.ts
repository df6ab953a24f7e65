/**
 * The outbox handle: a SQLite store's file opened without a middleware, for a CLI — counts, dead
 * letters listed, sent again, purged. Safe beside running shops on the same file.
 */
import { systemClock } from '../types'
import {
  limitOf,
  listDeadLetters,
  loadSqlite,
  openDatabase,
  parseDatabasePath,
  purgeDeadLetters,
  retryDeadLetters,
  Statements,
  storeConfigError,
  type SqliteDeps,
} from './sqlite-file'
import type { DeadLetter } from './store'

/** Counts of an outbox file, exact at the time of the call. */
export interface OutboxCounts {
  /** Waiting to be sent, leased or not. */
  readonly waiting: number
  /** Of those, leased right now by a running process (being sent, or about to be). */
  readonly leased: number
  /** Dedupe keys (hashed) of delivered touchpoints, kept for the dedupe window; no customer data. */
  readonly delivered: number
  /** Dead letters kept. */
  readonly deadLetters: number
}

/**
 * A SQLite store's file opened directly, without a middleware: what a CLI needs to inspect it and
 * to send dead letters again. Every method is synchronous (better-sqlite3 is) and throws on a
 * store error. A dead letter sent again is picked up by a running shop within a second.
 */
export interface SqliteOutbox {
  /** The absolute path of the file. */
  readonly path: string
  counts(): OutboxCounts
  /** Dead letters, newest first; at most `limit` (default 1000). */
  deadLetters(options?: { readonly limit?: number }): DeadLetter[]
  /** Moves dead letters (all, or those ids) back to waiting, due now, attempts reset; returns how many. */
  retryDeadLetters(ids?: readonly string[]): number
  /** Deletes dead letters (all, or those ids); returns how many. */
  purgeDeadLetters(ids?: readonly string[]): number
  /** Closes the file. Idempotent. */
  close(): void
}

/**
 * Opens an existing outbox file (made by `sqliteStore()`) for a CLI: counts, dead letters, sending
 * them again, purging them. Never creates a file. Throws a `TouchpointConfigError`
 * (`ERR_TOUCHPOINT_STORE`) when better-sqlite3 is missing or the file does not exist or is not an
 * outbox.
 */
export function openOutbox(path: string): SqliteOutbox {
  return createOutbox(path)
}

/** {@link openOutbox} with its dependencies injectable (tests). */
export function createOutbox(path: string, deps: SqliteDeps = {}): SqliteOutbox {
  const file = parseDatabasePath(path, (message) => {
    throw storeConfigError('openOutbox', `path ${message}`)
  })
  const Sqlite = loadSqlite(deps, 'openOutbox')
  const db = openDatabase(Sqlite, file, 'process', true, 'openOutbox')
  const sql = new Statements(db)
  const clock = deps.clock ?? systemClock
  const live = (): void => {
    if (!db.open) throw new Error(`express-transactionale: the outbox "${file}" is closed`)
  }
  const readCounts = db.transaction((now: number): OutboxCounts => ({
    waiting: sql.countWaiting.get() ?? 0,
    leased: sql.countLeased.get(now) ?? 0,
    delivered: sql.countDelivered.get() ?? 0,
    deadLetters: sql.countDead.get() ?? 0,
  }))
  return {
    path: file,
    counts() {
      live()
      return readCounts(clock.now())
    },
    deadLetters(options = {}) {
      live()
      return listDeadLetters(sql, limitOf(options.limit))
    },
    retryDeadLetters(ids) {
      live()
      return retryDeadLetters(db, sql, ids, clock.now())
    },
    purgeDeadLetters(ids) {
      live()
      return purgeDeadLetters(db, sql, ids)
    },
    close() {
      if (db.open) db.close()
    },
  }
}
