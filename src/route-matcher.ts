/**
 * Route matching, compiled once: decides from the method and the full path (`req.originalUrl`
 * without the query, so mounted routers work) whether a request is an order completion.
 */
import type { pathToRegexp } from 'path-to-regexp'
import { loadDependency } from './load-dependency'

/** An Express-style path (`'/orders/:id/complete'`, path-to-regexp 8 syntax, as in Express 5), or a RegExp. */
export type RoutePattern = string | RegExp

/** Returns true when the request is one whose response should produce a touchpoint. */
export type RouteMatcher = (method: string | undefined, url: string | undefined) => boolean

/**
 * Compiles a route pattern to a RegExp tested against the path. Throws (a path-to-regexp
 * `PathError` or a TypeError) with a readable message when the pattern is malformed.
 */
export function compileRoute(pattern: RoutePattern): RegExp {
  if (pattern instanceof RegExp) {
    // A global or sticky RegExp keeps state between calls (lastIndex): strip those flags.
    return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
  }
  if (!pattern.startsWith('/')) throw new TypeError(`a path must start with "/" (got "${pattern}")`)
  const compile = loadDependency<{ pathToRegexp: typeof pathToRegexp }>('path-to-regexp').pathToRegexp
  return compile(pattern, { end: true, trailing: true, sensitive: false }).regexp
}

/** Builds the matcher for already validated patterns and upper-cased methods. */
export function createRouteMatcher(patterns: readonly RoutePattern[], methods: readonly string[]): RouteMatcher {
  const regexps = patterns.map(compileRoute)
  const methodSet = new Set(methods)
  const single = regexps.length === 1 ? regexps[0] : undefined
  return (method, url) => {
    if (method === undefined || url === undefined || !methodSet.has(method)) return false
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (single !== undefined) return single.test(path)
    for (const re of regexps) if (re.test(path)) return true
    return false
  }
}
