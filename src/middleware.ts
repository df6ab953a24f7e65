/**
 * The factory: validates the options and builds every part once (route matcher, HTTP client,
 * store, engine, ledger, pipeline), then returns the middleware that hands each matched response to
 * the pipeline — entirely after the response — and the lifecycle methods hung on it.
 */
import type { NextFunction, Request, Response } from 'express'
import { assembleDelivery, closeTimeout, type CloseSummary, type DeliveryDeps } from './delivery/assemble'
import type { LedgerCounts } from './ledger'
import { DEFAULTS, resolveOptions, type MapperResult, type Options } from './options'
import { OBSERVE, type Observer } from './observe'
import { createPipeline } from './pipeline'
import { createResponseHook } from './response-hook'
import { createRouteHint, type RouteHint } from './route-hint'
import { createRouteMatcher } from './route-matcher'
import { memoryStore } from './stores/memory-store'
import { countsOf } from './stores/contracts'
import type { OutageState } from './delivery/outage'
import { raceDeadline } from './deadline'

export type { CloseSummary } from './delivery/assemble'

/**
 * A snapshot of what the middleware has done since it was created. Cheap: poll it as often as you
 * like. At every moment, `received = skipped.total + invalid + deduped + sent + failed +
 * dropped.total + dryRun + mapping + queued + inFlight` (with the memory store; a durable store also
 * delivers what earlier runs or other processes stored).
 */
export interface TouchpointStats extends LedgerCounts {
  /** Orders whose mapper or validation is still running. */
  mapping: number
  /**
   * This process's touchpoints waiting to be sent: being stored and, with the memory store, queued or
   * waiting for a retry. Once a durable store holds one, it counts in `store.waiting` instead.
   */
  queued: number
  /** HTTP attempts under way. */
  inFlight: number
  /** `open` (full concurrency), `paused` (waiting after a failure) or `probing` (one request at a time). */
  state: OutageState
  /** Requests allowed in flight now: the concurrency limit as the outage state allows it (0 while paused, 1 while probing). */
  limit: number
  /** What the store holds: waiting touchpoints (of any process, for a shared durable store) and dead letters. */
  store: { kind: string; waiting: number; deadLetters: number }
}

/** Options of `close()`. */
export interface CloseOptions {
  /** How long to wait for pending touchpoints before abandoning (or, in a durable store, leaving) them. Defaults to `10000`. */
  timeoutMs?: number
}

/** Options of `flush()`. */
export interface FlushOptions {
  /**
   * Resolve by this deadline (milliseconds) whatever the API does — slow, down or hanging — with what
   * is still pending in the result; the pending touchpoints carry on in the background. Defaults to
   * none: wait until everything has settled.
   */
  timeoutMs?: number
}

/** What `flush()` reports when it resolves. */
export interface FlushResult {
  /**
   * This process's touchpoints not settled yet: being mapped, stored, queued, waiting for a retry or
   * in flight. `0` when everything settled; more only when `timeoutMs` passed first.
   */
  readonly pending: number
}

/** The middleware, with its lifecycle methods. */
export interface TouchpointMiddleware {
  (req: Request, res: Response, next: NextFunction): void
  /**
   * Stops accepting (orders that end after this are dropped with reason `closed`), waits up to
   * `timeoutMs` for everything pending, then — memory store — cancels what is left (reported as
   * `shutdown`) or — durable store — leaves it stored for the next start (`persisted`), and closes
   * the connections and the store. Never rejects; calling it again returns the same promise.
   */
  close(options?: CloseOptions): Promise<CloseSummary>
  /**
   * Resolves when everything received so far — being mapped, stored, queued, in flight or waiting
   * for a retry — has settled and the store has recorded each outcome, or when `timeoutMs` has
   * passed, whichever comes first; the result says how many are still pending. Concurrent callers
   * wait for the same end. Never rejects. On AWS Lambda, await `flush({ timeoutMs })` before the
   * handler returns (see docs/guide/serverless.md).
   */
  flush(options?: FlushOptions): Promise<FlushResult>
  /** A snapshot of the counters. */
  stats(): TouchpointStats
  /** Attaches an instrument to every HTTP attempt (used by `express-transactionale/metrics`); returns a detach function. */
  [OBSERVE](observer: Observer): () => void
}

/** Replaceable parts, for tests and benchmarks: the HTTP client, the clock, the backoff's randomness. */
export type TouchpointDeps = DeliveryDeps

