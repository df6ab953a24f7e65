/**
 * The SQLite store: touchpoints in one database file (better-sqlite3), so they survive restarts,
 * crashes and `process.exit()`, and several processes on one machine can share the file — each
 * touchpoint is leased to one process at a time.
 *
 * better-sqlite3 is synchronous and a transaction on a file costs tens of µs of system calls
 * (locks, WAL writes) whatever it holds, so the store spends as few as it can: writes are buffered
 * and committed together (at most one group commit per {@link COMMIT_INTERVAL_MS}), a touchpoint
 * is leased to this process in the same commit that stores it (so claiming it costs no
 * transaction), and counts are kept in memory.
 */
import * as crypto from 'node:crypto'
import { hostname } from 'node:os'
import type BetterSqlite3 from 'better-sqlite3'
import { CONFIG_ERROR_CODES, TouchpointConfigError, type ConfigProblem } from '../errors'
import { parseWithTable, reportUnknownKeys } from '../did-you-mean'
import { storeErrorLog, type TouchpointLogger } from '../logger'
import { systemClock, type Clock } from '../types'
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer'
import {
  betterSqlite3Path,
  codeOf,
  describe,
  hashKey,
  limitOf,
  listDeadLetters,
  loadSqlite,
  messageOf,
  openDatabase,
  parseDatabasePath,
  pruneChunk,
  purgeDeadLetters,
  retryDeadLetters,
  Statements,
  type ClaimedRow,
  type Database,
  type SqliteDeps,
} from './sqlite-file'
import type {
  AddResult,
  DeadLetter,
  NewTouchpoint,
  StoreContext,
  StoreCounts,
  StoredTouchpoint,
  TouchpointStore,
} from './store'

// ---------------------------------------------------------------------------------------------
// Options

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * The database file. It holds customer data (the bodies of waiting touchpoints and of dead
   * letters), so it is created with mode `0600`, and its missing directories with mode `0700`.
   * Several processes on one machine may share it (PM2 cluster mode, `node:cluster`); not over a
   * network file system. Required.
   */
  readonly path: string
  /** How long a dead letter (a touchpoint that failed for good) is kept, in ms. Defaults to 7 days (`604800000`). */
  readonly retentionMs?: number
  /**
   * What a committed touchpoint survives. `'process'`: a killed or crashed process (WAL journal,
   * `synchronous=NORMAL`: a commit is a write to the OS, no fsync). `'power'`: also a power cut or
   * an OS crash (`synchronous=FULL`: an fsync per group commit, several ms on most disks).
   * Defaults to `'process'`.
   */
  readonly durability?: 'process' | 'power'
  /**
   * How long a claim holds a touchpoint for this process, in ms: a touchpoint claimed by a process
   * that died is sent by another (or by the next start) after it. Must be longer than one HTTP
   * attempt can take. Defaults to the middleware's lease (three request timeouts, at least a minute).
   */
  readonly leaseMs?: number
}

/** The defaults of {@link SqliteStoreOptions}. */
export const SQLITE_STORE_DEFAULTS = {
  retentionMs: 7 * 86_400_000,
  durability: 'process',
} as const satisfies Partial<Record<keyof SqliteStoreOptions, unknown>>

interface ResolvedSqliteOptions {
  readonly path: string
  readonly retentionMs: number
  readonly durability: 'process' | 'power'
  readonly leaseMs: number | undefined
}

type Report = (message: string) => void
type OptionParsers = {
  readonly [K in keyof SqliteStoreOptions]-?: (value: unknown, report: Report) => ResolvedSqliteOptions[K]
}

const MAX_RETENTION_MS = 10 * 365 * 86_400_000
const LEASE_BOUNDS_MS = [1000, 86_400_000] as const

/** One typed parser per option, carrying its default; the compiler checks the table against the type. */
const PARSERS = {
  path: parseDatabasePath,
  retentionMs(value = SQLITE_STORE_DEFAULTS.retentionMs, report) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_RETENTION_MS) {
      report(`must be a whole number of ms from 0 to ${MAX_RETENTION_MS} (got ${describe(value)})`)
      return SQLITE_STORE_DEFAULTS.retentionMs
    }
    return value
  },
  durability(value = SQLITE_STORE_DEFAULTS.durability, report) {
    if (value !== 'process' && value !== 'power') {
      report(`must be 'process' or 'power' (got ${describe(value)})`)
      return SQLITE_STORE_DEFAULTS.durability
    }
    return value
  },
  leaseMs(value, report) {
    if (value === undefined) return undefined
    const [min, max] = LEASE_BOUNDS_MS
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      report(`must be a whole number of ms from ${min} to ${max} (got ${describe(value)})`)
      return undefined
    }
    return value
  },
} satisfies OptionParsers

