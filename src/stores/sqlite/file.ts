/**
 * The outbox file: creating and opening it (mode 0600, WAL, the durability's sync level,
 * `secure_delete`, no busy timeout once open), its schema and the migrations that bring a file of an
 * older version of the package forward with its touchpoints. Nothing here knows about buffering,
 * claims or the delivery policy.
 */
import * as crypto from 'node:crypto'
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { TouchpointConfigError } from '../../errors'
import { describe, messageOf, storeConfigError, type Database, type SqliteModule } from './load'

/**
 * How long opening and migrating wait for another process's lock: only at startup (two processes
 * creating one file together). Once open, a connection never waits for a lock
 * (`busy_timeout = 0`): better-sqlite3 would wait on the event loop (docs/decisions/0002).
 */
const OPEN_BUSY_TIMEOUT_MS = 5000

/**
 * The schema, one step per version: a new file runs them all, an older file the ones it lacks, in
 * one IMMEDIATE transaction, so every touchpoint it holds survives the upgrade.
 *
 * Version 1 (0.1): one table; `state` says where a touchpoint is. Waiting rows hold the body;
 * delivered rows only the dedupe hash and the time; dead rows the body, reason and time. The
 * partial unique index makes the dedupe check one insert that every process on the file sees;
 * dead letters (failed_at set) are outside it, so a failed order may come again. Its condition
 * names failed_at, not state, so that marking a row delivered leaves the index alone.
 *
 * Version 2: a claim leases exactly what it returns, so it must read past the rows other claims
 * lease: the claim index carries `lease_until` (read from the index, not the table); the leased rows
 * have an index of their owners (dead owners are found at each poll); the last attempt's error is
 * kept for `outbox list`; `meta` holds the shops' `queue.maxSize` for `outbox retry`.
 *
 * Version 3: the customer data of a touchpoint (body, order id, dedupe key) moves to `bodies`, a row
 * with the touchpoint's id; what changes — due time, lease, attempts, errors, state — stays in
 * `touchpoints`, which holds none. When a row grows (a claim writes its lease) or pages lose rows,
 * SQLite rebalances pages, and a page it rebuilds keeps stale copies of its old cells in its
 * unallocated area, which `secure_delete` does not zero (docs/decisions/0002). So a body row is only
 * appended (ids only grow: a commit's adds take theirs above both tables'), then shrunk to a tombstone
 * (all NULL) by the triggers when its touchpoint is delivered or deleted: SQLite zeroes the old cell,
 * and a row that shrinks never rebalances a page. A dead letter keeps its body. Tombstones go when
 * the store compacts the table (upkeep.ts). `touchpoints` is rebuilt rather than altered: its old
 * pages, stale copies included, are freed and zeroed.
 */
const TOMBSTONE = 'UPDATE bodies SET body = NULL, order_id = NULL, dedupe_key = NULL'
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS touchpoints (
     id INTEGER PRIMARY KEY,
     body TEXT,
     order_id TEXT,
     dedupe_key TEXT,
     dedupe_hash TEXT,
     received_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER NOT NULL,
     lease_owner TEXT,
     lease_until INTEGER,
     state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'delivered', 'dead')),
     reason TEXT,
     failed_at INTEGER
   ) STRICT;
   CREATE INDEX IF NOT EXISTS touchpoints_due ON touchpoints (due_at, id) WHERE state = 'waiting';
   CREATE UNIQUE INDEX IF NOT EXISTS touchpoints_dedupe ON touchpoints (dedupe_hash)
     WHERE dedupe_hash IS NOT NULL AND failed_at IS NULL;
   CREATE INDEX IF NOT EXISTS touchpoints_delivered ON touchpoints (received_at) WHERE state = 'delivered';
   CREATE INDEX IF NOT EXISTS touchpoints_dead ON touchpoints (failed_at, id) WHERE state = 'dead';`,
  `ALTER TABLE touchpoints ADD COLUMN last_error TEXT;
   DROP INDEX IF EXISTS touchpoints_due;
   CREATE INDEX touchpoints_claimable ON touchpoints (due_at, id, lease_until) WHERE state = 'waiting';
   CREATE INDEX touchpoints_leased ON touchpoints (lease_owner) WHERE lease_owner IS NOT NULL;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;`,
  `CREATE TABLE bodies (id INTEGER PRIMARY KEY, body TEXT, order_id TEXT, dedupe_key TEXT) STRICT;
   INSERT INTO bodies (id, body, order_id, dedupe_key)
     SELECT id, COALESCE(body, ''), order_id, dedupe_key FROM touchpoints WHERE state <> 'delivered' ORDER BY id;
   CREATE TABLE touchpoints_3 (
     id INTEGER PRIMARY KEY,
     dedupe_hash TEXT,
     received_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER NOT NULL,
     lease_owner TEXT,
     lease_until INTEGER,
     state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'delivered', 'dead')),
     reason TEXT,
     failed_at INTEGER,
     last_error TEXT
   ) STRICT;
   INSERT INTO touchpoints_3
     SELECT id, dedupe_hash, received_at, attempts, due_at, lease_owner, lease_until, state, reason, failed_at, last_error
     FROM touchpoints ORDER BY id;
   DROP TABLE touchpoints;
   ALTER TABLE touchpoints_3 RENAME TO touchpoints;
   CREATE INDEX touchpoints_claimable ON touchpoints (due_at, id, lease_until) WHERE state = 'waiting';
   CREATE UNIQUE INDEX touchpoints_dedupe ON touchpoints (dedupe_hash) WHERE dedupe_hash IS NOT NULL AND failed_at IS NULL;
   CREATE INDEX touchpoints_delivered ON touchpoints (received_at) WHERE state = 'delivered';
   CREATE INDEX touchpoints_dead ON touchpoints (failed_at, id) WHERE state = 'dead';
   CREATE INDEX touchpoints_leased ON touchpoints (lease_owner) WHERE lease_owner IS NOT NULL;
   CREATE TRIGGER touchpoints_delivered_body AFTER UPDATE OF state ON touchpoints WHEN new.state = 'delivered'
     BEGIN ${TOMBSTONE} WHERE id = new.id AND body IS NOT NULL; END;
   CREATE TRIGGER touchpoints_deleted_body AFTER DELETE ON touchpoints
     BEGIN ${TOMBSTONE} WHERE id = old.id AND body IS NOT NULL; END;`,
]

/** The schema version this package writes (`PRAGMA user_version`). */
export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * The database file's absolute path, or a problem: a file path is required (`:memory:` and
 * `file:` URIs are not durable or not paths).
 */
export function parseDatabasePath(value: unknown, report: (message: string) => void): string {
  if (typeof value !== 'string' || value.trim() === '') {
    report(`must be the database file's path, like './var/transactionale.db' (got ${describe(value)})`)
    return ''
  }
  if (value === ':memory:' || value.startsWith('file:')) {
    report(`must be a file path ("${value}" is not durable or not a path): for a store in memory, use memoryStore()`)
    return ''
  }
  return resolve(value)
}

