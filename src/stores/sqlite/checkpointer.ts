/**
 * WAL checkpoints on a thread of their own. A checkpoint copies the WAL back into the database file
 * and fsyncs both; run by SQLite's default (in the committing connection, every 1000 pages) it
 * stalled the shop's event loop for several ms about once a second at 500 orders/s. A worker
 * thread with its own connection runs them instead (PASSIVE: they never block a writer), and the
 * store's connection keeps a far larger automatic threshold only as a safety net. The thread also
 * runs the compaction of the bodies' tombstones when the store asks (it rewrites every live body:
 * tens of ms for thousands), so that it never stalls the event loop either.
 */
import { Worker } from 'node:worker_threads'
import { COMPACTION_SQL } from './statements'

/** How often the thread checkpoints. */
const CHECKPOINT_INTERVAL_MS = 1000

// Plain CommonJS, evaluated in the worker: it loads the same better-sqlite3 the store loaded. Its
// connection never waits for a lock either (timeout 0): a checkpoint that cannot run now runs at
// the next tick. Once a PASSIVE checkpoint has copied the whole WAL back and nothing was written
// since the last tick, a TRUNCATE empties the WAL file: its old frames hold the bodies of
// touchpoints delivered since, which must not stay on disk (the store's secure_delete covers the
// database file, not the WAL). A compaction asked for runs at once, or at the next tick when the
// lock is held elsewhere; its connection zeroes what it frees, as the store's does (secure_delete
// is a setting of the connection, not of the file).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.modulePath)
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 })
db.pragma('secure_delete = ON')
const sql = ${JSON.stringify(COMPACTION_SQL)}
let compaction
let compactionWanted = false
const compact = () => {
  if (!compactionWanted) return
  try {
    compaction ??= db.transaction(() => {
      const live = db.prepare(sql.live).raw().all()
      db.prepare(sql.clear).run()
      const append = db.prepare(sql.append)
      for (const row of live) append.run(...row)
    })
    compaction.immediate()
    compactionWanted = false
  } catch (error) {
    if (!String(error && error.code).startsWith('SQLITE_BUSY')) {
      compactionWanted = false
      parentPort.postMessage({ compactionError: String(error && error.message) })
    }
  }
}
let lastLog = -1
const timer = setInterval(() => {
  compact()
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)')
    if (result.busy === 0 && result.log > 0 && result.checkpointed === result.log && result.log === lastLog) {
      db.pragma('wal_checkpoint(TRUNCATE)')
      lastLog = -1
    } else {
      lastLog = result.log
    }
  } catch (error) {
    if (!String(error && error.code).startsWith('SQLITE_BUSY')) parentPort.postMessage({ error: String(error && error.message) })
  }
}, workerData.intervalMs)
parentPort.on('message', (message) => {
  if (message === 'compact') {
    compactionWanted = true
    return compact()
  }
  clearInterval(timer)
  db.close()
  parentPort.close()
})
parentPort.postMessage('ready')
`

/** A running checkpoint thread. */
export interface Checkpointer {
  /** Asks the thread to compact the bodies' tombstones (now, or when the lock is free); never throws. */
  compact(): void
  /** Asks the thread to close its connection and end; never throws. */
  stop(): void
}

export interface CheckpointerOptions {
  /** The resolved path of better-sqlite3 (the module the store loaded). */
  readonly modulePath: string
  readonly file: string
  /** The thread runs checkpoints: the store's connection may stop running them itself. */
  readonly onReady: () => void
  /** The thread failed or ended unasked: the store's connection must checkpoint again. */
  readonly onGone: (error: unknown) => void
  /** A compaction failed otherwise than on a lock (logged; the next one is asked for later). */
  readonly onCompactionError: (error: unknown) => void
}

/** Starts the checkpoint thread; `undefined` when threads are unavailable (the caller keeps SQLite's default). */
export function startCheckpointer(options: CheckpointerOptions): Checkpointer | undefined {
  let worker: Worker
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { modulePath: options.modulePath, file: options.file, intervalMs: CHECKPOINT_INTERVAL_MS },
    })
  } catch (error) {
    options.onGone(error)
    return undefined
  }
  // The thread alone must not keep a finished process alive.
  worker.unref()
  let stopping = false
  let gone = false
  const goneOnce = (error: unknown): void => {
    if (gone || stopping) return
    gone = true
    options.onGone(error)
  }
  worker.on('message', (message: unknown) => {
    const failed = message as { error?: string; compactionError?: string }
    if (message === 'ready') options.onReady()
    else if (failed.compactionError !== undefined) options.onCompactionError(new Error(failed.compactionError))
    else goneOnce(new Error(`checkpoint failed: ${failed.error}`))
  })
  worker.on('error', goneOnce)
  worker.on('exit', (code) => goneOnce(new Error(`checkpoint thread exited with code ${code}`)))
  return {
    compact() {
      if (!stopping && !gone) worker.postMessage('compact')
    },
    stop() {
      if (stopping) return
      stopping = true
      try {
        worker.postMessage('stop')
      } catch {
        void worker.terminate()
      }
    },
  }
}