const OPTION_NAMES = Object.keys(PARSERS) as (keyof SqliteStoreOptions)[]

function resolveOptions(input: unknown): ResolvedSqliteOptions {
  const problems: ConfigProblem[] = []
  const report = (option: string, message: string): number =>
    problems.push({ option: `sqliteStore.${option}`, code: CONFIG_ERROR_CODES.store, message })
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TouchpointConfigError([
      {
        option: 'sqliteStore',
        code: CONFIG_ERROR_CODES.store,
        message: `needs its options, like sqliteStore({ path: './var/transactionale.db' }) (got ${describe(input)})`,
      },
    ])
  }
  const raw = input as Record<string, unknown>
  reportUnknownKeys(raw, OPTION_NAMES, (key, message) => report(key, `${message} (known: ${OPTION_NAMES.join(', ')})`))
  const resolved = parseWithTable<ResolvedSqliteOptions>(PARSERS, raw, report)
  if (problems.length > 0) throw new TouchpointConfigError(problems)
  return resolved
}

// ---------------------------------------------------------------------------------------------
// The store

/**
 * Group commits are at least this many ms apart while writes keep coming: the first write after a
 * quiet spell is committed at the next turn of the event loop; later ones by the first write that
 * arrives once the interval has passed, or by a timer at twice the interval when none does. Under
 * load, commits thus ride on turns of the event loop that run anyway (a timer of its own would
 * wake an otherwise idle loop 100 times a second, which cost more CPU here than the commits), and
 * at 500 orders/s each commit carries about five orders and their settlements.
 */
export const COMMIT_INTERVAL_MS = 10
/**
 * Rows a claim through the database leases beyond what the pump asked, held for the next claims
 * (handed out without a transaction while their lease is fresh).
 */
const PREFETCH = 64
/** Adds buffered beyond this are committed at once. */
const GROUP_COMMIT_MAX = 500
/** How often the store looks for work it did not cause (another process's rows, expired leases). */
const POLL_MS = 1000
/** A recount is skipped until this many times its last duration has passed (and at least one poll). */
const RECOUNT_COST_FACTOR = 100
/** SQLite's automatic checkpoint threshold (pages), kept while no checkpoint thread runs. */
const AUTO_CHECKPOINT_PAGES = 1000
/** The safety net while the checkpoint thread runs: only a thread that falls far behind leaves it to the connection. */
const AUTO_CHECKPOINT_PAGES_WITH_THREAD = 20_000

const LEASED = 0 // handed to the pump
const SETTLING = 1 // its settlement is buffered

type Settlement =
  | { readonly kind: 'delivered'; readonly id: number; readonly keepKey: boolean }
  | { readonly kind: 'retry'; readonly id: number; readonly attempts: number; readonly dueAt: number }
  | { readonly kind: 'failed'; readonly id: number; readonly attempts: number; readonly reason: string }
  | { readonly kind: 'release'; readonly id: number }
  | { readonly kind: 'forget'; readonly hash: string }

/** A buffered add: its touchpoint, what the commit decided, and the caller's promise. */
class AddOp {
  result: AddResult = 'duplicate'
  rowId = 0
  resolve!: (result: AddResult) => void
  reject!: (error: Error) => void
  constructor(
    readonly touchpoint: NewTouchpoint,
    readonly hash: string | null,
    readonly at: number,
  ) {}
}

type Op = AddOp | Settlement

/** How a commit moved the row counts. */
interface Deltas {
  readonly waiting: number
  readonly dead: number
}

/** A touchpoint this process stored and holds the lease of, not yet handed to the pump. */
interface Held {
  readonly touchpoint: StoredTouchpoint
  readonly rowId: number
  /** When its lease began (the commit), on the store's clock. */
  readonly leasedAt: number
}

const DONE: Promise<void> = Promise.resolve()

