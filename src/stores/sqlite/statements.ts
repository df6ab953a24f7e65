/**
 * Every SQL statement the SQLite store and its outbox run, prepared once per connection, with
 * positional parameters (the cheapest to bind). The queries lean on the partial indexes of
 * `file.ts`: the claim index (`state = 'waiting'`, with `lease_until` in it), the dead letters',
 * the delivered keys', the leased rows' owners. Customer data is in `bodies`, read by row id (its
 * primary key), appended at the add and only ever shrunk afterwards (file.ts, schema 3).
 */
import type BetterSqlite3 from 'better-sqlite3'
import type { StoredTouchpoint } from '../contracts'
import type { Database } from './load'

type Stmt<P extends unknown[] = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>

/** A row as a claim reads it. */
export interface ClaimedRow {
  id: number
  body: string
  order_id: string | null
  dedupe_key: string | null
  received_at: number
  attempts: number
}

/** A claimed row as the pump gets it. */
export function touchpointOf(row: ClaimedRow): StoredTouchpoint {
  return {
    id: String(row.id),
    body: row.body,
    orderId: row.order_id ?? undefined,
    dedupeKey: row.dedupe_key ?? undefined,
    receivedAt: row.received_at,
    attempts: row.attempts,
  }
}

/** A row as the outbox lists it. */
export interface OutboxRow {
  id: number
  body: string | null
  order_id: string | null
  attempts: number
  received_at: number
  due_at: number
  lease_until: number | null
  state: 'waiting' | 'delivered' | 'dead'
  reason: string | null
  failed_at: number | null
  last_error: string | null
}

const WAITING_CLAIMABLE = `state = 'waiting' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`
const OUTBOX_COLUMNS =
  't.id, b.body, b.order_id, t.attempts, t.received_at, t.due_at, t.lease_until, t.state, t.reason, t.failed_at, t.last_error'
/** A touchpoint with its body (a delivered one has none). */
const WITH_BODY = 'touchpoints t LEFT JOIN bodies b ON b.id = t.id'

/**
 * The compaction of `bodies` (file.ts, schema 3), run by the store's connection or its checkpoint
 * thread: the live bodies read in id order, the table emptied (SQLite's truncation: every page
 * freed, and zeroed by secure_delete), the live bodies appended again.
 */
export const COMPACTION_SQL = {
  live: `SELECT id, body, order_id, dedupe_key FROM bodies WHERE body IS NOT NULL ORDER BY id`,
  clear: `DELETE FROM bodies`,
  append: `INSERT INTO bodies (id, body, order_id, dedupe_key) VALUES (?, ?, ?, ?)`,
} as const

/** The hot path's statements (the store). */
export class QueueStatements {
  /** The id the next touchpoint takes: one above both tables' (a tombstone may outlive its row). */
  readonly nextId: Stmt<[], number>
  /** id, dedupe_hash, received_at, due_at */
  readonly insert: Stmt<[number, string | null, number, number]>
  /** id (the touchpoint's), body, order_id, dedupe_key */
  readonly insertBody: Stmt<[number | bigint, string, string | null, string | null]>
  /** hash, received before */
  readonly freeExpiredKey: Stmt<[string, number]>
  /** due by, lease expired by, limit */
  readonly claimable: Stmt<[number, number, number], ClaimedRow>
  /** owner, lease until, id */
  readonly lease: Stmt<[string, number, number]>
  /** id, owner */
  readonly delivered: Stmt<[number, string]>
  /** id, owner */
  readonly deleteDelivered: Stmt<[number, string]>
  /** attempts, due at, last error, id, owner */
  readonly retry: Stmt<[number, number, string | null, number, string]>
  /** attempts, reason, failed at, id, owner */
  readonly failed: Stmt<[number, string, number, number, string]>
  /** id, owner */
  readonly release: Stmt<[number, string]>
  /** owner */
  readonly releaseOwner: Stmt<[string]>
  readonly leaseOwners: Stmt<[], string>
  readonly countWaiting: Stmt<[], number>
  readonly countDead: Stmt<[], number>
  /** after */
  readonly nextDue: Stmt<[number], number | null>
  /** due by, lease expired by */
  readonly anyClaimable: Stmt<[number, number], number>
  /** this owner, limit */
  readonly waitingOrderIds: Stmt<[string, number], string>
  /** before, limit */
  readonly pruneDelivered: Stmt<[number, number]>
  /** before, limit */
  readonly pruneDead: Stmt<[number, number]>
  /** key, value */
  readonly setMeta: Stmt<[string, number]>
  /** The bodies that are not tombstones, in id order: [id, body, order_id, dedupe_key]. */
  readonly liveBodies: Stmt<[], unknown[]>
  readonly clearBodies: Stmt<[]>

