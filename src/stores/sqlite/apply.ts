/**
 * The writes of the SQLite store as its buffer keeps them — a new touchpoint with its caller's
 * promise, a settlement by row id — and what one commit does with them: inserts (deduplicated by
 * the unique index on the hashed key, an expired delivered key freed first; the body in a row of its
 * own), settlements of rows this store leases (a row another process leases now is left alone), the
 * shops' `maxSize`.
 */
import type { AddResult, NewTouchpoint, Settlement } from '../contracts'
import type { QueueStatements } from './statements'

/** A buffered add: its touchpoint, what the commit decided, and the caller's promise. */
export class AddOp {
  result: AddResult = 'duplicate'
  /** Answered `'added'` at a commit that met the lock; it commits later (a cross-process duplicate found then is dropped silently). */
  answered = false
  resolve!: (result: AddResult) => void
  reject!: (error: Error) => void
  readonly promise = new Promise<AddResult>((resolve, reject) => {
    this.resolve = resolve
    this.reject = reject
  })
  constructor(
    readonly touchpoint: NewTouchpoint,
    readonly hash: string | null,
    readonly at: number,
  ) {}
}

/** A settlement as the buffer keeps it (row ids are SQLite's). */
export type WriteOp =
  | { readonly kind: 'delivered'; readonly id: number; readonly keepKey: boolean }
  | {
      readonly kind: 'retry'
      readonly id: number
      readonly attempts: number
      readonly dueAt: number
      readonly error: string | null
    }
  | { readonly kind: 'failed'; readonly id: number; readonly attempts: number; readonly reason: string }
  | { readonly kind: 'release'; readonly id: number }

/** What a commit changed, for the store's counts and wake-ups. */
export interface Committed {
  /** Rows that became waiting (new touchpoints) minus those that stopped waiting (delivered, failed). */
  readonly waiting: number
  readonly dead: number
  /** Bodies this commit shrank to tombstones (touchpoints delivered), for the compaction. */
  readonly freed: number
  /** Adds answered before this commit that it stored: their touchpoints are claimable now. */
  readonly lateAdds: number
  readonly settled: readonly WriteOp[]
}

/** A settlement of row `id` as the buffer keeps it; `keepKey`: a delivered row keeps its hashed key. */
export function writeOf(id: number, outcome: Settlement, keepKey: boolean): WriteOp {
  switch (outcome.kind) {
    case 'delivered':
      return { kind: 'delivered', id, keepKey }
    case 'retry':
      return { kind: 'retry', id, attempts: outcome.attempts, dueAt: outcome.dueAt, error: outcome.reason ?? null }
    case 'failed':
      return { kind: 'failed', id, attempts: outcome.attempts, reason: outcome.reason }
    case 'released':
      return { kind: 'release', id }
  }
}

/** What a commit needs to know beyond its writes. */
export interface ApplyContext {
  /** The store's clock (due times, the dedupe window). */
  now(): number
  readonly owner: string
  dedupeWindowMs(): number
}

/** The body of a commit's transaction; the store's counts change only once it commits. */
export function applyWrites(
  sql: QueueStatements,
  context: ApplyContext,
  adds: readonly AddOp[],
  settles: readonly WriteOp[],
  meta: readonly [string, number][],
): Committed {
  const { owner } = context
  const dedupeWindowMs = context.dedupeWindowMs()
  const now = context.now()
  let waiting = 0
  let dead = 0
  let freed = 0
  // This transaction holds the write lock: ids taken one by one from here stay above both tables'.
  let id = adds.length > 0 ? (sql.nextId.get() ?? 1) : 0
  for (const op of adds) {
    const t = op.touchpoint
    let result = sql.insert.run(id, op.hash, t.receivedAt, op.at)
    // The key is taken. A delivered row older than the window no longer counts: free it, try again.
    if (result.changes === 0 && op.hash !== null && sql.freeExpiredKey.run(op.hash, now - dedupeWindowMs).changes > 0) {
      result = sql.insert.run(id, op.hash, t.receivedAt, op.at)
    }
    op.result = result.changes > 0 ? 'added' : 'duplicate'
    if (result.changes === 0) continue
    // The customer data, appended in a row of its own that never grows (file.ts, schema 3).
    sql.insertBody.run(id++, t.body, t.orderId ?? null, t.dedupeKey ?? null)
    waiting += 1
  }
  for (const op of settles) {
    switch (op.kind) {
      case 'delivered': {
        const changes = (op.keepKey ? sql.delivered : sql.deleteDelivered).run(op.id, owner).changes
        waiting -= changes
        freed += changes
        break
      }
      case 'retry':
        sql.retry.run(op.attempts, op.dueAt, op.error, op.id, owner)
        break
      case 'failed': {
        const changes = sql.failed.run(op.attempts, op.reason, now, op.id, owner).changes
        waiting -= changes
        dead += changes
        break
      }
      case 'release':
        sql.release.run(op.id, owner)
        break
    }
  }
  for (const [key, value] of meta) sql.setMeta.run(key, value)
  return { waiting, dead, freed, lateAdds: 0, settled: settles }
}