/**
 * A durable store in a SQLite file (`better-sqlite3`, an optional peer dependency), for one machine:
 * touchpoints survive restarts, crashes and `process.exit()`; several processes may share the file.
 *
 * The file is opened (and created) here, so a wrong path or a missing better-sqlite3 throws a
 * {@link TouchpointConfigError} (`ERR_TOUCHPOINT_STORE`) at startup.
 *
 * ```ts
 * import { sqliteStore } from 'express-transactionale/sqlite'
 * transactionaleTouchpoint({ apiKey, route: '/checkout', store: sqliteStore({ path: './var/transactionale.db' }) })
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): TouchpointStore {
  return createSqliteStore(options)
}

/** {@link sqliteStore} with its dependencies injectable (tests). */
export function createSqliteStore(options: SqliteStoreOptions, deps: SqliteDeps = {}): TouchpointStore {
  const resolved = resolveOptions(options)
  const Sqlite = loadSqlite(deps, 'sqliteStore')
  const db = openDatabase(Sqlite, resolved.path, resolved.durability, false, 'sqliteStore.path')
  // Checkpoints run on a thread that loads the same module; with an injected module, in the connection.
  return new SqliteStore(db, resolved, deps.load === undefined ? betterSqlite3Path() : undefined)
}

class SqliteStore implements TouchpointStore {
  readonly kind = 'sqlite'
  readonly durable = true

  private readonly sql: Statements
  /** This store's name on its leases: unique per instance; host and pid for whoever reads the file. */
  private readonly owner = leaseOwner()
  private clock: Clock = systemClock
  private logger: TouchpointLogger | undefined
  private maxSize = 0
  private dedupeWindowMs = 0
  private leaseMs = 60_000
  /** A held touchpoint older than this is claimed through the database, which renews its lease. */
  private freshMs = 1000
  private state: 'new' | 'open' | 'closed' = 'new'

  /** Writes waiting for the next group commit, in call order. */
  private ops: Op[] = []
  private pendingAdds = 0
  private flushImmediate: NodeJS.Immediate | undefined
  private flushTimer: NodeJS.Timeout | undefined
  private lastCommitAt = -Infinity
  /** One promise for every settlement in the next commit: one allocation per batch, not per call. */
  private batch: { promise: Promise<void>; resolve: () => void } | undefined

  /** Touchpoints this process stored and leased in the same commit, oldest first: claimed without a transaction. */
  private held: Held[] = []
  private heldHead = 0
  /**
   * True when the file may hold claimable touchpoints older than the held ones (at start, after a
   * retry or release comes due, when the poll saw any): the next claim asks the database.
   */
  private askDatabase = true
  /** The last claim through the database left claimable rows there (a backlog beyond the held ones). */
  private moreInFile = false
  /** The earliest due time of this process's retries not yet due. */
  private retryDueAt = Infinity

  /** Rows in state 'waiting' (anyone's), as of the last recount plus this process's own commits since. */
  private waitingRows = 0
  private deadRows = 0
  /** Rows handed to the pump and not yet seen settled: row id → LEASED or SETTLING. */
  private readonly claimed = new Map<number, typeof LEASED | typeof SETTLING>()
  private nextRecountAt = 0
  private listener: (() => void) | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private pruning = false
  private checkpointer: Checkpointer | undefined
  private errorLog: ((operation: string, fields: Record<string, unknown>) => void) | undefined

  private readonly writeBatch: BetterSqlite3.Transaction<(ops: Op[], now: number) => Deltas>
  private readonly claimRows: BetterSqlite3.Transaction<(now: number, limit: number) => ClaimedRow[]>
  private readonly releaseRows: BetterSqlite3.Transaction<(held: readonly Held[]) => void>

  constructor(
    private readonly db: Database,
    private readonly options: ResolvedSqliteOptions,
    /** better-sqlite3's file, for the checkpoint thread; `undefined`: checkpoints stay in the connection. */
    private readonly modulePath: string | undefined,
  ) {
    this.sql = new Statements(db)
    this.writeBatch = db.transaction((ops: Op[], now: number) => this.write(ops, now))
    this.claimRows = db.transaction((now: number, limit: number) => this.claimFromFile(now, limit))
    this.releaseRows = db.transaction((held: readonly Held[]) => {
      for (const h of held) this.sql.release.run(h.rowId, this.owner)
    })
  }

