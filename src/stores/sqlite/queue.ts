/**
 * The SQLite store's hot path (`TouchpointStore`): touchpoints in one file, so they survive
 * restarts, crashes and `process.exit()`, and several processes on one machine can share it — a
 * claim leases exactly the rows it returns, so each is sent by one process at a time and a crash
 * delays only what the dead process was sending.
 *
 * Writes go through the group commit of `writer.ts`, which never waits for a lock. A claim is one
 * IMMEDIATE transaction that also commits the buffered settlements; on SQLITE_BUSY it fails at once
 * (the pump tries again) and the store wakes the pump when the lock is free. Counts are kept in
 * memory and recounted at the poll.
 */
import { storeErrorLog, type TouchpointLogger } from '../../logger'
import { systemClock, type Clock } from '../../types'
import type {
  AddResult,
  Claim,
  CountingStore,
  NewTouchpoint,
  Settlement,
  StoreContext,
  StoreCounts,
  StoredTouchpoint,
  TouchpointStore,
} from '../contracts'
import { hashKey } from './file'
import { codeOf, isBusy, messageOf, type Database } from './load'
import { leaseOwner } from './owners'
import type { ResolvedSqliteOptions } from './options'
import { QueueStatements, touchpointOf, type ClaimedRow } from './statements'
import { AddOp, writeOf, type Committed } from './apply'
import { Upkeep } from './upkeep'
import { BUSY_RETRY_MAX_MS, Writer } from './writer'

/** How long `close()` keeps retrying a commit that meets another process's lock. */
const CLOSE_COMMIT_MS = 10_000
/** `process.exit()` runs no timers: the last commit may wait this long for a lock, synchronously. */
const EXIT_BUSY_TIMEOUT_MS = 2000

const NOTHING: Promise<readonly StoredTouchpoint[]> = Promise.resolve([])
const DONE: Promise<void> = Promise.resolve()
const UNAVAILABLE: Promise<AddResult> = Promise.resolve('unavailable')

export class SqliteQueue implements TouchpointStore, CountingStore {
  readonly kind = 'sqlite'
  readonly durable = true

  private readonly sql: QueueStatements
  private readonly writer: Writer
  /** This store's name on its leases: unique per instance; host and pid for whoever reads the file. */
  private readonly owner = leaseOwner()
  private clock: Clock = systemClock
  private logger: TouchpointLogger | undefined
  private maxSize = 0
  private dedupeWindowMs = 0
  private leaseMs = 60_000
  private state: 'new' | 'open' | 'closed' = 'new'
  private closing: Promise<readonly StoredTouchpoint[]> | undefined
  private onAvailable: () => void = () => undefined

  /** Rows in state 'waiting' (anyone's), as of the last recount plus this process's own commits since. */
  private waitingRows = 0
  private deadRows = 0
  /** Rows leased to this process and handed to the pump, not yet settled: row id → settling. */
  private readonly claimed = new Map<number, boolean>()
  private dueTimer: { handle: NodeJS.Timeout; at: number } | undefined
  private errorLog: ((operation: string, fields: Record<string, unknown>) => void) | undefined
  private upkeep: Upkeep | undefined

  constructor(
    private readonly db: Database,
    private readonly options: ResolvedSqliteOptions,
    /** better-sqlite3's file, for the checkpoint thread; `undefined`: checkpoints stay in the connection. */
    private readonly modulePath: string | undefined,
  ) {
    this.sql = new QueueStatements(db)
    this.writer = new Writer(db, this.sql, {
      now: () => this.clock.now(),
      owner: this.owner,
      dedupeWindowMs: () => this.dedupeWindowMs,
      committed: (result) => this.committed(result),
      lockFree: () => this.notify(),
      error: (operation, error) => this.logError(operation, error),
    })
  }

