/**
 * The group commit: the store's writes — new touchpoints and settlements — wait in a buffer and are
 * committed together, in one IMMEDIATE transaction at most every {@link COMMIT_INTERVAL_MS}. A
 * transaction on a file costs tens of µs of system calls whatever it holds, so grouping is what
 * keeps the store's cost per order below the memory store's noise (docs/decisions/0002).
 *
 * The connection never waits for a lock (`busy_timeout = 0`): when another process holds the write
 * lock (a shell, a backup, a long transaction), a commit fails at once with SQLITE_BUSY, its writes
 * stay in the buffer (bounded: the store refuses adds beyond `maxSize`), and a timer retries it with
 * a growing delay until it commits. Adds and settlements are answered at the first attempt then, so
 * nothing upstream waits for the lock either.
 */
import type { AddResult } from '../contracts'
import { applyWrites, type AddOp, type ApplyContext, type Committed, type WriteOp } from './apply'
import { isBusy, storeError, type Database } from './load'
import type { QueueStatements } from './statements'

/** Group commits are at least this many ms apart while writes keep coming (see `schedule()`). */
export const COMMIT_INTERVAL_MS = 10
/** Adds buffered beyond this are committed at once (when the lock is free). */
const GROUP_COMMIT_MAX = 500
/** The first retry after SQLITE_BUSY, doubled after each busy one up to {@link BUSY_RETRY_MAX_MS}. */
const BUSY_RETRY_FIRST_MS = 5
/** A lock held for seconds is retried this often: its release is seen within this time. */
export const BUSY_RETRY_MAX_MS = 100

export interface WriterHooks extends ApplyContext {
  committed(result: Committed): void
  /** A commit or a probe found the lock free again after SQLITE_BUSY. */
  lockFree(): void
  /** Logged by the store, throttled. */
  error(operation: string, error: unknown): void
}

export class Writer {
  private adds: AddOp[] = []
  private settles: WriteOp[] = []
  private meta: [string, number][] = []
  /** Dedupe keys (hashed) of buffered adds: a second add of one key is a duplicate before any commit. */
  private readonly hashes = new Map<string, AddOp>()
  /** Adds answered `'added'` and still buffered (the lock was held). */
  answeredAdds = 0
  private batch: { promise: Promise<void>; resolve: () => void } | undefined
  private immediate: NodeJS.Immediate | undefined
  private timer: NodeJS.Timeout | undefined
  private busyTimer: NodeJS.Timeout | undefined
  private busyDelay = 0
  private lastCommitAt = -Infinity
  private readonly tx: (
    adds: readonly AddOp[],
    settles: readonly WriteOp[],
    meta: readonly [string, number][],
  ) => Committed

  constructor(
    private readonly db: Database,
    private readonly sql: QueueStatements,
    private readonly hooks: WriterHooks,
  ) {
    const write = db.transaction(
      (adds: readonly AddOp[], settles: readonly WriteOp[], meta: readonly [string, number][]) =>
        applyWrites(this.sql, this.hooks, adds, settles, meta),
    )
    this.tx = (adds, settles, meta) => write.immediate(adds, settles, meta)
  }

  /** Adds waiting for a commit. */
  get bufferedAdds(): number {
    return this.adds.length
  }

  /** True while a commit waits for another process's lock. */
  get busy(): boolean {
    return this.busyTimer !== undefined
  }

  add(op: AddOp): Promise<AddResult> {
    if (op.hash !== null) {
      if (this.hashes.has(op.hash)) return Promise.resolve('duplicate')
      this.hashes.set(op.hash, op)
    }
    this.adds.push(op)
    if (this.adds.length >= GROUP_COMMIT_MAX && !this.busy) this.flush()
    else this.schedule()
    return op.promise
  }

  /** Buffers a settlement; resolves once it is committed, or once its first commit met the lock. */
  settle(op: WriteOp): Promise<void> {
    this.settles.push(op)
    this.schedule()
    if (this.batch === undefined) {
      let resolve: () => void = () => undefined
      const promise = new Promise<void>((r) => (resolve = r))
      this.batch = { promise, resolve }
    }
    return this.batch.promise
  }

  setMeta(key: string, value: number): void {
    this.meta.push([key, value])
    this.schedule()
  }

  /**
   * Runs `work` in one IMMEDIATE transaction with the buffered settlements (a claim: the slots they
   * free are claimed in the same commit). Throws what SQLite threw — SQLITE_BUSY at once, never
   * waiting — and then keeps the settlements buffered and retries them from the busy timer.
   */
  withSettlements<T>(work: () => T): T {
    const settles = this.settles
    this.settles = []
    let out: T | undefined
    try {
      const committed = this.db
        .transaction(() => {
          const result = applyWrites(this.sql, this.hooks, [], settles, [])
          out = work()
          return result
        })
        .immediate()
      this.succeeded()
      this.resolveBatch()
      if (settles.length > 0) this.hooks.committed(committed)
      return out as T
    } catch (error) {
      this.settles = settles.concat(this.settles)
      if (isBusy(error)) this.retryWhenFree()
      throw error
    }
  }