const EXIT_ORDER_IDS = 100

/**
 * Creates the Express middleware that sends a Transactionale mail touchpoint for every completed
 * order, in the background, after the checkout response has been sent.
 *
 * @throws {TouchpointConfigError} when the options are wrong (every problem listed at once).
 * @example
 * app.use(transactionaleTouchpoint({ apiKey: process.env.TRANSACTIONALE_API_KEY!, route: '/checkout' }))
 */
export function transactionaleTouchpoint<R extends MapperResult = MapperResult>(
  options: Options<R>,
  deps: TouchpointDeps = {},
): TouchpointMiddleware {
  const settings = resolveOptions(options)
  const matches = createRouteMatcher(settings.route, settings.methods)
  const store = settings.store ?? memoryStore()
  const { log, clock, ledger, engine, observers, shutdown } = assembleDelivery(settings, store, deps)
  const pipeline = createPipeline(settings, { engine, ledger, log, clock, durable: store.durable })
  let closing: Promise<CloseSummary> | undefined

  // The default mapper reads res.locals only: no need to watch what the handler sends.
  const captureBody = settings.mapper !== DEFAULTS.mapper
  // Built once: the request is the response's `req` (Node and Express both set it).
  const hook = createResponseHook(captureBody, (res, finished) => {
    if (closing === undefined) return pipeline.accept(res.req, res, finished)
    ledger.received()
    ledger.dropped('closed', undefined)
  })

  // Until a request matches, requests that did not are looked at for a route written without its prefix.
  let hint: RouteHint | undefined = createRouteHint(settings.route, settings.methods, settings.isSuccess, log, () => {
    hint = undefined
  })

  const middleware = function transactionaleTouchpointMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (settings.enabled) {
      const url = req.originalUrl ?? req.url
      if (matches(req.method, url)) {
        hook(res)
        hint?.matched()
      } else {
        hint?.missed(req.method, url, res)
      }
    }
    next()
  } as TouchpointMiddleware

  const drain = async (): Promise<void> => {
    // The pipeline feeds the engine, so wait for it first, and again if more arrived meanwhile.
    do {
      await pipeline.settled()
      await engine.flush()
    } while (pipeline.mapping > 0)
  }

  const pending = (): number => {
    const s = engine.stats()
    return pipeline.mapping + s.queued + s.inFlight
  }

  const flush = async (flushOptions: FlushOptions = {}): Promise<FlushResult> => {
    const { timeoutMs } = flushOptions
    if (timeoutMs === undefined) {
      await drain()
      return { pending: pending() }
    }
    await raceDeadline(drain(), closeTimeout(timeoutMs, 0), clock)
    return { pending: pending() }
  }

  const stats = (): TouchpointStats => {
    const counts = countsOf(store)
    return {
      ...ledger.counts(),
      mapping: pipeline.mapping,
      ...engine.stats(),
      store: { kind: store.kind, waiting: counts.waiting, deadLetters: counts.deadLetters },
    }
  }

  const onExit = (): void => {
    const s = stats()
    // A durable store keeps what it stored; only what never reached it is lost.
    const pending = store.durable ? s.mapping : s.mapping + s.queued + s.inFlight
    if (pending === 0) return
    log.write('exitPending', {
      pending,
      orderIds: store.durable ? [] : engine.pendingOrderIds(EXIT_ORDER_IDS),
      fix: 'await touchpoint.close() before process.exit()',
    })
  }
  liveMiddlewares.add(onExit)
  if (liveMiddlewares.size === 1) process.on('exit', onProcessExit)

  middleware.flush = flush
  middleware.close = (closeOptions = {}) => {
    closing ??= (async () => {
      // A durable store keeps what waits: wait only for what is being mapped, stored or sent.
      const settled = store.durable ? pipeline.settled().then(() => engine.settleInFlight()) : drain()
      const summary = await shutdown(closeTimeout(closeOptions.timeoutMs), settled)
      liveMiddlewares.delete(onExit)
      if (liveMiddlewares.size === 0) process.off('exit', onProcessExit)
      return summary
    })()
    return closing
  }
  middleware.stats = stats
  middleware[OBSERVE] = (observer) => observers.add(observer)
  return middleware
}

/** One 'exit' listener for all middlewares, however many a process creates. */
const liveMiddlewares = new Set<() => void>()
function onProcessExit(): void {
  for (const warn of liveMiddlewares) warn()
}