  open(context: StoreContext): Promise<void> {
    if (this.state !== 'new') return DONE
    this.state = 'open'
    this.clock = context.clock
    this.logger = context.logger
    this.maxSize = context.maxSize
    this.dedupeWindowMs = context.dedupeWindowMs
    this.leaseMs = this.options.leaseMs ?? context.leaseMs
    this.freshMs = Math.min(1000, this.leaseMs / 10)
    try {
      this.releaseDeadOwners()
      this.prune()
      this.recount()
    } catch (error) {
      this.logError('open', error)
    }
    process.on('exit', this.onExit)
    this.schedulePoll()
    this.startCheckpoints()
    return DONE
  }

  /**
   * Buffers the touchpoint for the next group commit and resolves once it is committed. `'full'`
   * is decided at the call, from the waiting count (approximate across processes, see `counts()`).
   * Rejects — after logging it once — with an `Error` whose `code` is `ERR_TOUCHPOINT_STORE` when
   * the commit fails (disk full, file locked past the busy timeout): the touchpoint is not stored.
   * Before `open()` or after `close()`, resolves with `'full'` (refused) without storing.
   */
  add(touchpoint: NewTouchpoint): Promise<AddResult> {
    if (this.state !== 'open') return Promise.resolve('full')
    if (this.waiting() + this.pendingAdds >= this.maxSize) return Promise.resolve('full')
    const key = touchpoint.dedupeKey
    const op = new AddOp(
      touchpoint,
      key !== undefined && this.dedupeWindowMs > 0 ? hashKey(key) : null,
      this.clock.now(),
    )
    const promise = new Promise<AddResult>((resolve, reject) => {
      op.resolve = resolve
      op.reject = reject
    })
    this.ops.push(op)
    this.pendingAdds++
    if (this.pendingAdds >= GROUP_COMMIT_MAX) this.flush()
    else this.scheduleFlush()
    return promise
  }

  /**
   * Oldest due first. Touchpoints this process just stored are already leased to it and are handed
   * out without a transaction; otherwise one IMMEDIATE transaction selects and leases (no two
   * processes lease one row). On a store error: logged, `[]`.
   */
  claim(limit: number): Promise<StoredTouchpoint[]> {
    const out: StoredTouchpoint[] = []
    if (this.state !== 'open' || !(limit > 0)) return Promise.resolve(out)
    const now = this.clock.now()
    if (now >= this.retryDueAt) {
      this.retryDueAt = Infinity
      this.askDatabase = true
    }
    const wanted = Math.floor(limit)
    if (!this.askDatabase && this.takeHeld(out, wanted, now)) return Promise.resolve(out)
    // Lease more than asked and hold the rest: the pump claims one touchpoint per answer, and each
    // transaction reads past the rows in flight, so a backlog claimed one by one cost a
    // transaction and a few hundred row reads per delivery.
    const asked = wanted - out.length + PREFETCH
    let rows: ClaimedRow[]
    try {
      rows = this.claimRows.immediate(now, asked)
    } catch (error) {
      this.logError('claim', error)
      return Promise.resolve(out)
    }
    // Every held touchpoint is in the file, leased to this store: the database hands them out now.
    this.held = []
    this.heldHead = 0
    // The oldest claimable rows are now handed out or held: the next claims take the held first.
    this.askDatabase = false
    this.moreInFile = rows.length >= asked
    for (const row of rows) {
      const touchpoint: StoredTouchpoint = {
        id: String(row.id),
        body: row.body,
        orderId: row.order_id ?? undefined,
        dedupeKey: row.dedupe_key ?? undefined,
        receivedAt: row.received_at,
        attempts: row.attempts,
      }
      if (out.length < wanted) {
        this.claimed.set(row.id, LEASED)
        out.push(touchpoint)
      } else this.held.push({ rowId: row.id, leasedAt: now, touchpoint })
    }
    return Promise.resolve(out)
  }

  /** Settled in the next group commit; resolves after it. Does nothing for a row this store no longer leases. */
  delivered(touchpoint: StoredTouchpoint): Promise<void> {
    const id = this.settling(touchpoint)
    if (id === undefined) return DONE
    // Without a dedupe key there is nothing to remember: the row goes.
    return this.queue({ kind: 'delivered', id, keepKey: touchpoint.dedupeKey !== undefined && this.dedupeWindowMs > 0 })
  }