  constructor(db: Database) {
    // Ids above both tables' (a tombstone may outlive its touchpoint): a body is always appended.
    this.nextId = db
      .prepare<[], number>(
        `SELECT max(coalesce((SELECT max(id) FROM touchpoints), 0), coalesce((SELECT max(id) FROM bodies), 0)) + 1`,
      )
      .pluck()
    this.insert = db.prepare(
      `INSERT INTO touchpoints (id, dedupe_hash, received_at, due_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    this.insertBody = db.prepare(COMPACTION_SQL.append)
    this.freeExpiredKey = db.prepare(
      `DELETE FROM touchpoints
       WHERE dedupe_hash = ? AND failed_at IS NULL AND state = 'delivered' AND received_at < ?`,
    )
    // A SELECT then an UPDATE per row: one UPDATE … WHERE id IN (SELECT …) RETURNING measured ten
    // times slower. The rows others lease are skipped in the index (it holds lease_until).
    // CROSS JOIN: the claim index first, then each body by its id.
    this.claimable = db.prepare(
      `SELECT t.id, b.body, b.order_id, b.dedupe_key, t.received_at, t.attempts
       FROM touchpoints t CROSS JOIN bodies b ON b.id = t.id
       WHERE ${WAITING_CLAIMABLE} ORDER BY due_at, t.id LIMIT ?`,
    )
    this.lease = db.prepare(`UPDATE touchpoints SET lease_owner = ?, lease_until = ? WHERE id = ?`)
    // Delivered: only the dedupe hash and the time stay; a trigger deletes the body (secure_delete
    // zeroes it), the row never held customer data.
    this.delivered = db.prepare(
      `UPDATE touchpoints SET state = 'delivered', last_error = NULL, lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.deleteDelivered = db.prepare(`DELETE FROM touchpoints WHERE id = ? AND lease_owner = ? AND state = 'waiting'`)
    this.retry = db.prepare(
      `UPDATE touchpoints SET attempts = ?, due_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.failed = db.prepare(
      `UPDATE touchpoints SET state = 'dead', attempts = ?, reason = ?, failed_at = ?, last_error = NULL,
         lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.release = db.prepare(
      `UPDATE touchpoints SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'waiting'`,
    )
    this.releaseOwner = db.prepare(
      `UPDATE touchpoints SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND state = 'waiting'`,
    )
    this.leaseOwners = db
      .prepare<[], string>(`SELECT DISTINCT lease_owner FROM touchpoints WHERE lease_owner IS NOT NULL`)
      .pluck()
    this.countWaiting = db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'waiting'`).pluck()
    this.countDead = db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'dead'`).pluck()
    this.nextDue = db
      .prepare<[number], number | null>(`SELECT MIN(due_at) FROM touchpoints WHERE state = 'waiting' AND due_at > ?`)
      .pluck()
    this.anyClaimable = db
      .prepare<[number, number], number>(`SELECT 1 FROM touchpoints WHERE ${WAITING_CLAIMABLE} LIMIT 1`)
      .pluck()
    this.waitingOrderIds = db
      .prepare<[string, number], string>(
        `SELECT b.order_id FROM touchpoints t CROSS JOIN bodies b ON b.id = t.id
         WHERE state = 'waiting' AND b.order_id IS NOT NULL AND (lease_owner IS NULL OR lease_owner <> ?)
         ORDER BY due_at, t.id LIMIT ?`,
      )
      .pluck()
    this.pruneDelivered = db.prepare(
      `DELETE FROM touchpoints WHERE id IN
         (SELECT id FROM touchpoints WHERE state = 'delivered' AND received_at < ? ORDER BY received_at LIMIT ?)`,
    )
    this.pruneDead = db.prepare(
      `DELETE FROM touchpoints WHERE id IN
         (SELECT id FROM touchpoints WHERE state = 'dead' AND failed_at < ? ORDER BY failed_at LIMIT ?)`,
    )
    this.setMeta = db.prepare(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    )
    this.liveBodies = db.prepare<[], unknown[]>(COMPACTION_SQL.live).raw()
    this.clearBodies = db.prepare(COMPACTION_SQL.clear)
  }
}

/** The operator's statements (the outbox). */
export class OutboxStatements {
  readonly countWaiting: Stmt<[], number>
  /** now */
  readonly countLeased: Stmt<[number], number>
  /** now */
  readonly countDelayed: Stmt<[number], number>
  readonly countDelivered: Stmt<[], number>
  readonly countDead: Stmt<[], number>
  /** limit, offset: oldest due first */
  readonly listWaiting: Stmt<[number, number], OutboxRow>
  /** limit, offset: newest first */
  readonly listDead: Stmt<[number, number], OutboxRow>
  /** order id, id */
  readonly find: Stmt<[string, number], OutboxRow>
  /** limit: the dead letters that failed first */
  readonly oldestDead: Stmt<[number], number>
  /** due at, id */
  readonly retryDead: Stmt<[number, number]>
  /** id */
  readonly purgeDead: Stmt<[number]>
  readonly purgeAllDead: Stmt<[]>
  /** key */
  readonly getMeta: Stmt<[string], number>

