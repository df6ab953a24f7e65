/**
 * Loads a dependency when it is first needed instead of when the package is imported, so that
 * `require('express-transactionale')` stays light (see docs/performance.md, cold start). Used at
 * factory time, never on a checkout's response path. `createRequire` works in both builds: the
 * ESM build gets `__filename` from tsup's shims. Resolving from this file finds the shop's copy
 * wherever our package is installed.
 */
import { createRequire } from 'node:module'

const load = createRequire(__filename)

/** `require(name)`, memoised by Node's module cache. */
export function loadDependency<T>(name: string): T {
  return load(name) as T
}

/** Where `name` resolves from this package, or `undefined` when it is not installed. */
export function resolveDependency(name: string): string | undefined {
  try {
    return load.resolve(name)
  } catch {
    return undefined
  }
}

/**
 * An optional peer dependency (bullmq, better-sqlite3, prom-client): `loader()` (by default a
 * `require` of `name`), or the message of what to do when it is missing or fails to load, handed to
 * `fail` to throw as the entry point's config error; `who` ("registerMetrics() ") begins it.
 */
export function loadOptionalPeer<T>(
  name: string,
  { who = '', install, fix, loader }: { who?: string; install: string; fix?: string; loader?: () => unknown },
  fail: (message: string) => Error,
): T {
  try {
    return (loader ?? ((): unknown => load(name)))() as T
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    throw fail(
      code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
        ? `${who}needs ${name}, an optional peer dependency that is not installed: run \`${install}\``
        : `${who}could not load ${name} (${error instanceof Error ? error.message : String(error)}): ${fix ?? `reinstall it with \`${install}\``}`,
    )
  }
}
