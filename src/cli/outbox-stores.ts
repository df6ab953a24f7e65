/**
 * The outboxes `outbox` can open, behind one small interface: a SQLite file through `openOutbox`
 * (`express-transactionale/sqlite`), a Redis queue through `redisStore` with `worker: false`
 * (`express-transactionale/redis`: it claims nothing, only reads and moves dead letters).
 */
import { existsSync } from 'node:fs'
import pino from 'pino'
import { redisStore } from '../redis'
import { redactUrl } from '../redis/options'
import { openOutbox } from '../sqlite'
import { DEFAULTS } from '../options'
import type { DeadLetter } from '../stores/store'
import { systemClock } from '../types'
import { asUsageError, CliError, EXIT, usageError } from './output'

/** What the command needs of a store's outbox; async, so that a remote store fits as well as a file. */
export interface Outbox {
  /** How to name it in output, e.g. `sqlite:/var/app/outbox.db`. */
  readonly name: string
  counts(): Promise<OutboxStats>
  /** Dead letters, newest first. */
  deadLetters(limit: number): Promise<DeadLetter[]>
  retryDeadLetters(ids?: readonly string[]): Promise<number>
  purgeDeadLetters(ids?: readonly string[]): Promise<number>
  close(): Promise<void>
}

/** The counts `stats` prints; a store gives those it knows. */
export interface OutboxStats {
  /** Waiting to be sent: due now, waiting for a retry, or being sent. */
  readonly waiting: number
  /** Of those, being sent right now. */
  readonly beingSent: number
  /** Of those, waiting for a retry's due time (Redis). */
  readonly delayed?: number
  /** Delivered, kept for the dedupe window without customer data (SQLite). */
  readonly delivered?: number
  readonly deadLetters: number
}

/** How long one Redis operation of a command may take before the command fails. */
const REDIS_TIMEOUT_MS = 10_000

/** Opens the store named on the command line: `sqlite:PATH` or `redis://…` / `rediss://…`. */
export function openStore(store: string, options: { readonly prefix?: string }): Promise<Outbox> {
  if (store.startsWith('sqlite:')) {
    if (options.prefix !== undefined) throw usageError('--prefix is for redis:// stores, not sqlite:')
    return Promise.resolve(openSqlite(store.slice('sqlite:'.length)))
  }
  if (/^rediss?:\/\//.test(store)) return openRedis(store, options.prefix)
  throw usageError(
    `"${store}" names no store: use sqlite:PATH (e.g. sqlite:./var/transactionale.db) or redis://HOST:PORT`,
  )
}

function openSqlite(path: string): Outbox {
  if (path === '' || !existsSync(path)) {
    throw usageError(
      `sqlite:${path}: no such file: give the path the app passes to sqliteStore({ path }), e.g. sqlite:./var/transactionale.db`,
    )
  }
  const outbox = asUsageError(`cannot open the outbox sqlite:${path}`, {}, () => openOutbox(path))
  return {
    name: `sqlite:${outbox.path}`,
    counts: () => {
      const { waiting, leased, delivered, deadLetters } = outbox.counts()
      return Promise.resolve({ waiting, beingSent: leased, delivered, deadLetters })
    },
    deadLetters: (limit) => Promise.resolve(outbox.deadLetters({ limit })),
    retryDeadLetters: (ids) => Promise.resolve(outbox.retryDeadLetters(ids)),
    purgeDeadLetters: (ids) => Promise.resolve(outbox.purgeDeadLetters(ids)),
    close: () => Promise.resolve(outbox.close()),
  }
}

async function openRedis(url: string, prefix: string | undefined): Promise<Outbox> {
  const name = `${redactUrl(url)}${prefix === undefined ? '' : ` (prefix ${prefix})`}`
  const store = asUsageError(`cannot open the outbox ${name}`, { connection: '<store>', prefix: '--prefix' }, () =>
    redisStore({ connection: url, worker: false, ...(prefix === undefined ? {} : { prefix }) }),
  )
  // The store logs Redis errors rather than throwing them; the last one explains a failure.
  let lastError: string | undefined
  const logger = pino(
    { level: 'warn' },
    {
      write(line: string) {
        const { error } = JSON.parse(line) as { error?: unknown }
        if (typeof error === 'string') lastError = error
      },
    },
  )
  await store.open({
    maxSize: Number.MAX_SAFE_INTEGER,
    // A dead letter sent again counts as a new order for the shops' default dedupe window, as the worker does.
    dedupeWindowMs: DEFAULTS.dedupe.windowMs,
    dedupeMaxEntries: DEFAULTS.dedupe.maxEntries,
    leaseMs: 60_000,
    clock: systemClock,
    logger,
  })
  // BullMQ waits for Redis as long as it takes; a command gives up.
  const reach = async <T>(operation: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_TIMEOUT_MS / 1000} s`)), REDIS_TIMEOUT_MS)
    })
    try {
      return await Promise.race([operation(), timeout])
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      throw new CliError(EXIT.failed, `${name}: ${message}${lastError === undefined ? '' : ` (${lastError})`}`)
    } finally {
      clearTimeout(timer)
    }
  }
  const close = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([store.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))])
    clearTimeout(timer)
  }
  // The store opens even while Redis is down (a shop must start anyway); a command must not.
  try {
    if (lastError !== undefined) throw new CliError(EXIT.failed, `${name}: cannot reach Redis (${lastError})`)
    await reach(() => store.queueStats())
  } catch (error) {
    await close()
    throw error
  }
  return {
    name,
    counts: () =>
      reach(async () => {
        const { waiting, delayed, active, failed } = await store.queueStats()
        return { waiting: waiting + delayed + active, beingSent: active, delayed, deadLetters: failed }
      }),
    deadLetters: (limit) => reach(() => store.deadLetters({ limit })),
    retryDeadLetters: (ids) => reach(() => store.retryDeadLetters(ids)),
    purgeDeadLetters: (ids) => reach(() => store.purgeDeadLetters(ids)),
    close,
  }
}