/** How {@link openDatabase} opens a file. */
export interface OpenOptions {
  readonly durability: 'process' | 'power'
  /** An outbox opened by a CLI: never creates the file. */
  readonly mustExist: boolean
  /** The option to name in a configuration error. */
  readonly option: string
}

/**
 * Opens (and, unless `mustExist`, creates) the database: file mode 0600 before SQLite touches it
 * (its -wal and -shm files take the same mode), WAL, the sync level, `secure_delete` (a delivered
 * body is overwritten with zeros, not left in a free page), a WAL truncated whenever it restarts
 * (no old frames with customer data kept beyond a checkpoint), the schema; then no busy timeout.
 * Any failure is a {@link TouchpointConfigError} naming the file.
 */
export function openDatabase(Sqlite: SqliteModule, file: string, options: OpenOptions): Database {
  let db: Database | undefined
  try {
    if (!options.mustExist) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      // Creates the file with 0600 if missing; an existing file keeps the mode its owner gave it.
      closeSync(openSync(file, 'a', 0o600))
    }
    db = new Sqlite(file, { fileMustExist: options.mustExist, timeout: OPEN_BUSY_TIMEOUT_MS })
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.durability === 'power' ? 'FULL' : 'NORMAL'}`)
    db.pragma('secure_delete = ON')
    db.pragma('journal_size_limit = 0')
    migrate(db, options.option)
    db.pragma('busy_timeout = 0')
    return db
  } catch (error) {
    if (db?.open) db.close()
    if (error instanceof TouchpointConfigError) throw error
    throw storeConfigError(options.option, `cannot open the database "${file}": ${messageOf(error)}`)
  }
}

function migrate(db: Database, option: string): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number
  if (version() === SCHEMA_VERSION) return
  // Two processes starting together: the write lock makes one migrate, the other see it done.
  db.transaction(() => {
    const found = version()
    if (found === SCHEMA_VERSION) return
    if (found > SCHEMA_VERSION) {
      throw storeConfigError(
        option,
        `the database was written by a newer express-transactionale (schema ${found}, this one knows ${SCHEMA_VERSION}): upgrade the package`,
      )
    }
    for (const step of MIGRATIONS.slice(found)) db.exec(step)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  }).immediate()
}

/**
 * The stored form of a dedupe key: the first 128 bits of its SHA-256, so a delivered row keeps no
 * customer data (a key may be an email address). 128 bits make a collision between two orders
 * negligible and keep the index small.
 */
export function hashKey(key: string): string {
  // crypto.hash (one call, no Hash object) from Node 20.12; createHash before it.
  const digest =
    typeof crypto.hash === 'function'
      ? crypto.hash('sha256', key, 'base64url')
      : crypto.createHash('sha256').update(key).digest('base64url')
  return digest.slice(0, 22)
}