  /** Commits every buffered write now, or keeps them for the busy timer; never throws. */
  flush(): void {
    this.clearTimers()
    const adds = this.adds
    const settles = this.settles
    const meta = this.meta
    if (adds.length === 0 && settles.length === 0 && meta.length === 0) return
    this.lastCommitAt = performance.now()
    let committed: Committed
    try {
      committed = this.tx(adds, settles, meta)
    } catch (error) {
      if (isBusy(error)) return this.heldBack(adds, error)
      return this.failed(adds, settles, meta, error)
    }
    this.adds = []
    this.settles = []
    this.meta = []
    this.hashes.clear()
    this.succeeded()
    let lateAdds = 0
    for (const op of adds) {
      if (!op.answered) op.resolve(op.result)
      else if (op.result === 'added') lateAdds++
    }
    this.answeredAdds = 0
    this.resolveBatch()
    this.hooks.committed({ ...committed, lateAdds })
  }

  /** Cancels the timers (close): what is buffered stays for a last {@link flush}. */
  stop(): void {
    this.clearTimers()
    if (this.busyTimer !== undefined) clearTimeout(this.busyTimer)
    this.busyTimer = undefined
  }

  /** Nothing is buffered. */
  get empty(): boolean {
    return this.adds.length === 0 && this.settles.length === 0 && this.meta.length === 0
  }

  /** The delay before the next retry after SQLITE_BUSY. */
  get retryDelay(): number {
    return Math.max(this.busyDelay, BUSY_RETRY_FIRST_MS)
  }

  /**
   * Arranges the next commit: the first write after a quiet spell at the next turn of the event
   * loop; later ones by the first write once the interval has passed, or by a timer at twice the
   * interval. Under load, commits thus ride on turns of the loop that run anyway.
   */
  private schedule(): void {
    if (this.immediate !== undefined || this.busy) return
    const since = performance.now() - this.lastCommitAt
    if (since >= COMMIT_INTERVAL_MS) this.immediate = setImmediate(this.flushSoon)
    else this.timer ??= setTimeout(this.flushSoon, 2 * COMMIT_INTERVAL_MS - since)
  }

  private readonly flushSoon = (): void => {
    this.immediate = undefined
    this.flush()
  }

  /** The lock is held elsewhere: the writes stay, their callers get their answer now. */
  private heldBack(adds: readonly AddOp[], error: unknown): void {
    for (const op of adds) {
      if (op.answered) continue
      op.answered = true
      this.answeredAdds++
      op.resolve('added')
    }
    this.resolveBatch()
    this.hooks.error('commit (locked by another process: writes kept in the buffer)', error)
    this.retryWhenFree()
  }

  /** A commit failed for another reason (disk full, a broken file): its writes are given up. */
  private failed(adds: readonly AddOp[], settles: readonly WriteOp[], meta: readonly unknown[], error: unknown): void {
    this.adds = this.adds.slice(adds.length)
    this.settles = this.settles.slice(settles.length)
    this.meta = this.meta.slice(meta.length)
    this.hashes.clear()
    this.hooks.error('write', error)
    let lost = 0
    for (const op of adds) {
      if (op.answered) lost++
      else op.reject(storeError('store the touchpoint', error))
    }
    if (lost > 0)
      this.hooks.error('write (buffered touchpoints lost)', Object.assign(new Error(`${lost} lost`), { code: 'LOST' }))
    this.answeredAdds = 0
    // Settlements not written leave their leases to expire: the rows are claimed again then.
    this.resolveBatch()
  }

  private retryWhenFree(): void {
    if (this.busyTimer !== undefined) return
    this.busyDelay = Math.min(BUSY_RETRY_MAX_MS, this.busyDelay === 0 ? BUSY_RETRY_FIRST_MS : this.busyDelay * 2)
    this.busyTimer = setTimeout(this.busyTick, this.busyDelay)
    this.busyTimer.unref()
  }

  private readonly busyTick = (): void => {
    this.busyTimer = undefined
    if (!this.empty) return this.flush()
    // Nothing buffered (a claim met the lock): probe it, and wake the claimer when it is free.
    try {
      this.db.exec('BEGIN IMMEDIATE')
      this.db.exec('ROLLBACK')
    } catch (error) {
      if (isBusy(error)) return this.retryWhenFree()
      this.hooks.error('probe', error)
    }
    this.succeeded()
  }

  private succeeded(): void {
    if (this.busyDelay === 0) return
    this.busyDelay = 0
    this.hooks.lockFree()
  }

  private resolveBatch(): void {
    const batch = this.batch
    this.batch = undefined
    batch?.resolve()
  }

  private clearTimers(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.immediate = undefined
    this.timer = undefined
  }
}
