/**
 * The hint for a route that never matches: while no request has matched, a request on a path that
 * ends with a configured route (`/api/checkout` for `'/checkout'`: a router mounted at `/api`, a
 * NestJS global prefix) is watched, and once such a response succeeds the package warns, once,
 * naming the route the shop probably meant. Nothing runs for a request that matched, and nothing at
 * all once a request has matched or the warning is written.
 */
import type { Response } from 'express'
import type { match as compileMatch, MatchFunction } from 'path-to-regexp'
import { loadDependency } from './load-dependency'
import type { Log } from './logger'
import type { RoutePattern } from './route-matcher'

export interface RouteHint {
  /** Looks at a request that did not match (only while no request has matched). */
  missed(method: string | undefined, url: string | undefined, res: Response): void
  /** A request matched: the route works, stop looking. */
  matched(): void
}

interface Suffix {
  readonly route: string
  readonly match: MatchFunction<{ prefix?: string[] }>
}

/**
 * Builds the hint, or returns `undefined` when no pattern can have a near miss (RegExps say
 * themselves where they match). `onDone` is called once the hint has nothing left to do.
 */
export function createRouteHint(
  patterns: readonly RoutePattern[],
  methods: readonly string[],
  isSuccess: (statusCode: number) => boolean,
  log: Log,
  onDone: () => void,
): RouteHint | undefined {
  const suffixes: Suffix[] = []
  for (const route of patterns) {
    if (typeof route !== 'string' || route === '/') continue
    try {
      const match = loadDependency<{ match: typeof compileMatch }>('path-to-regexp').match
      suffixes.push({ route, match: match(`/*prefix${route}`, { end: true, trailing: true, sensitive: false }) })
    } catch {
      // The route itself compiled (options were validated); a suffix that does not is just not hinted.
    }
  }
  if (suffixes.length === 0) return undefined
  const methodSet = new Set(methods)
  let done = false
  const finish = (): void => {
    if (done) return
    done = true
    onDone()
  }

  return {
    matched: finish,
    missed(method, url, res) {
      if (done || method === undefined || url === undefined || !methodSet.has(method)) return
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      for (const suffix of suffixes) {
        const found = suffix.match(path)
        if (found === false) continue
        const meant = `/${(found.params.prefix ?? []).join('/')}${suffix.route}`
        res.once('finish', () => {
          if (done || !succeeded(isSuccess, res.statusCode)) return
          finish()
          log.write('routeNeverMatched', {
            route: suffix.route,
            method,
            path: path.slice(0, 200),
            status: res.statusCode,
            fix: `route: '${meant}' (the route is matched against the full path, req.originalUrl, with the prefixes of mounted routers and of NestJS's setGlobalPrefix(); TransactionaleModule from 'express-transactionale/nest' adds Nest's prefix itself)`,
          })
        })
        return
      }
    },
  }
}

function succeeded(isSuccess: (statusCode: number) => boolean, status: number): boolean {
  try {
    return isSuccess(status) === true
  } catch {
    return false
  }
}
