/**
 * The outbox file: loading better-sqlite3 on demand, creating and opening the database (mode 0600,
 * WAL, schema version), and every SQL statement the SQLite store and the outbox handle run on it.
 * Nothing here knows about the store's buffering or the delivery policy.
 */
import * as crypto from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'
import type { Clock } from '../types'
import type { DeadLetter } from './store'

/** better-sqlite3's module: its `Database` constructor. */
export type SqliteModule = typeof BetterSqlite3
export type Database = BetterSqlite3.Database

/** What opening an outbox file depends on; tests pass their own. */
export interface SqliteDeps {
  /** Loads better-sqlite3. Defaults to requiring it from beside this package. */
  readonly load?: () => SqliteModule
  /** The outbox handle's clock (a store takes the middleware's at `open()`). Defaults to the system clock. */
  readonly clock?: Clock
}

/**
 * Requires better-sqlite3 only when a SQLite store or outbox is made, so the main entry never loads
 * a native module. `createRequire` works in both builds: the CJS build has `__filename`, and tsup's
 * shims give the ESM build one from `import.meta.url`; resolving from this file finds the shop's
 * copy wherever our package is installed.
 */
function loadBetterSqlite3(): SqliteModule {
  return packageRequire()('better-sqlite3') as SqliteModule
}

function packageRequire(): NodeJS.Require {
  return createRequire(typeof __filename === 'string' ? __filename : join(process.cwd(), 'index.js'))
}

/** The file better-sqlite3 loads from, for a thread to load the same; `undefined` if it does not resolve. */
export function betterSqlite3Path(): string | undefined {
  try {
    return packageRequire().resolve('better-sqlite3')
  } catch {
    return undefined
  }
}

/**
 * What is wrong with the better-sqlite3 installed in `packageDir` for this Node, before it is loaded
 * (both cases crash the process, which no error handler can catch), or `undefined`:
 * - **13 or newer on Node 20**: its Node-API build needs Node 22 (its `engines`) and segfaults on load.
 * - **12 or older compiled against the headers of Node ≥ 24.19**: that `node::ObjectWrap` removes an
 *   environment cleanup hook in its destructor and asserts that a JS context is entered; the
 *   garbage collector frees statements outside one (an idle GC, process exit), and the process
 *   aborts with `Assertion failed: (env) != nullptr` (nodejs/node#65446). Such a binary imports
 *   `RemoveEnvironmentCleanupHook`; one built against older headers does not, and 13 (node-addon-api)
 *   never does.
 */