  open(context: StoreContext): Promise<void> {
    if (this.state !== 'new') return DONE
    this.state = 'open'
    this.clock = context.clock
    this.logger = context.logger
    this.onAvailable = context.onAvailable
    this.maxSize = context.maxSize
    this.dedupeWindowMs = context.dedupeWindowMs
    this.leaseMs = this.options.leaseMs ?? context.leaseMs
    // For `outbox retry`, which leaves room for live orders.
    this.writer.setMeta('max_size', this.maxSize)
    this.upkeep = new Upkeep({
      db: this.db,
      sql: this.sql,
      owner: this.owner,
      path: this.options.path,
      retentionMs: this.options.retentionMs,
      modulePath: this.modulePath,
      clock: this.clock,
      dedupeWindowMs: this.dedupeWindowMs,
      counted: (waiting, dead) => {
        this.waitingRows = waiting
        this.deadRows = dead
      },
      prunedDead: (count) => (this.deadRows = Math.max(0, this.deadRows - count)),
      notify: () => this.notify(),
      logError: (operation, error) => this.logError(operation, error),
    })
    this.upkeep.start()
    process.on('exit', this.onExit)
    return DONE
  }

  /**
   * Buffers the touchpoint for the next group commit. Resolves with the commit's answer (`'added'`
   * or `'duplicate'`), or `'added'` at once when the commit met another process's lock (it is kept
   * and committed when the lock is released). `'full'` is decided at the call, from the waiting
   * count (approximate across processes, see `counts()`) and the buffer. Rejects with an `Error`
   * whose `code` is `ERR_TOUCHPOINT_STORE` when the commit fails otherwise (disk full, a broken file).
   */
  add(touchpoint: NewTouchpoint): Promise<AddResult> {
    if (this.state !== 'open') return UNAVAILABLE
    if (this.filed() + this.writer.bufferedAdds >= this.maxSize) return Promise.resolve('full')
    const key = touchpoint.dedupeKey
    const hash = key !== undefined && this.dedupeWindowMs > 0 ? hashKey(key) : null
    return this.writer.add(new AddOp(touchpoint, hash, this.clock.now()))
  }

  /** Oldest due first; leases exactly what it returns. Rejects on a store error (SQLITE_BUSY included). */
  claim(limit: number): Promise<Claim> {
    if (this.state !== 'open' || !(limit > 0)) return Promise.resolve({ touchpoints: [], nextDueAt: undefined })
    const now = this.clock.now()
    let rows: ClaimedRow[]
    let nextDueAt: number | undefined
    try {
      ;[rows, nextDueAt] = this.writer.withSettlements(() => {
        const found = this.sql.claimable.all(now, now, Math.floor(limit))
        const until = now + this.leaseMs
        for (const row of found) this.sql.lease.run(this.owner, until, row.id)
        return [found, this.sql.nextDue.get(now) ?? undefined] as const
      })
    } catch (error) {
      if (!isBusy(error)) this.logError('claim', error)
      // Its message and `code` (SQLITE_BUSY …) kept: better-sqlite3's errors may come from another
      // realm (a test sandbox), where `instanceof Error` is false.
      return Promise.reject(
        error instanceof Error ? error : Object.assign(new Error(messageOf(error)), { code: codeOf(error) }),
      )
    }
    for (const row of rows) this.claimed.set(row.id, false)
    const touchpoints = rows.map(touchpointOf)
    return Promise.resolve({ touchpoints, nextDueAt })
  }

  /** Buffered for the next commit (or the next claim's); does nothing for a row this store no longer leases. */
  settle(touchpoint: StoredTouchpoint, outcome: Settlement): Promise<void> {
    if (this.state !== 'open') return DONE
    const id = Number(touchpoint.id)
    if (this.claimed.get(id) !== false) return DONE
    this.claimed.set(id, true)
    // Without a dedupe key there is nothing to remember of a delivered row: it goes.
    return this.writer.settle(writeOf(id, outcome, touchpoint.dedupeKey !== undefined && this.dedupeWindowMs > 0))
  }

  /**
   * Commits what is buffered (retrying a lock held elsewhere for up to {@link CLOSE_COMMIT_MS}),
   * gives back every lease this store holds, stops the poll and closes the file. Durable: resolves
   * `[]`. Idempotent, never rejects.
   */
  close(): Promise<readonly StoredTouchpoint[]> {
    if (this.closing !== undefined) return this.closing
    const wasOpen = this.state === 'open'
    this.state = 'closed'
    this.closing = wasOpen ? this.shutDown().then(() => []) : (this.shutDownNow(), NOTHING)
    return this.closing
  }

