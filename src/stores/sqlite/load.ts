/**
 * Loading better-sqlite3 on demand (an optional peer dependency with a native module), refusing
 * the builds that crash the process, and the small error helpers every SQLite file shares.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../../errors'
import { loadOptionalPeer, resolveDependency } from '../../load-dependency'
import type { Clock } from '../../types'

/** better-sqlite3's module: its `Database` constructor. */
export type SqliteModule = typeof BetterSqlite3
export type Database = BetterSqlite3.Database

/** What opening a SQLite file depends on; tests pass their own. */
export interface SqliteDeps {
  /** Loads better-sqlite3. Defaults to requiring it from beside this package. */
  readonly load?: () => SqliteModule
  /** The outbox handle's clock (a store takes the middleware's at `open()`). Defaults to the system clock. */
  readonly clock?: Clock
}

/** The file better-sqlite3 loads from, for a thread to load the same; `undefined` if it does not resolve. */
export function betterSqlite3Path(): string | undefined {
  return resolveDependency('better-sqlite3')
}

/**
 * What is wrong with the better-sqlite3 installed in `packageDir` for this Node, before it is loaded
 * (both cases crash the process, which no error handler can catch), or `undefined`:
 * - **13 or newer on Node 20**: its Node-API build needs Node 22 (its `engines`) and segfaults on load.
 * - **12 or older compiled against the headers of Node ≥ 24.19**: that `node::ObjectWrap` removes an
 *   environment cleanup hook in its destructor and asserts that a JS context is entered; the
 *   garbage collector frees statements outside one, and the process aborts with
 *   `Assertion failed: (env) != nullptr` (nodejs/node#65446). Such a binary imports
 *   `RemoveEnvironmentCleanupHook`; one built against older headers does not, and 13 never does.
 */
export function sqliteBuildProblem(
  packageDir: string,
  nodeVersion: string = process.versions.node,
): string | undefined {
  const version = readBytes(join(packageDir, 'package.json'))
    ?.toString('utf8')
    .match(/"version"\s*:\s*"(\d+)\./)?.[1]
  if (version === undefined) return undefined
  const major = Number(version)
  const nodeMajor = Number(nodeVersion.split('.')[0])
  if (major >= 13 && nodeMajor < 22) {
    return `better-sqlite3 ${major} needs Node 22 or newer (this is Node ${nodeVersion}): on Node 20 install better-sqlite3 12 with \`npm install better-sqlite3@12\``
  }
  if (major <= 12) {
    const binary = readBytes(join(packageDir, 'build', 'Release', 'better_sqlite3.node'))
    if (binary?.includes('RemoveEnvironmentCleanupHook')) {
      return `better-sqlite3 ${major} compiled for Node 24.19 or newer aborts the process when the garbage collector frees a statement (nodejs/node#65446): install better-sqlite3 13 with \`npm install better-sqlite3@13\` (Node 22 or newer)`
    }
  }
  return undefined
}

function readBytes(file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

/** The check of the installed better-sqlite3, made once per process (it reads its binary, megabytes). */
let installedProblem: { readonly problem: string | undefined } | undefined

/** better-sqlite3, or a {@link TouchpointConfigError} that says how to install or rebuild it. */
export function loadSqlite(deps: SqliteDeps, option: string): SqliteModule {
  if (deps.load === undefined) {
    if (installedProblem === undefined) {
      const manifest = resolveDependency('better-sqlite3/package.json')
      installedProblem = { problem: manifest === undefined ? undefined : sqliteBuildProblem(dirname(manifest)) }
    }
    if (installedProblem.problem !== undefined) throw storeConfigError(option, installedProblem.problem)
  }
  return loadOptionalPeer<SqliteModule>(
    'better-sqlite3',
    {
      install: 'npm install better-sqlite3',
      fix: 'rebuild it for this Node version with `npm rebuild better-sqlite3`, or reinstall it with `npm install better-sqlite3`',
      ...(deps.load === undefined ? {} : { loader: deps.load }),
    },
    (message) => storeConfigError(option, message),
  )
}

export function storeConfigError(option: string, message: string): TouchpointConfigError {
  return new TouchpointConfigError([{ option, code: CONFIG_ERROR_CODES.store, message }])
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * True for "another connection holds the lock": SQLITE_BUSY and its extended codes (better-sqlite3
 * names them `SQLITE_BUSY_SNAPSHOT`, `SQLITE_BUSY_RECOVERY`, …), and SQLITE_LOCKED.
 */
export function isBusy(error: unknown): boolean {
  const code = codeOf(error)
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

/** The error an operation rejects with: it names the store, and carries SQLite's code. */
export function storeError(what: string, cause: unknown): Error & { code: string } {
  const error = new Error(`express-transactionale: the sqlite store could not ${what}: ${messageOf(cause)}`, {
    cause,
  }) as Error & { code: string; sqliteCode?: string }
  error.name = 'TouchpointStoreError'
  error.code = 'ERR_TOUCHPOINT_STORE'
  const code = codeOf(cause)
  if (code !== undefined) error.sqliteCode = code
  return error
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `"${value}"`
  if (typeof value === 'number') return String(value)
  return typeof value
}