  retry(touchpoint: StoredTouchpoint, attempts: number, dueAt: number): Promise<void> {
    const id = this.settling(touchpoint)
    if (id === undefined) return DONE
    return this.queue({ kind: 'retry', id, attempts, dueAt })
  }

  failed(touchpoint: StoredTouchpoint, attempts: number, reason: string): Promise<void> {
    const id = this.settling(touchpoint)
    if (id === undefined) return DONE
    return this.queue({ kind: 'failed', id, attempts, reason })
  }

  release(touchpoints: readonly StoredTouchpoint[]): Promise<void> {
    let promise = DONE
    for (const t of touchpoints) {
      const id = this.settling(t)
      if (id !== undefined) promise = this.queue({ kind: 'release', id })
    }
    return promise
  }

  /** Durable: keeps everything for the next start; commits what is buffered and returns `[]`. */
  drain(): Promise<StoredTouchpoint[]> {
    this.flush()
    return Promise.resolve([])
  }

  /** Frees a delivered touchpoint's key; a waiting touchpoint keeps its key until it settles. */
  forget(dedupeKey: string): void {
    if (this.state !== 'open' || this.dedupeWindowMs === 0) return
    void this.queue({ kind: 'forget', hash: hashKey(dedupeKey) })
  }

  /**
   * Synchronous, no query: this process's own changes are counted as they commit; what other
   * processes on the file do is picked up by a recount (`COUNT(*)` on a partial index) at the poll,
   * once a second — more rarely when the table is so large that counting it costs more than 1 % of
   * that time. So the counts are exact for one process and "about a second ago" for several.
   */
  counts(): StoreCounts {
    return { waiting: this.waiting(), deadLetters: this.deadRows }
  }

  waitingOrderIds(limit: number): string[] {
    if (this.state !== 'open' || !(limit > 0)) return []
    try {
      this.flush()
      const ids: string[] = []
      for (const row of this.sql.waitingOrderIds.all(Math.floor(limit) + this.claimed.size)) {
        if (ids.length < limit && !this.claimed.has(row.id)) ids.push(row.order_id)
      }
      return ids
    } catch (error) {
      this.logError('waitingOrderIds', error)
      return []
    }
  }

  /** One indexed query (the pump asks when a claim found nothing); `undefined` on a store error. */
  nextDueAt(): number | undefined {
    if (this.state !== 'open') return undefined
    try {
      const now = this.clock.now()
      let next = this.sql.nextDue.get(now) ?? undefined
      // Retries still in the buffer are not in the file yet.
      for (const op of this.ops) {
        if (
          !(op instanceof AddOp) &&
          op.kind === 'retry' &&
          op.dueAt > now &&
          !(next !== undefined && next <= op.dueAt)
        ) {
          next = op.dueAt
        }
      }
      return next
    } catch (error) {
      this.logError('nextDueAt', error)
      return undefined
    }
  }

  /**
   * The listener is called after this store's own releases and due-now retries commit, after dead
   * letters are sent again, and by a poll (every second, an unref'd timer) whenever a touchpoint is
   * claimable: rows of other processes, leases that expired.
   */
  onAvailable(listener: () => void): void {
    this.listener = listener
  }

  /** Newest first; at most `limit` (default 1000). Rejects on a store error (for a CLI to report). */
  deadLetters(options: { readonly limit?: number } = {}): Promise<DeadLetter[]> {
    if (this.state !== 'open') return Promise.resolve([])
    return this.admin(() => listDeadLetters(this.sql, limitOf(options.limit)))
  }

  /** Rejects on a store error (for a CLI to report). */
  retryDeadLetters(ids?: readonly string[]): Promise<number> {
    if (this.state !== 'open') return Promise.resolve(0)
    return this.admin(() => {
      const moved = retryDeadLetters(this.db, this.sql, ids, this.clock.now())
      this.deadRows = Math.max(0, this.deadRows - moved)
      this.waitingRows += moved
      if (moved > 0) {
        this.askDatabase = true
        this.notify()
      }
      return moved
    })
  }

