/**
 * The options of `sqliteStore()`: the type with each option's meaning and default, the defaults in
 * one constant, and one option table (a typed parser per option, checked by the compiler against
 * the type) from which the known names and the resolved type follow.
 */
import { CONFIG_ERROR_CODES } from '../../errors'
import { parseOptions, spec, type OptionSpec } from '../../option-parser'
import { parseDatabasePath } from './file'
import { describe } from './load'

/** Options of `sqliteStore()`. */
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
   * that died is sent by another (or by the next start) after it — at once when that process ran on
   * this machine. Must be longer than one HTTP attempt can take. Defaults to the middleware's lease
   * (three request timeouts, at least a minute).
   */
  readonly leaseMs?: number
}

/** The defaults of {@link SqliteStoreOptions}. */
export const SQLITE_STORE_DEFAULTS = {
  retentionMs: 7 * 86_400_000,
  durability: 'process',
} as const satisfies Partial<Record<keyof SqliteStoreOptions, unknown>>

export interface ResolvedSqliteOptions {
  readonly path: string
  readonly retentionMs: number
  readonly durability: 'process' | 'power'
  readonly leaseMs: number | undefined
}

const MAX_RETENTION_MS = 10 * 365 * 86_400_000
const LEASE_BOUNDS_MS = [1000, 86_400_000] as const

/** One typed parser per option, with its default as the docs show it; the compiler checks the table against the type. */
export const SQLITE_OPTION_TABLE = {
  path: spec('— (required)', (value, report) => parseDatabasePath(value, (message) => report(message))),
  retentionMs: spec('`604800000` (7 days)', (value = SQLITE_STORE_DEFAULTS.retentionMs, report): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_RETENTION_MS) {
      report(`must be a whole number of ms from 0 to ${MAX_RETENTION_MS} (got ${describe(value)})`)
      return SQLITE_STORE_DEFAULTS.retentionMs
    }
    return value
  }),
  durability: spec("`'process'`", (value = SQLITE_STORE_DEFAULTS.durability, report): 'process' | 'power' => {
    if (value !== 'process' && value !== 'power') {
      report(`must be 'process' or 'power' (got ${describe(value)})`)
      return SQLITE_STORE_DEFAULTS.durability
    }
    return value
  }),
  leaseMs: spec('three request timeouts, at least 60 s', (value, report): number | undefined => {
    if (value === undefined) return undefined
    const [min, max] = LEASE_BOUNDS_MS
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      report(`must be a whole number of ms from ${min} to ${max} (got ${describe(value)})`)
      return undefined
    }
    return value
  }),
} as const satisfies { readonly [K in keyof SqliteStoreOptions]-?: OptionSpec<ResolvedSqliteOptions[K]> }

/** Every problem at once, as one {@link TouchpointConfigError} (`ERR_TOUCHPOINT_STORE`). */
export function resolveSqliteOptions(input: unknown): ResolvedSqliteOptions {
  return parseOptions(input, SQLITE_OPTION_TABLE, {
    notAnObject: "needs its options, like sqliteStore({ path: './var/transactionale.db' })",
    code: () => CONFIG_ERROR_CODES.store,
    path: (path) => (path === 'options' ? 'sqliteStore' : `sqliteStore.${path}`),
  })
}
