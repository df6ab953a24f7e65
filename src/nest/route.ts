/**
 * Routes as NestJS writes them (`'checkout'`, `'orders/:id/complete'`, with or without a leading
 * slash) turned into the full paths the middleware matches: Nest's global prefix in front, unless
 * `setGlobalPrefix()`'s `exclude` covers the route. RegExps are taken as full paths already.
 */
import type { RequestMethod } from '@nestjs/common'
import type { RoutePattern } from '../route-matcher'

/** What `ApplicationConfig` says about the global prefix (public API of `@nestjs/core`). */
export interface GlobalPrefix {
  getGlobalPrefix(): string
  getGlobalPrefixOptions(): { exclude?: readonly { pathRegex: RegExp; requestMethod: RequestMethod }[] }
}

/** Nest's `RequestMethod` numbers (stable since Nest 5): `ALL` is 5; `-1` also means all. */
const REQUEST_METHODS: Record<string, number> = {
  GET: 0,
  POST: 1,
  PUT: 2,
  DELETE: 3,
  PATCH: 4,
  ALL: 5,
  OPTIONS: 6,
  HEAD: 7,
  SEARCH: 8,
}

/** `'checkout'` → `'/checkout'`; `'/orders/'` → `'/orders'`. */
export function nestPath(route: string): string {
  const path = `/${route.replace(/^\/+/, '')}`
  return path.length > 1 ? path.replace(/\/+$/, '') : path
}

/** The full path of each route under the app's global prefix. */
export function prefixRoutes(
  routes: readonly RoutePattern[],
  methods: readonly string[],
  config: GlobalPrefix,
): RoutePattern[] {
  const prefix = nestPath(config.getGlobalPrefix() ?? '')
  const exclude = config.getGlobalPrefixOptions()?.exclude ?? []
  return routes.map((route) => {
    if (typeof route !== 'string') return route
    const path = nestPath(route)
    if (prefix === '/') return path
    const excluded = exclude.some(
      (rule) =>
        (rule.requestMethod === REQUEST_METHODS.ALL ||
          (rule.requestMethod as number) === -1 ||
          methods.some((m) => REQUEST_METHODS[m.toUpperCase()] === rule.requestMethod)) &&
        rule.pathRegex.test(path),
    )
    return excluded ? path : path === '/' ? prefix : `${prefix}${path}`
  })
}
