/**
 * Entry point `express-transactionale/sqlite`: the durable SQLite store and the outbox handle a CLI
 * uses. Kept apart from the main entry so that only shops that use it load better-sqlite3 (an
 * optional peer dependency with a native module).
 */
export { sqliteStore, openOutbox } from './stores/sqlite'
export { SQLITE_STORE_DEFAULTS } from './stores/sqlite/options'
export type { SqliteStoreOptions } from './stores/sqlite/options'
export type { SqliteOutbox, OutboxCounts, SqliteOutboxStats } from './stores/sqlite/outbox'
