/**
 * The SQLite store's factories: `sqliteStore()` (the hot path, for the middleware) and
 * `openOutbox()` (the operator's view of a file). Each validates, loads better-sqlite3 and opens the
 * file at once, so a wrong path or a missing module is a configuration error at startup.
 */
import type { CountingStore, TouchpointStore } from '../contracts'
import { systemClock } from '../../types'
import { openDatabase, parseDatabasePath } from './file'
import { betterSqlite3Path, loadSqlite, storeConfigError, type SqliteDeps } from './load'
import { resolveSqliteOptions, type SqliteStoreOptions } from './options'
import { sqliteOutbox, type SqliteOutbox } from './outbox'
import { SqliteQueue } from './queue'

/**
 * A durable store in a SQLite file (`better-sqlite3`, an optional peer dependency), for one machine:
 * touchpoints survive restarts, crashes and `process.exit()`; several processes may share the file.
 *
 * The file is opened (and created) here, so a wrong path or a missing better-sqlite3 throws a
 * `TouchpointConfigError` (`ERR_TOUCHPOINT_STORE`) at startup.
 *
 * ```ts
 * import { sqliteStore } from 'express-transactionale/sqlite'
 * transactionaleTouchpoint({ apiKey, route: '/checkout', store: sqliteStore({ path: './var/transactionale.db' }) })
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): TouchpointStore & CountingStore {
  return createSqliteStore(options)
}

/** {@link sqliteStore} with its dependencies injectable (tests). */
export function createSqliteStore(options: SqliteStoreOptions, deps: SqliteDeps = {}): SqliteQueue {
  const resolved = resolveSqliteOptions(options)
  const Sqlite = loadSqlite(deps, 'sqliteStore')
  const db = openDatabase(Sqlite, resolved.path, {
    durability: resolved.durability,
    mustExist: false,
    option: 'sqliteStore.path',
  })
  // Checkpoints run on a thread that loads the same module; with an injected module, in the connection.
  return new SqliteQueue(db, resolved, deps.load === undefined ? betterSqlite3Path() : undefined)
}

/**
 * Opens an existing file made by `sqliteStore()` for an operator: counts, waiting touchpoints and
 * dead letters, sending dead letters again, purging them. Never creates a file. Throws a
 * `TouchpointConfigError` (`ERR_TOUCHPOINT_STORE`) when better-sqlite3 is missing or the file does
 * not exist or is not an outbox.
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
  const db = openDatabase(Sqlite, file, { durability: 'process', mustExist: true, option: 'openOutbox' })
  return sqliteOutbox(db, file, deps.clock ?? systemClock)
}