export function sqliteBuildProblem(
  packageDir: string,
  nodeVersion: string = process.versions.node,
): string | undefined {
  const version = readText(join(packageDir, 'package.json'))?.match(/"version"\s*:\s*"(\d+)\./)?.[1]
  if (version === undefined) return undefined
  const major = Number(version)
  const nodeMajor = Number(nodeVersion.split('.')[0])
  if (major >= 13 && nodeMajor < 22) {
    return `better-sqlite3 ${major} needs Node 22 or newer (this is Node ${nodeVersion}): on Node 20 install better-sqlite3 12 with \`npm install better-sqlite3@12\``
  }
  if (major <= 12) {
    const binary = readBytes(join(packageDir, 'build', 'Release', 'better_sqlite3.node'))
    if (binary?.includes('RemoveEnvironmentCleanupHook')) {
      return `better-sqlite3 ${major} compiled for Node 24.19 or newer aborts the process when the garbage collector frees a statement (nodejs/node#65446): install better-sqlite3 13 with \`npm install better-sqlite3@13\` (Node 22 or newer)`
    }
  }
  return undefined
}

function readText(file: string): string | undefined {
  return readBytes(file)?.toString('utf8')
}

function readBytes(file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

/** The folder of the better-sqlite3 this package would load, or `undefined` if it does not resolve. */
function betterSqlite3Dir(): string | undefined {
  try {
    return dirname(packageRequire().resolve('better-sqlite3/package.json'))
  } catch {
    return undefined
  }
}

/** The check of the installed better-sqlite3, made once per process (it reads its binary, megabytes). */
let installedProblem: { readonly problem: string | undefined } | undefined

/** better-sqlite3, or a {@link TouchpointConfigError} that says how to install or rebuild it. */
export function loadSqlite(deps: SqliteDeps, option: string): SqliteModule {
  if (deps.load === undefined) {
    if (installedProblem === undefined) {
      const dir = betterSqlite3Dir()
      installedProblem = { problem: dir === undefined ? undefined : sqliteBuildProblem(dir) }
    }
    if (installedProblem.problem !== undefined) throw storeConfigError(option, installedProblem.problem)
  }
  try {
    return (deps.load ?? loadBetterSqlite3)()
  } catch (error) {
    const code = codeOf(error)
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
    throw storeConfigError(
      option,
      missing
        ? 'needs better-sqlite3, an optional peer dependency that is not installed: run `npm install better-sqlite3`'
        : `could not load better-sqlite3 (${messageOf(error)}): rebuild it for this Node version with \`npm rebuild better-sqlite3\`, or reinstall it with \`npm install better-sqlite3\``,
    )
  }
}

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

const SCHEMA_VERSION = 1
/** How long a statement waits for another process's write lock before it fails (SQLITE_BUSY). */
const BUSY_TIMEOUT_MS = 5000

// One table; `state` says where a touchpoint is. Waiting rows hold the body; delivered rows only
// the dedupe hash and the time; dead rows the body, reason and time. The partial unique index
// makes the dedupe check one insert that every process on the file sees; dead letters (failed_at
// set) are outside it, so a failed order may come again. Its condition names failed_at, not state,
// so that marking a row delivered leaves the index alone: a hash index entry sits on a random page,
// and rewriting one per delivery cost 12 µs a touchpoint here.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS touchpoints (
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
CREATE INDEX IF NOT EXISTS touchpoints_dead ON touchpoints (failed_at, id) WHERE state = 'dead';
`

/**
 * Opens (and, unless `mustExist`, creates) the database: file mode 0600 before SQLite touches it
 * (its -wal and -shm files take the same mode), WAL, the durability's sync level, the schema.
 * Any failure is a {@link TouchpointConfigError} naming the file.
 */
export function openDatabase(
  Sqlite: SqliteModule,
  file: string,
  durability: 'process' | 'power',
  mustExist: boolean,
  option: string,
): Database {
  let db: Database | undefined
  try {
    if (!mustExist) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      // Creates the file with 0600 if missing; an existing file keeps the mode its owner gave it.
      closeSync(openSync(file, 'a', 0o600))
    }
    db = new Sqlite(file, { fileMustExist: mustExist, timeout: BUSY_TIMEOUT_MS })
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`)
    migrate(db, option)
    return db
  } catch (error) {
    if (db?.open) db.close()
    if (error instanceof TouchpointConfigError) throw error
    throw storeConfigError(option, `cannot open the database "${file}": ${messageOf(error)}`)
  }
}

function migrate(db: Database, option: string): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number
  if (version() === SCHEMA_VERSION) return
  // Two processes starting together: the write lock makes one create, the other see it done.
  db.transaction(() => {
    const found = version()
    if (found === SCHEMA_VERSION) return
    if (found > SCHEMA_VERSION) {
      throw storeConfigError(
        option,
        `the database was written by a newer express-transactionale (schema ${found}, this one knows ${SCHEMA_VERSION}): upgrade the package`,
      )
    }
    db.exec(SCHEMA)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  }).immediate()
}

/** A row as a claim reads it. */
export interface ClaimedRow {
  id: number
  body: string
  order_id: string | null
  dedupe_key: string | null
  received_at: number
  attempts: number
}

interface DeadRow {
  id: number
  body: string | null
  order_id: string | null
  attempts: number
  reason: string | null
  received_at: number
  failed_at: number | null
}

type Stmt<P extends unknown[] = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>

