/**
 * Loading prom-client, an optional peer dependency: only when metrics are registered, so neither the
 * main entry nor a shop without metrics ever needs it, and with an error that says how to fix it.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type * as PromClientModule from 'prom-client'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'

/** prom-client's module, as `require('prom-client')` returns it. */
export type PromClient = typeof PromClientModule

/**
 * Requires prom-client at call time. `createRequire` works in both builds (a bare `require` does not
 * exist in the ESM build, and `import()` would make `registerMetrics` async): the CJS build has
 * `__filename`, and tsup's shims give the ESM build one from `import.meta.url`. Resolving from this
 * file finds the shop's copy wherever our package is installed — the copy whose global `register`
 * the shop's own `/metrics` route serves.
 */
export function requirePromClient(): PromClient {
  const from = typeof __filename === 'string' ? __filename : join(process.cwd(), 'index.js')
  return createRequire(from)('prom-client') as PromClient
}

/** Runs `load`, turning a missing or unusable prom-client into an `ERR_TOUCHPOINT_METRICS` config error. */
export function loadPromClient(load: () => unknown): PromClient {
  let loaded: unknown
  try {
    loaded = load()
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
    throw metricsError(
      'metrics',
      missing
        ? 'registerMetrics() needs prom-client, an optional peer dependency that is not installed: run `npm install prom-client`'
        : `could not load prom-client (${error instanceof Error ? error.message : String(error)}): reinstall it with \`npm install prom-client\``,
    )
  }
  if (!isPromClient(loaded))
    throw metricsError(
      'metrics',
      'the installed prom-client has no Counter, Gauge, Histogram and register: install a supported version with `npm install prom-client@^15`',
    )
  return loaded
}

/** The one error this entry point throws: `TouchpointConfigError` with code `ERR_TOUCHPOINT_METRICS`. */
export function metricsError(option: string, message: string): TouchpointConfigError {
  return new TouchpointConfigError([{ option, code: CONFIG_ERROR_CODES.metrics, message }])
}

function isPromClient(value: unknown): value is PromClient {
  if (typeof value !== 'object' || value === null) return false
  const m = value as Record<string, unknown>
  return (
    typeof m.Counter === 'function' &&
    typeof m.Gauge === 'function' &&
    typeof m.Histogram === 'function' &&
    typeof m.register === 'object' &&
    m.register !== null
  )
}