  /** Rejects on a store error (for a CLI to report). */
  purgeDeadLetters(ids?: readonly string[]): Promise<number> {
    if (this.state !== 'open') return Promise.resolve(0)
    return this.admin(() => {
      const purged = purgeDeadLetters(this.db, this.sql, ids)
      this.deadRows = Math.max(0, this.deadRows - purged)
      return purged
    })
  }

  /**
   * Commits what is buffered, gives back every lease this store holds (held touchpoints, and any
   * claim neither settled nor released: the next start, or another process, sends them at once),
   * stops the poll and closes the file. Idempotent, never rejects.
   */
  close(): Promise<void> {
    if (this.state === 'closed') return DONE
    if (this.state === 'open') {
      try {
        this.flush()
        this.sql.releaseOwner.run(this.owner)
      } catch (error) {
        this.logError('close', error)
      }
    }
    this.state = 'closed'
    this.checkpointer?.stop()
    this.checkpointer = undefined
    this.claimed.clear()
    this.held = []
    process.off('exit', this.onExit)
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    this.listener = undefined
    try {
      this.db.close()
    } catch (error) {
      this.logError('close', error)
    }
    return DONE
  }

  // -- claims ---------------------------------------------------------------------------------

  /**
   * Hands out held touchpoints while their lease is fresh. True when that met the whole claim; false
   * when the database must be asked (too few held, or a stale one: its lease needs renewing).
   */
  private takeHeld(out: StoredTouchpoint[], limit: number, now: number): boolean {
    const held = this.held
    while (out.length < limit && this.heldHead < held.length) {
      const h = held[this.heldHead] as Held
      if (now - h.leasedAt > this.freshMs) {
        this.askDatabase = true
        break
      }
      this.heldHead++
      this.claimed.set(h.rowId, LEASED)
      out.push(h.touchpoint)
    }
    if (this.heldHead === held.length) {
      this.held = []
      this.heldHead = 0
    }
    // The database has nothing more unless it was flagged or a claim left some there: what it
    // holds claimable is held here.
    return out.length === limit || (!this.askDatabase && !this.moreInFile)
  }

  /**
   * The claim transaction: the oldest due rows that are free, or leased to this store but not handed
   * out (held), are leased anew. Rows handed out are skipped in JS, so the SELECT reads past them.
   */
  private claimFromFile(now: number, limit: number): ClaimedRow[] {
    const rows = this.sql.claimable.all(now, now, this.owner, limit + this.claimed.size)
    const out: ClaimedRow[] = []
    const until = now + this.leaseMs
    for (const row of rows) {
      if (out.length >= limit) break
      if (this.claimed.has(row.id)) continue
      this.sql.lease.run(this.owner, until, row.id)
      out.push(row)
    }
    return out
  }

  // -- group commit ---------------------------------------------------------------------------

  private queue(op: Settlement): Promise<void> {
    this.ops.push(op)
    this.scheduleFlush()
    if (this.batch === undefined) {
      let resolve: () => void = () => undefined
      const promise = new Promise<void>((r) => (resolve = r))
      this.batch = { promise, resolve }
    }
    return this.batch.promise
  }

  /** Arranges the next commit (see {@link COMMIT_INTERVAL_MS}). */
  private scheduleFlush(): void {
    if (this.flushImmediate !== undefined) return
    const since = performance.now() - this.lastCommitAt
    if (since >= COMMIT_INTERVAL_MS) this.flushImmediate = setImmediate(this.flushSoon)
    else this.flushTimer ??= setTimeout(this.flushSoon, 2 * COMMIT_INTERVAL_MS - since)
  }

  private readonly flushSoon = (): void => {
    this.flushImmediate = undefined
    this.flush()
  }

  /** Commits every buffered write in one transaction, then settles their promises. */
  private flush(): void {
    const ops = this.ops
    if (ops.length === 0) return
    this.ops = []
    this.pendingAdds = 0
    const batch = this.batch
    this.batch = undefined
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.lastCommitAt = performance.now()
    const now = this.clock.now()
    let failure: unknown
    try {
      const deltas = this.writeBatch.immediate(ops, now)
      this.waitingRows += deltas.waiting
      this.deadRows += deltas.dead
    } catch (error) {
      failure = error
      this.logError('write', error)
    }
    let claimable = false
    for (const op of ops) {
      if (op instanceof AddOp) {
        if (failure !== undefined) op.reject(storeError('store the touchpoint', failure))
        else {
          if (op.result === 'added') this.hold(op, now)
          op.resolve(op.result)
        }
      } else if (op.kind !== 'forget') {
        // Settled or not, this store lets go of the row: a write that failed leaves the lease to
        // expire, and the row is then claimed again.
        this.claimed.delete(op.id)
        if (failure !== undefined) continue
        if (op.kind === 'release' || (op.kind === 'retry' && op.dueAt <= now)) claimable = true
        else if (op.kind === 'retry' && op.dueAt < this.retryDueAt) this.retryDueAt = op.dueAt
      }
    }
    batch?.resolve()
    if (claimable) {
      this.askDatabase = true
      this.notify()
    }
  }