  /**
   * Synchronous, no query: this process's own changes are counted as they commit; other processes'
   * are picked up by a recount at the poll (more rarely when counting costs more than 1 % of that
   * time). Exact for one process, "about a second ago" for several. Touchpoints kept in the buffer
   * while another process holds the lock count as waiting.
   */
  counts(): StoreCounts {
    return { waiting: Math.max(0, this.filed()) + this.writer.answeredAdds, deadLetters: this.deadRows }
  }

  waitingOrderIds(limit: number): string[] {
    if (this.state !== 'open' || !(limit > 0)) return []
    try {
      return this.sql.waitingOrderIds.all(this.owner, Math.floor(limit))
    } catch (error) {
      if (!isBusy(error)) this.logError('waitingOrderIds', error)
      return []
    }
  }

  /** Waiting rows in the file, less those this process is sending. */
  private filed(): number {
    return this.waitingRows - this.claimed.size
  }

  private committed(result: Committed): void {
    this.upkeep?.freed(result.freed)
    this.waitingRows += result.waiting
    this.deadRows += result.dead
    const now = this.clock.now()
    let claimable = result.lateAdds > 0
    for (const op of result.settled) {
      this.claimed.delete(op.id)
      if (op.kind === 'release') claimable = true
      else if (op.kind === 'retry') {
        if (op.dueAt <= now) claimable = true
        else this.wakeAt(op.dueAt)
      }
    }
    if (claimable) this.notify()
  }

  /** A retry committed outside a claim comes due: the pump learns it from a timer, not the next poll. */
  private wakeAt(at: number): void {
    if (this.dueTimer !== undefined && this.dueTimer.at <= at) return
    if (this.dueTimer !== undefined) this.clock.clearTimeout(this.dueTimer.handle)
    const handle = this.clock.setTimeout(
      () => {
        this.dueTimer = undefined
        this.notify()
      },
      Math.max(0, at - this.clock.now()),
    )
    handle.unref?.()
    this.dueTimer = { handle, at }
  }

  private async shutDown(): Promise<void> {
    const deadline = performance.now() + CLOSE_COMMIT_MS
    for (;;) {
      this.writer.flush()
      if (this.writer.empty) break
      if (performance.now() >= deadline) {
        this.logError('close (buffered writes lost: the lock was never released)', undefined)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.writer.retryDelay, BUSY_RETRY_MAX_MS)))
    }
    this.quietly('close', () => this.sql.releaseOwner.run(this.owner))
    this.shutDownNow()
  }

  private shutDownNow(): void {
    this.writer.stop()
    this.upkeep?.stop()
    this.claimed.clear()
    process.off('exit', this.onExit)
    if (this.dueTimer !== undefined) this.clock.clearTimeout(this.dueTimer.handle)
    this.dueTimer = undefined
    this.onAvailable = () => undefined
    this.quietly('close', () => this.db.close())
  }

  private readonly onExit = (): void => {
    // process.exit() runs no more timers or promises, but 'exit' listeners run, synchronously:
    // commit what is buffered (waiting a little for a lock: nothing else runs any more) and give
    // back this store's leases so the next start sends them at once.
    try {
      this.db.pragma(`busy_timeout = ${EXIT_BUSY_TIMEOUT_MS}`)
      this.writer.flush()
      this.sql.releaseOwner.run(this.owner)
    } catch {
      // Nothing can be reported while the process exits.
    }
  }

  private notify(): void {
    try {
      this.onAvailable()
    } catch (error) {
      this.logError('onAvailable listener', error)
    }
  }

  /** Runs `work`; a lock held elsewhere is not waited for (the step is skipped), other errors are logged. */
  private quietly(operation: string, work: () => void): void {
    try {
      work()
    } catch (error) {
      if (!isBusy(error)) this.logError(operation, error)
    }
  }

  /**
   * One line per operation per minute, with how many were suppressed; never customer data (SQLite's
   * messages name tables and constraints, not values).
   */
  private logError(operation: string, error: unknown): void {
    this.errorLog ??= storeErrorLog(() => this.logger, { store: 'sqlite', path: this.options.path })
    this.errorLog(operation, error === undefined ? {} : { code: codeOf(error), error: messageOf(error) })
  }
}
