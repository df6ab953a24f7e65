/**
 * Loads a dependency when it is first needed instead of when the package is imported, so that
 * `require('express-transactionale')` stays light (see docs/performance.md, cold start). Used at
 * factory time, never on a checkout's response path. `createRequire` works in both builds: the
 * ESM build gets `__filename` from tsup's shims.
 */
import { createRequire } from 'node:module'

const load = createRequire(__filename)

/** `require(name)`, memoised by Node's module cache. */
export function loadDependency<T>(name: string): T {
  return load(name) as T
}
