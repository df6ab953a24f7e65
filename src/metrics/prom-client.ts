/**
 * Loading prom-client, an optional peer dependency: only when metrics are registered, so neither the
 * main entry nor a shop without metrics ever needs it, and with an error that says how to fix it.
 */
import type * as PromClientModule from 'prom-client'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'
import { loadOptionalPeer } from '../load-dependency'

/** prom-client's module, as `require('prom-client')` returns it. */
export type PromClient = typeof PromClientModule

/**
 * prom-client, from beside this package: the shop's copy, whose global `register` the shop's own
 * `/metrics` route serves; or an `ERR_TOUCHPOINT_METRICS` config error saying how to install it.
 * Synchronous (a `require`), so that `registerMetrics` is not async.
 */
export function loadPromClient(loader?: () => unknown): PromClient {
  const loaded = loadOptionalPeer<unknown>(
    'prom-client',
    { who: 'registerMetrics() ', install: 'npm install prom-client', ...(loader === undefined ? {} : { loader }) },
    (message) => metricsError('metrics', message),
  )
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