/** Every statement, prepared once per connection. Parameters are positional (the cheapest to bind). */
export class Statements {
  /** body, order_id, dedupe_key, dedupe_hash, received_at, due_at, lease_owner, lease_until */
  readonly insert: Stmt<[string, string | null, string | null, string | null, number, number, string, number]>
  /** hash, received before */
  readonly freeExpiredKey: Stmt<[string, number]>
  /** due by, lease expired by, this owner (whose own leases count as free), limit */
  readonly claimable: Stmt<[number, number, string, number], ClaimedRow>
  /** owner, lease until, id */
  readonly lease: Stmt<[string, number, number]>
  /** id, owner */
  readonly delivered: Stmt<[number, string]>
  /** id, owner */
  readonly deleteDelivered: Stmt<[number, string]>
  /** attempts, due at, id, owner */
  readonly retry: Stmt<[number, number, number, string]>
  /** attempts, reason, failed at, id, owner */
  readonly failed: Stmt<[number, string, number, number, string]>
  /** id, owner */
  readonly release: Stmt<[number, string]>
  /** owner */
  readonly releaseOwner: Stmt<[string]>
  /** hash */
  readonly forget: Stmt<[string]>
  /** now */
  readonly leaseOwners: Stmt<[number], string>
  readonly countWaiting: Stmt<[], number>
  readonly countDead: Stmt<[], number>
  readonly countDelivered: Stmt<[], number>
  /** now */
  readonly countLeased: Stmt<[number], number>
  /** now */
  readonly nextDue: Stmt<[number], number | null>
  /** due by, lease expired by */
  readonly anyClaimable: Stmt<[number, number], number>
  /** limit */
  readonly waitingOrderIds: Stmt<[number], { id: number; order_id: string }>
  /** before, limit */
  readonly pruneDelivered: Stmt<[number, number]>
  /** before, limit */
  readonly pruneDead: Stmt<[number, number]>
  /** limit */
  readonly deadLetters: Stmt<[number], DeadRow>
  /** due at, id */
  readonly retryDead: Stmt<[number, number]>
  /** due at */
  readonly retryAllDead: Stmt<[number]>
  /** id */
  readonly purgeDead: Stmt<[number]>
  readonly purgeAllDead: Stmt<[]>

