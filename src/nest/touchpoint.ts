/**
 * What `TRANSACTIONALE_TOUCHPOINT` gives: the touchpoint of a NestJS app (`stats()`, `flush()`,
 * `close()` for health checks and shutdown) and its Express middleware, built when the app
 * initialises — after `setGlobalPrefix()`, so its routes carry the prefix.
 */
import { Logger } from '@nestjs/common'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'
import { isPinoCompatible, type TouchpointLogger } from '../logger'
import { loggerFrom, type ForeignLogger } from '../logger-from'
import {
  transactionaleTouchpoint,
  type CloseOptions,
  type CloseSummary,
  type FlushOptions,
  type FlushResult,
  type TouchpointDeps,
  type TouchpointMiddleware,
  type TouchpointStats,
} from '../middleware'
import { DEFAULTS, resolveOptions, type MapperResult, type Options } from '../options'
import type { RoutePattern } from '../route-matcher'
import { nestPath, prefixRoutes, type GlobalPrefix } from './route'

/** Nest's `RequestMethod.ALL` (stable since Nest 5). */
const ALL_METHODS = 5

/** A route of `forRoutes()`, as `MiddlewareConsumer.forRoutes()` takes it. */
export type NestRouteSelector = string | { path: string; method: number } | (abstract new (...args: never[]) => unknown)

/** Options of `TransactionaleModule.forRoot()` (and what `forRootAsync()`'s factory returns). */
export interface TransactionaleModuleOptions<R extends MapperResult = MapperResult> extends Omit<
  Options<R>,
  'route' | 'logger'
> {
  /**
   * The order-completion route(s) as the controller writes them: `'checkout'`, `'orders/:id/complete'`
   * (a controller's path and the method's path joined). The app's global prefix
   * (`app.setGlobalPrefix('api')`) is added, unless its `exclude` covers the route. A RegExp is
   * matched against the full path as it is. Required.
   */
  route: RoutePattern | readonly RoutePattern[]
  /**
   * A pino logger, or NestJS's `Logger` / any `LoggerService`, winston, bunyan or `console` (adapted
   * by `loggerFrom()`). Defaults to `new Logger('Transactionale')`: the app's logger.
   */
  logger?: TouchpointLogger | ForeignLogger
  /**
   * Where the middleware runs, as `MiddlewareConsumer.forRoutes()` takes it (paths without the global
   * prefix, controllers, `{ path, method }`). Defaults to the routes of `route` (so other requests
   * never meet the middleware); required when `route` has a RegExp.
   */
  forRoutes?: readonly NestRouteSelector[]
  /** Replaceable parts, for tests (the HTTP client, the clock). Defaults to none. */
  deps?: TouchpointDeps
}

/** The touchpoint of a NestJS app: inject it with `@Inject(TRANSACTIONALE_TOUCHPOINT)`. */
export class TransactionaleTouchpoint {
  private built: TouchpointMiddleware | undefined

  constructor(
    private readonly options: TransactionaleModuleOptions,
    private readonly config: GlobalPrefix,
  ) {
    // Configuration errors surface when the app is created, not at its first request.
    resolveOptions(this.optionsFor(this.routes().map((r) => (typeof r === 'string' ? nestPath(r) : r))))
    if (options.forRoutes === undefined && this.routes().some((route) => typeof route !== 'string')) {
      throw new TouchpointConfigError([
        {
          option: 'route',
          code: CONFIG_ERROR_CODES.route,
          message:
            'a RegExp route needs forRoutes in TransactionaleModule (where the middleware runs, e.g. forRoutes: [OrdersController])',
        },
      ])
    }
  }

  /** The Express middleware (built on first use, normally when the app initialises). */
  get middleware(): TouchpointMiddleware {
    if (this.built === undefined) {
      const methods = this.options.methods ?? DEFAULTS.methods
      this.built = transactionaleTouchpoint(
        this.optionsFor(prefixRoutes(this.routes(), methods, this.config)),
        this.options.deps ?? {},
      )
    }
    return this.built
  }

  /** Where the middleware runs (see `forRoutes`). */
  get forRoutes(): readonly NestRouteSelector[] {
    // Nest adds the global prefix to these itself, with the same exclusions as prefixRoutes().
    return this.options.forRoutes ?? this.routes().map((route) => ({ path: route as string, method: ALL_METHODS }))
  }

  /** A snapshot of the counters (see the middleware's `stats()`). */
  stats(): TouchpointStats {
    return this.middleware.stats()
  }

  /** Waits for what is pending, at most `timeoutMs` (see the middleware's `flush()`). */
  flush(options?: FlushOptions): Promise<FlushResult> {
    return this.middleware.flush(options)
  }

  /** Delivers what is pending, then closes (see the middleware's `close()`); the module calls it at shutdown. */
  close(options?: CloseOptions): Promise<CloseSummary> {
    return this.middleware.close(options)
  }

  private routes(): RoutePattern[] {
    return ([] as RoutePattern[]).concat(this.options.route)
  }

  private optionsFor(route: RoutePattern | RoutePattern[]): Options {
    const { forRoutes: _forRoutes, deps: _deps, logger, ...rest } = this.options
    return {
      ...(rest as Omit<Options, 'route' | 'logger'>),
      route,
      logger: logger === undefined ? loggerFrom(new Logger('Transactionale')) : adaptLogger(logger),
    }
  }
}

function adaptLogger(logger: TouchpointLogger | ForeignLogger): TouchpointLogger {
  return isPinoCompatible(logger) ? logger : loggerFrom(logger)
}