  /**
   * The body of the group-commit transaction. New touchpoints are stored leased to this store (it
   * will claim them next); the row counts' changes are applied only once the transaction commits.
   */
  private write(ops: Op[], now: number): Deltas {
    const sql = this.sql
    const owner = this.owner
    const until = now + this.leaseMs
    let waiting = 0
    let dead = 0
    for (const op of ops) {
      if (op instanceof AddOp) {
        const t = op.touchpoint
        const orderId = t.orderId ?? null
        const key = t.dedupeKey ?? null
        let result = sql.insert.run(t.body, orderId, key, op.hash, t.receivedAt, op.at, owner, until)
        // The key is taken. A delivered row older than the window no longer counts: free it, try again.
        if (
          result.changes === 0 &&
          op.hash !== null &&
          sql.freeExpiredKey.run(op.hash, now - this.dedupeWindowMs).changes > 0
        ) {
          result = sql.insert.run(t.body, orderId, key, op.hash, t.receivedAt, op.at, owner, until)
        }
        op.result = result.changes > 0 ? 'added' : 'duplicate'
        op.rowId = Number(result.lastInsertRowid)
        waiting += result.changes
        continue
      }
      switch (op.kind) {
        case 'delivered':
          waiting -= (op.keepKey ? sql.delivered : sql.deleteDelivered).run(op.id, owner).changes
          break
        case 'retry':
          sql.retry.run(op.attempts, op.dueAt, op.id, owner)
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
        case 'forget':
          sql.forget.run(op.hash)
          break
      }
    }
    return { waiting, dead }
  }

  /** Keeps a just-stored touchpoint for the next claim (its lease began with the commit). */
  private hold(op: AddOp, now: number): void {
    const t = op.touchpoint
    this.held.push({
      rowId: op.rowId,
      leasedAt: now,
      touchpoint: {
        id: String(op.rowId),
        body: t.body,
        orderId: t.orderId,
        dedupeKey: t.dedupeKey,
        receivedAt: t.receivedAt,
        attempts: 0,
      },
    })
  }

  /** The row id of a touchpoint handed out by this store and not settled yet; marks it settling. */
  private settling(touchpoint: StoredTouchpoint): number | undefined {
    if (this.state !== 'open') return undefined
    const id = Number(touchpoint.id)
    if (this.claimed.get(id) !== LEASED) return undefined
    this.claimed.set(id, SETTLING)
    return id
  }

  /** Waiting as this process sees it: rows in state 'waiting' minus those handed to its pump. */
  private waiting(): number {
    return Math.max(0, this.waitingRows - this.claimed.size)
  }

  // -- background work ------------------------------------------------------------------------

  private readonly onExit = (): void => {
    // process.exit() runs no more timers or promises, but 'exit' listeners run, synchronously:
    // commit what is buffered (better-sqlite3 is synchronous) and give back this store's leases so
    // the next start sends them at once instead of after the lease.
    try {
      this.flush()
      this.sql.releaseOwner.run(this.owner)
    } catch {
      // Nothing can be reported while the process exits.
    }
  }

  /**
   * Leases held by processes of this machine that are gone (a crash, SIGKILL) are given back at
   * once, so a restart sends their touchpoints without waiting out the lease. Only this host's (the
   * owner names the host; containers have their own), never this process's, never a live pid's.
   */
  private releaseDeadOwners(): void {
    const host = hostname()
    for (const owner of this.sql.leaseOwners.all(this.clock.now())) {
      const parsed = parseOwner(owner)
      if (parsed === undefined || parsed.host !== host || parsed.pid === process.pid || isAlive(parsed.pid)) continue
      this.sql.releaseOwner.run(owner)
    }
  }

