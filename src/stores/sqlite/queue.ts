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
import { startCheckpointer, type Checkpointer } from './checkpointer'
import { hashKey } from './file'
import { codeOf, isBusy, messageOf, type Database } from './load'
import { deadOwners, leaseOwner } from './owners'
import type { ResolvedSqliteOptions } from './options'
import { QueueStatements, type ClaimedRow } from './statements'
import { AddOp, BUSY_RETRY_MAX_MS, Writer, type Committed } from './writer'

/** How often the store looks for work it did not cause (another process's rows, expired leases, dead owners). */
const POLL_MS = 1000
/** A recount is skipped until this many times its last duration has passed (and at least one poll). */
const RECOUNT_COST_FACTOR = 100
/** Rows deleted per prune statement: small enough to keep each chunk well under a millisecond. */
const PRUNE_CHUNK = 200
/** How long `close()` keeps retrying a commit that meets another process's lock. */
const CLOSE_COMMIT_MS = 10_000
/** `process.exit()` runs no timers: the last commit may wait this long for a lock, synchronously. */
const EXIT_BUSY_TIMEOUT_MS = 2000
/** SQLite's automatic checkpoint threshold (pages), kept while no checkpoint thread runs. */
const AUTO_CHECKPOINT_PAGES = 1000
/** The safety net while the checkpoint thread runs. */
const AUTO_CHECKPOINT_PAGES_WITH_THREAD = 20_000

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
  private nextRecountAt = 0
  private pollTimer: NodeJS.Timeout | undefined
  private dueTimer: { handle: NodeJS.Timeout; at: number } | undefined
  private pruning = false
  private checkpointer: Checkpointer | undefined
  private errorLog: ((operation: string, fields: Record<string, unknown>) => void) | undefined

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
    this.background('open', () => {
      this.releaseDeadOwners()
      this.recount()
    })
    this.prune()
    process.on('exit', this.onExit)
    this.schedulePoll()
    this.startCheckpoints()
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
      return Promise.reject(error instanceof Error ? error : new Error(messageOf(error)))
    }
    const touchpoints: StoredTouchpoint[] = []
    for (const row of rows) {
      this.claimed.set(row.id, false)
      touchpoints.push({
        id: String(row.id),
        body: row.body,
        orderId: row.order_id ?? undefined,
        dedupeKey: row.dedupe_key ?? undefined,
        receivedAt: row.received_at,
        attempts: row.attempts,
      })
    }
    return Promise.resolve({ touchpoints, nextDueAt })
  }

  /** Buffered for the next commit (or the next claim's); does nothing for a row this store no longer leases. */
  settle(touchpoint: StoredTouchpoint, outcome: Settlement): Promise<void> {
    if (this.state !== 'open') return DONE
    const id = Number(touchpoint.id)
    if (this.claimed.get(id) !== false) return DONE
    this.claimed.set(id, true)
    switch (outcome.kind) {
      case 'delivered':
        // Without a dedupe key there is nothing to remember: the row goes.
        return this.writer.settle({
          kind: 'delivered',
          id,
          keepKey: touchpoint.dedupeKey !== undefined && this.dedupeWindowMs > 0,
        })
      case 'retry':
        return this.writer.settle({
          kind: 'retry',
          id,
          attempts: outcome.attempts,
          dueAt: outcome.dueAt,
          error: outcome.reason ?? null,
        })
      case 'failed':
        return this.writer.settle({ kind: 'failed', id, attempts: outcome.attempts, reason: outcome.reason })
      case 'released':
        return this.writer.settle({ kind: 'release', id })
    }
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
    this.background('close', () => this.sql.releaseOwner.run(this.owner))
    this.shutDownNow()
  }

  private shutDownNow(): void {
    this.writer.stop()
    this.checkpointer?.stop()
    this.checkpointer = undefined
    this.claimed.clear()
    process.off('exit', this.onExit)
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer)
    if (this.dueTimer !== undefined) this.clock.clearTimeout(this.dueTimer.handle)
    this.pollTimer = undefined
    this.dueTimer = undefined
    this.onAvailable = () => undefined
    this.background('close', () => this.db.close())
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

  /** Leases of this machine's processes that are gone (a crash, SIGKILL) are given back at once. */
  private releaseDeadOwners(): void {
    let released = 0
    for (const owner of deadOwners(this.sql.leaseOwners.all(), this.owner)) {
      released += this.sql.releaseOwner.run(owner).changes
    }
    if (released > 0) this.notify()
  }

  /** Moves WAL checkpoints (and their fsyncs) off the event loop; see checkpointer.ts. */
  private startCheckpoints(): void {
    if (this.modulePath === undefined) return
    const threshold = (pages: number): void => {
      if (this.state === 'open') this.background('checkpoint', () => this.db.pragma(`wal_autocheckpoint = ${pages}`))
    }
    this.checkpointer = startCheckpointer({
      modulePath: this.modulePath,
      file: this.options.path,
      onReady: () => threshold(AUTO_CHECKPOINT_PAGES_WITH_THREAD),
      onGone: (error) => {
        this.checkpointer = undefined
        threshold(AUTO_CHECKPOINT_PAGES)
        this.logError('checkpoint', error)
      },
    })
  }

  private schedulePoll(): void {
    if (this.state !== 'open') return
    this.pollTimer = this.clock.setTimeout(this.poll, POLL_MS)
    // The poll alone must not keep a finished process alive.
    this.pollTimer.unref?.()
  }

  private readonly poll = (): void => {
    this.pollTimer = undefined
    if (this.state !== 'open') return
    const now = this.clock.now()
    this.background('poll', () => {
      this.releaseDeadOwners()
      if (now >= this.nextRecountAt) this.recount()
      if (this.sql.anyClaimable.get(now, now) !== undefined) this.notify()
    })
    this.prune()
    this.schedulePoll()
  }

  /** Prunes expired delivered keys and dead letters, a chunk per turn of the event loop until done. */
  private prune(): void {
    if (this.pruning || this.state !== 'open') return
    const now = this.clock.now()
    let more = false
    this.background('prune', () => {
      const delivered = this.sql.pruneDelivered.run(now - this.dedupeWindowMs, PRUNE_CHUNK).changes
      const dead = this.sql.pruneDead.run(now - this.options.retentionMs, PRUNE_CHUNK).changes
      this.deadRows = Math.max(0, this.deadRows - dead)
      more = delivered === PRUNE_CHUNK || dead === PRUNE_CHUNK
    })
    if (!more) return
    this.pruning = true
    setImmediate(() => {
      this.pruning = false
      this.prune()
    })
  }

  /** Counts from the file; the next recount waits for a multiple of what this one cost. */
  private recount(): void {
    const started = performance.now()
    this.waitingRows = this.sql.countWaiting.get() ?? 0
    this.deadRows = this.sql.countDead.get() ?? 0
    const cost = performance.now() - started
    this.nextRecountAt = this.clock.now() + Math.max(0, cost * RECOUNT_COST_FACTOR - POLL_MS)
  }

  private notify(): void {
    try {
      this.onAvailable()
    } catch (error) {
      this.logError('onAvailable listener', error)
    }
  }

  /** Work off the hot path: a lock held elsewhere skips it until the next time (never waits), other errors are logged. */
  private background(operation: string, work: () => void): void {
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