  constructor(db: Database) {
    const count = (where: string): Stmt<[], number> =>
      db.prepare<[], number>(`SELECT COUNT(*) FROM touchpoints WHERE ${where}`).pluck()
    this.countWaiting = count(`state = 'waiting'`)
    this.countDelivered = count(`state = 'delivered'`)
    this.countDead = count(`state = 'dead'`)
    this.countLeased = db
      .prepare<[number], number>(`SELECT COUNT(*) FROM touchpoints WHERE state = 'waiting' AND lease_until > ?`)
      .pluck()
    this.countDelayed = db
      .prepare<[number], number>(
        `SELECT COUNT(*) FROM touchpoints WHERE state = 'waiting' AND due_at > ? AND lease_until IS NULL`,
      )
      .pluck()
    this.listWaiting = db.prepare(
      `SELECT ${OUTBOX_COLUMNS} FROM ${WITH_BODY} WHERE state = 'waiting' ORDER BY due_at, t.id LIMIT ? OFFSET ?`,
    )
    this.listDead = db.prepare(
      `SELECT ${OUTBOX_COLUMNS} FROM ${WITH_BODY} WHERE state = 'dead' ORDER BY failed_at DESC, t.id DESC LIMIT ? OFFSET ?`,
    )
    this.find = db.prepare(
      `SELECT ${OUTBOX_COLUMNS} FROM ${WITH_BODY}
       WHERE state IN ('waiting', 'dead') AND (b.order_id = ? OR t.id = ?) ORDER BY t.id`,
    )
    this.oldestDead = db
      .prepare<[number], number>(`SELECT id FROM touchpoints WHERE state = 'dead' ORDER BY failed_at, id LIMIT ?`)
      .pluck()
    // OR IGNORE: a dead letter whose order has come again since (its key waiting or delivered) stays dead.
    this.retryDead = db.prepare(
      `UPDATE OR IGNORE touchpoints SET state = 'waiting', attempts = 0, due_at = ?, reason = NULL, failed_at = NULL,
         last_error = NULL
       WHERE id = ? AND state = 'dead'`,
    )
    this.purgeDead = db.prepare(`DELETE FROM touchpoints WHERE id = ? AND state = 'dead'`)
    this.purgeAllDead = db.prepare(`DELETE FROM touchpoints WHERE state = 'dead'`)
    this.getMeta = db.prepare<[string], number>(`SELECT value FROM meta WHERE key = ?`).pluck()
  }
}