  /** Moves WAL checkpoints (and their fsyncs) off the event loop; see sqlite-checkpointer.ts. */
  private startCheckpoints(): void {
    if (this.modulePath === undefined) return
    const threshold = (pages: number): void => {
      if (this.state !== 'open') return
      try {
        this.db.pragma(`wal_autocheckpoint = ${pages}`)
      } catch (error) {
        this.logError('checkpoint', error)
      }
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
    try {
      const now = this.clock.now()
      this.releaseStaleHeld(now)
      this.prune()
      if (now >= this.nextRecountAt) this.recount()
      if (this.sql.anyClaimable.get(now, now) !== undefined) {
        this.askDatabase = true
        this.notify()
      }
    } catch (error) {
      this.logError('poll', error)
    }
    this.schedulePoll()
  }

  /**
   * Held touchpoints the pump has not claimed while fresh (it is paused, or busy) are given back to
   * the file, so another process may send them and this store's memory does not grow with them.
   */
  private releaseStaleHeld(now: number): void {
    const oldest = this.held[this.heldHead]
    if (oldest === undefined || now - oldest.leasedAt <= this.freshMs) return
    const stale = this.held.slice(this.heldHead)
    this.held = []
    this.heldHead = 0
    this.askDatabase = true
    this.releaseRows(stale)
  }

  /** Prunes expired delivered keys and dead letters, a chunk per turn of the event loop until done. */
  private prune(): void {
    if (this.pruning || this.state !== 'open') return
    const more = pruneChunk(this.sql, this.clock.now(), this.dedupeWindowMs, this.options.retentionMs)
    if (!more) return
    this.pruning = true
    setImmediate(() => {
      this.pruning = false
      try {
        this.prune()
      } catch (error) {
        this.logError('prune', error)
      }
    })
  }

  /**
   * Counts from the file. Buffered writes are in neither the file nor the counts, and rows handed
   * out are 'waiting' in both, so no flush is needed. The next recount waits for a multiple of what
   * this one cost.
   */
  private recount(): void {
    const started = performance.now()
    this.waitingRows = this.sql.countWaiting.get() ?? 0
    this.deadRows = this.sql.countDead.get() ?? 0
    const cost = performance.now() - started
    this.nextRecountAt = this.clock.now() + Math.max(0, cost * RECOUNT_COST_FACTOR - POLL_MS)
  }

  private notify(): void {
    const listener = this.listener
    if (listener === undefined) return
    try {
      listener()
    } catch (error) {
      this.logError('onAvailable listener', error)
    }
  }

  private admin<T>(work: () => T): Promise<T> {
    try {
      this.flush()
      return Promise.resolve(work())
    } catch (error) {
      this.logError('dead letters', error)
      return Promise.reject(storeError('manage the dead letters', error))
    }
  }

  /**
   * One line per operation per minute, with how many were suppressed; never customer data (SQLite's
   * messages name tables and constraints, not values).
   */
  private logError(operation: string, error: unknown): void {
    this.errorLog ??= storeErrorLog(() => this.logger, { store: 'sqlite', path: this.options.path })
    this.errorLog(operation, { code: codeOf(error), error: messageOf(error) })
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A lease owner's name: `host/pid/random`, unique per store instance, readable by whoever opens the file. */
function leaseOwner(): string {
  return `${hostname()}/${process.pid}/${crypto.randomBytes(6).toString('hex')}`
}

function parseOwner(owner: string): { host: string; pid: number } | undefined {
  const match = /^(.*)\/(\d+)\/[0-9a-f]+$/.exec(owner)
  if (match === null) return undefined
  return { host: match[1] ?? '', pid: Number(match[2]) }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return codeOf(error) === 'EPERM'
  }
}

/** The error an operation rejects with: it names the store, and carries SQLite's code. */
function storeError(what: string, cause: unknown): Error & { code: string } {
  const error = new Error(`express-transactionale: the sqlite store could not ${what}: ${messageOf(cause)}`, {
    cause,
  }) as Error & { code: string; sqliteCode?: string }
  error.name = 'TouchpointStoreError'
  error.code = 'ERR_TOUCHPOINT_STORE'
  const code = codeOf(cause)
  if (code !== undefined) error.sqliteCode = code
  return error
}