  constructor(db: Database) {
    this.insert = db.prepare(
      `INSERT INTO touchpoints (body, order_id, dedupe_key, dedupe_hash, received_at, due_at, lease_owner, lease_until)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    this.freeExpiredKey = db.prepare(
      `DELETE FROM touchpoints
       WHERE dedupe_hash = ? AND failed_at IS NULL AND state = 'delivered' AND received_at < ?`,
    )
    // A SELECT then an UPDATE per row: one UPDATE … WHERE id IN (SELECT …) RETURNING measured ten
    // times slower here.
    this.claimable = db.prepare(
      `SELECT id, body, order_id, dedupe_key, received_at, attempts FROM touchpoints
       WHERE state = 'waiting' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)
       ORDER BY due_at, id LIMIT ?`,
    )
    this.lease = db.prepare(`UPDATE touchpoints SET lease_owner = ?, lease_until = ? WHERE id = ?`)
    // Delivered: only the dedupe hash and the time stay.
    this.delivered = db.prepare(
      `UPDATE touchpoints SET state = 'delivered', body = NULL, order_id = NULL, dedupe_key = NULL,
         lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.deleteDelivered = db.prepare(`DELETE FROM touchpoints WHERE id = ? AND lease_owner = ? AND state = 'waiting'`)
    this.retry = db.prepare(
      `UPDATE touchpoints SET attempts = ?, due_at = ?, lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.failed = db.prepare(
      `UPDATE touchpoints SET state = 'dead', attempts = ?, reason = ?, failed_at = ?, lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.release = db.prepare(
      `UPDATE touchpoints SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.releaseOwner = db.prepare(
      `UPDATE touchpoints SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND state = 'waiting'`,
    )
    this.forget = db.prepare(
      `DELETE FROM touchpoints WHERE dedupe_hash = ? AND failed_at IS NULL AND state = 'delivered'`,
    )
    this.leaseOwners = db
      .prepare<[number], string>(
        `SELECT DISTINCT lease_owner FROM touchpoints WHERE state = 'waiting' AND lease_until > ?`,
      )
      .pluck()
    this.countWaiting = db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'waiting'`).pluck()
    this.countDead = db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'dead'`).pluck()
    this.countDelivered = db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'delivered'`).pluck()
    this.countLeased = db
      .prepare<[number], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'waiting' AND lease_until > ?`)
      .pluck()
    this.nextDue = db
      .prepare<[number], number | null>(`SELECT MIN(due_at) FROM touchpoints WHERE state = 'waiting' AND due_at > ?`)
      .pluck()
    this.anyClaimable = db
      .prepare<[number, number], number>(
        `SELECT 1 FROM touchpoints
         WHERE state = 'waiting' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1`,
      )
      .pluck()
    this.waitingOrderIds = db.prepare(
      `SELECT id, order_id FROM touchpoints WHERE state = 'waiting' AND order_id IS NOT NULL ORDER BY due_at, id LIMIT ?`,
    )
    this.pruneDelivered = db.prepare(
      `DELETE FROM touchpoints WHERE id IN
         (SELECT id FROM touchpoints WHERE state = 'delivered' AND received_at < ? ORDER BY received_at LIMIT ?)`,
    )
    this.pruneDead = db.prepare(
      `DELETE FROM touchpoints WHERE id IN
         (SELECT id FROM touchpoints WHERE state = 'dead' AND failed_at < ? ORDER BY failed_at LIMIT ?)`,
    )
    this.deadLetters = db.prepare(
      `SELECT id, body, order_id, attempts, reason, received_at, failed_at FROM touchpoints
       WHERE state = 'dead' ORDER BY failed_at DESC, id DESC LIMIT ?`,
    )
    // OR IGNORE: a dead letter whose order has come again since (its key waiting or delivered) stays dead.
    this.retryDead = db.prepare(
      `UPDATE OR IGNORE touchpoints SET state = 'waiting', attempts = 0, due_at = ?, reason = NULL, failed_at = NULL
       WHERE id = ? AND state = 'dead'`,
    )
    this.retryAllDead = db.prepare(
      `UPDATE OR IGNORE touchpoints SET state = 'waiting', attempts = 0, due_at = ?, reason = NULL, failed_at = NULL
       WHERE state = 'dead'`,
    )
    this.purgeDead = db.prepare(`DELETE FROM touchpoints WHERE id = ? AND state = 'dead'`)
    this.purgeAllDead = db.prepare(`DELETE FROM touchpoints WHERE state = 'dead'`)
  }
}

/** Store ids are the row ids as strings; anything else names no row. */
function rowIds(ids: readonly string[]): number[] {
  const out: number[] = []
  for (const id of ids) if (/^[1-9]\d{0,15}$/.test(id)) out.push(Number(id))
  return out
}

/** Dead letters, newest first. */
export function listDeadLetters(sql: Statements, limit: number): DeadLetter[] {
  return sql.deadLetters.all(limit).map((row) => ({
    id: String(row.id),
    orderId: row.order_id ?? undefined,
    body: row.body ?? '',
    attempts: row.attempts,
    reason: row.reason ?? '',
    receivedAt: row.received_at,
    failedAt: row.failed_at ?? 0,
  }))
}

/** Dead letters (all, or those ids) back to waiting, due `now`; returns how many moved. */
export function retryDeadLetters(
  db: Database,
  sql: Statements,
  ids: readonly string[] | undefined,
  now: number,
): number {
  return db
    .transaction(() => {
      if (ids === undefined) return sql.retryAllDead.run(now).changes
      let changed = 0
      for (const id of rowIds(ids)) changed += sql.retryDead.run(now, id).changes
      return changed
    })
    .immediate()
}

/** Deletes dead letters (all, or those ids); returns how many. */
export function purgeDeadLetters(db: Database, sql: Statements, ids: readonly string[] | undefined): number {
  return db
    .transaction(() => {
      if (ids === undefined) return sql.purgeAllDead.run().changes
      let changed = 0
      for (const id of rowIds(ids)) changed += sql.purgeDead.run(id).changes
      return changed
    })
    .immediate()
}

/** Rows deleted per prune statement: small enough to keep each chunk well under a millisecond. */
export const PRUNE_CHUNK = 200

/** Deletes what has outlived its time, a bounded chunk per kind; true when a kind may have more. */
export function pruneChunk(sql: Statements, now: number, dedupeWindowMs: number, retentionMs: number): boolean {
  const delivered = sql.pruneDelivered.run(now - dedupeWindowMs, PRUNE_CHUNK).changes
  const dead = sql.pruneDead.run(now - retentionMs, PRUNE_CHUNK).changes
  return delivered === PRUNE_CHUNK || dead === PRUNE_CHUNK
}

/**
 * The stored form of a dedupe key: the first 128 bits of its SHA-256, so a delivered row keeps no
 * customer data (a key may be an email address). 128 bits make a collision between two orders
 * negligible and keep the index small (fewer pages written per commit).
 */
export function hashKey(key: string): string {
  // crypto.hash (one call, no Hash object) from Node 20.12; createHash before it.
  const digest =
    typeof crypto.hash === 'function'
      ? crypto.hash('sha256', key, 'base64url')
      : crypto.createHash('sha256').update(key).digest('base64url')
  return digest.slice(0, 22)
}

/** The number of dead letters to list: `limit` when it is a count, else 1000. */
export function limitOf(limit: number | undefined): number {
  return limit !== undefined && Number.isFinite(limit) && limit >= 0 ? Math.floor(limit) : 1000
}

export function storeConfigError(option: string, message: string): TouchpointConfigError {
  return new TouchpointConfigError([{ option, code: CONFIG_ERROR_CODES.store, message }])
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `"${value}"`
  if (typeof value === 'number') return String(value)
  return typeof value
}
