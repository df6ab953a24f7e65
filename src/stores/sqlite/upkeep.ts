/**
 * The SQLite store's background work, off the hot path: the poll (once a second: leases of this
 * machine's dead processes given back, the counts recounted, the pump woken for work it did not
 * cause — another process's rows, expired leases), pruning (delivered keys past the dedupe window,
 * dead letters past their retention), compacting the bodies' tombstones, and the WAL checkpoint
 * thread. A lock held elsewhere skips a step until the next time; nothing here waits for one.
 */
import type { Clock } from '../../types'
import { startCheckpointer, type Checkpointer } from './checkpointer'
import { isBusy, type Database } from './load'
import { deadOwners } from './owners'
import type { QueueStatements } from './statements'

/** How often the store looks for work it did not cause. */
export const POLL_MS = 1000
/** A recount is skipped until this many times its last duration has passed (and at least one poll). */
const RECOUNT_COST_FACTOR = 100
/** Rows deleted per prune statement: small enough to keep each chunk well under a millisecond. */
const PRUNE_CHUNK = 200
/** SQLite's automatic checkpoint threshold (pages), kept while no checkpoint thread runs. */
const AUTO_CHECKPOINT_PAGES = 1000
/** The safety net while the checkpoint thread runs. */
const AUTO_CHECKPOINT_PAGES_WITH_THREAD = 20_000
/** Compaction waits for this many tombstones, and for at least as many as there are live bodies. */
const COMPACT_MIN_TOMBSTONES = 1000
/** Without the checkpoint thread, the event loop rewrites at most this many live bodies (~2 ms)… */
const COMPACT_MAX_LIVE_ON_LOOP = 500
/** … unless the tombstones reach this many (~12 bytes each): the file must not grow without bound. */
const COMPACT_FORCED_TOMBSTONES = 200_000

export interface UpkeepHost {
  readonly db: Database
  readonly sql: QueueStatements
  readonly owner: string
  readonly path: string
  readonly retentionMs: number
  /** better-sqlite3's file, for the checkpoint thread; `undefined`: checkpoints stay in the connection. */
  readonly modulePath: string | undefined
  readonly clock: Clock
  readonly dedupeWindowMs: number
  /** The file's counts, recounted. */
  counted(waiting: number, dead: number): void
  /** Dead letters pruned. */
  prunedDead(count: number): void
  /** Touchpoints may be claimable: wake the pump. */
  notify(): void
  logError(operation: string, error: unknown): void
}

export class Upkeep {
  private running = false
  private pollTimer: NodeJS.Timeout | undefined
  private nextRecountAt = 0
  private pruning = false
  private checkpointer: Checkpointer | undefined
  /** Bodies this process shrank to tombstones since its last compaction (other processes count theirs). */
  private tombstones = 0
  /** Bodies that are not tombstones (touchpoints waiting, dead letters), as last recounted. */
  private liveBodies = 0
  private readonly compactBodies: () => void

  constructor(private readonly host: UpkeepHost) {
    const { db, sql } = host
    const rewrite = db.transaction(() => {
      const live = sql.liveBodies.all() as [number, string, string | null, string | null][]
      sql.clearBodies.run()
      // In id order into an empty table: appends, which never rebuild a page.
      for (const row of live) sql.insertBody.run(...row)
    })
    this.compactBodies = () => rewrite.immediate()
  }

  /** Bodies shrunk to tombstones by this process's commits (touchpoints delivered). */
  freed(count: number): void {
    this.tombstones += count
  }

  /** The first round at once (what a previous process left), then the poll. */
  start(): void {
    this.running = true
    this.step('open', () => {
      this.releaseDeadOwners()
      this.recount()
    })
    this.prune()
    this.schedulePoll()
    this.startCheckpoints()
  }

  stop(): void {
    this.running = false
    if (this.pollTimer !== undefined) this.host.clock.clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    this.checkpointer?.stop()
    this.checkpointer = undefined
  }

  /** Runs `work`; a lock held elsewhere skips it until the next time, other errors are logged. */
  step(operation: string, work: () => void): void {
    try {
      work()
    } catch (error) {
      if (!isBusy(error)) this.host.logError(operation, error)
    }
  }

