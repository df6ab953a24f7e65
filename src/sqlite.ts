/**
 * Entry point `express-transactionale/sqlite`: the durable SQLite store and the outbox handle a CLI
 * uses. Kept apart from the main entry so that only shops that use it load better-sqlite3 (an
 * optional peer dependency with a native module).
 */
export { sqliteStore, SQLITE_STORE_DEFAULTS } from './stores/sqlite-store'
export type { SqliteStoreOptions } from './stores/sqlite-store'
export { openOutbox } from './stores/sqlite-outbox'
export type { SqliteOutbox, OutboxCounts } from './stores/sqlite-outbox'