  private schedulePoll(): void {
    if (!this.running) return
    this.pollTimer = this.host.clock.setTimeout(this.poll, POLL_MS)
    // The poll alone must not keep a finished process alive.
    this.pollTimer.unref?.()
  }

  private readonly poll = (): void => {
    this.pollTimer = undefined
    if (!this.running) return
    const now = this.host.clock.now()
    this.step('poll', () => {
      this.releaseDeadOwners()
      if (now >= this.nextRecountAt) this.recount()
      if (this.host.sql.anyClaimable.get(now, now) !== undefined) this.host.notify()
    })
    this.prune()
    this.compact()
    this.schedulePoll()
  }

  /**
   * Removes the tombstones of `bodies` (file.ts, schema 3) once there are enough of them: the live
   * bodies are read, the table is emptied (SQLite's truncation frees every page, and secure_delete
   * zeroes it) and they are appended again in id order, all in one transaction (COMPACTION_SQL). Its
   * cost, about that of rewriting the live bodies, is spread over at least as many deliveries; the
   * checkpoint thread runs it when there is one, the event loop only a small one.
   */
  private compact(): void {
    const live = this.liveBodies
    if (this.tombstones < Math.max(COMPACT_MIN_TOMBSTONES, live)) return
    if (this.checkpointer !== undefined) {
      this.checkpointer.compact()
      this.tombstones = 0
      return
    }
    if (live > COMPACT_MAX_LIVE_ON_LOOP && this.tombstones < COMPACT_FORCED_TOMBSTONES) return
    this.step('compact', () => {
      this.compactBodies()
      this.tombstones = 0
    })
  }

  /** Leases of this machine's processes that are gone (a crash, SIGKILL) are given back at once. */
  private releaseDeadOwners(): void {
    const { sql, owner } = this.host
    let released = 0
    for (const dead of deadOwners(sql.leaseOwners.all(), owner)) released += sql.releaseOwner.run(dead).changes
    if (released > 0) this.host.notify()
  }

  /** Counts from the file; the next recount waits for a multiple of what this one cost. */
  private recount(): void {
    const started = performance.now()
    const waiting = this.host.sql.countWaiting.get() ?? 0
    const dead = this.host.sql.countDead.get() ?? 0
    this.liveBodies = waiting + dead
    this.host.counted(waiting, dead)
    const cost = performance.now() - started
    this.nextRecountAt = this.host.clock.now() + Math.max(0, cost * RECOUNT_COST_FACTOR - POLL_MS)
  }

  /** Prunes expired delivered keys and dead letters, a chunk per turn of the event loop until done. */
  private prune(): void {
    if (this.pruning || !this.running) return
    const { sql, clock } = this.host
    const now = clock.now()
    let more = false
    this.step('prune', () => {
      const delivered = sql.pruneDelivered.run(now - this.host.dedupeWindowMs, PRUNE_CHUNK).changes
      const dead = sql.pruneDead.run(now - this.host.retentionMs, PRUNE_CHUNK).changes
      if (dead > 0) this.host.prunedDead(dead)
      this.tombstones += dead
      more = delivered === PRUNE_CHUNK || dead === PRUNE_CHUNK
    })
    if (!more) return
    this.pruning = true
    setImmediate(() => {
      this.pruning = false
      this.prune()
    })
  }

  /** Moves WAL checkpoints (and their fsyncs) off the event loop; see checkpointer.ts. */
  private startCheckpoints(): void {
    const { modulePath, db } = this.host
    if (modulePath === undefined) return
    const threshold = (pages: number): void => {
      if (this.running) this.step('checkpoint', () => db.pragma(`wal_autocheckpoint = ${pages}`))
    }
    this.checkpointer = startCheckpointer({
      modulePath,
      file: this.host.path,
      onReady: () => threshold(AUTO_CHECKPOINT_PAGES_WITH_THREAD),
      onGone: (error) => {
        this.checkpointer = undefined
        threshold(AUTO_CHECKPOINT_PAGES)
        this.host.logError('checkpoint', error)
      },
      onCompactionError: (error) => this.host.logError('compact', error),
    })
  }
}
