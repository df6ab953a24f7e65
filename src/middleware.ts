/**
 * The factory: validates the options and builds every part once (route matcher, HTTP client,
 * store, pump, ledger, pipeline), then returns the middleware that hands each matched response to
 * the pipeline — entirely after the response — and the lifecycle methods hung on it.
 */
import type { NextFunction, Request, Response } from 'express'
import { createPump } from './delivery/pump'
import { createHttpClient, type HttpClient } from './http-client'
import { createLedger, type LedgerCounts } from './ledger'
import { createLog } from './logger'
import { DEFAULTS, resolveOptions, type Options } from './options'
import { createObservers, OBSERVE, type Observer } from './observe'
import { createPipeline } from './pipeline'
import { hookResponse } from './response-hook'
import { createRouteMatcher } from './route-matcher'
import { memoryStore } from './stores/memory-store'
import { clampDelay, systemClock, type Clock } from './types'
import { PACKAGE_NAME, PACKAGE_VERSION } from './version'
import type { OutageState } from './delivery/outage'

/**
 * A snapshot of what the middleware has done since it was created. Cheap: poll it as often as you
 * like. At every moment, `received = skipped.total + invalid + deduped + sent + failed +
 * dropped.total + dryRun + mapping + queued + inFlight` (with the memory store; a durable store also
 * delivers what earlier runs or other processes stored).
 */
export interface TouchpointStats extends LedgerCounts {
  /** Orders whose mapper or validation is still running. */
  mapping: number
  /** This process's touchpoints waiting to be sent (being stored, queued, or waiting for a retry). */
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

/** What `close()` reports. */
export interface CloseSummary {
  /** Delivered, over the middleware's life. */
  readonly sent: number
  /** Failed for good, over the middleware's life. */
  readonly failed: number
  /** Dropped: the queue was full, the store failed, or they arrived after `close()` (not counting `pending`). */
  readonly dropped: number
  /** Memory store: still pending at the deadline, abandoned (passed to `onDropped` with reason `shutdown`). */
  readonly pending: number
  /** Durable store: left in the store, delivered at the next start (no `onDropped`). */
  readonly persisted: number
}

/** Options of `close()`. */
export interface CloseOptions {
  /** How long to wait for pending touchpoints before abandoning (or, in a durable store, leaving) them. Defaults to `10000`. */
  timeoutMs?: number
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
   * for a retry — has settled. Concurrent callers wait for the same end. Never rejects.
   */
  flush(): Promise<void>
  /** A snapshot of the counters. */
  stats(): TouchpointStats
  /** Attaches an instrument to every HTTP attempt (used by `express-transactionale/metrics`); returns a detach function. */
  [OBSERVE](observer: Observer): () => void
}

/** Replaceable parts, for tests and benchmarks. */
export interface TouchpointDeps {
  /** Sends one body; defaults to the package's axios client. */
  readonly send?: HttpClient
  readonly clock?: Clock
  readonly random?: () => number
}

const DEFAULT_CLOSE_TIMEOUT_MS = 10_000
const EXIT_ORDER_IDS = 100

/**
 * Creates the Express middleware that sends a Transactionale mail touchpoint for every completed
 * order, in the background, after the checkout response has been sent.
 *
 * @throws {TouchpointConfigError} when the options are wrong (every problem listed at once).
 * @example
 * app.use(transactionaleTouchpoint({ apiKey: process.env.TRANSACTIONALE_API_KEY!, route: '/checkout' }))
 */
export function transactionaleTouchpoint(options: Options, deps: TouchpointDeps = {}): TouchpointMiddleware {
  const settings = resolveOptions(options)
  const log = createLog(settings.logger)
  const clock = deps.clock ?? systemClock
  const matches = createRouteMatcher(settings.route, settings.methods)
  const store = settings.store ?? memoryStore()
  const client = createHttpClient({
    endpoint: settings.endpoint,
    apiKey: settings.apiKey,
    timeoutMs: settings.timeoutMs,
    userAgent: `${PACKAGE_NAME}/${PACKAGE_VERSION} (node ${process.version})`,
    // The socket pool follows the most requests that may be in flight.
    maxSockets: settings.queue.concurrency === 'auto' ? settings.queue.maxConcurrency : settings.queue.concurrency,
  })
  const ledger = createLedger(
    { logPersonalData: settings.logPersonalData, hashKey: settings.apiKey, maxSize: settings.queue.maxSize },
    settings.hooks,
    log,
    clock,
  )
  // Opening recovers what a durable store holds; the pump starts once it is open.
  const opened = store.open({
    maxSize: settings.queue.maxSize,
    dedupeWindowMs: settings.dedupe.windowMs,
    dedupeMaxEntries: settings.dedupe.maxEntries,
    // A claim outlives any attempt: the deadline of one attempt, with a wide margin.
    leaseMs: Math.max(60_000, settings.timeoutMs * 3),
    clock,
    logger: log.logger,
  })
  const observers = createObservers()
  const pump = createPump(
    {
      concurrency: settings.queue.concurrency,
      maxConcurrency: settings.queue.maxConcurrency,
      retry: settings.retry,
    },
    {
      store,
      opened,
      send: deps.send ?? client.send,
      ledger,
      log,
      clock,
      random: deps.random ?? Math.random,
      observers,
    },
  )
  const pipeline = createPipeline(settings, { pump, ledger, log, clock, durable: store.durable })
  let closing: Promise<CloseSummary> | undefined

  // The default mapper reads res.locals only: no need to watch what the handler sends.
  const captureBody = settings.mapper !== DEFAULTS.mapper

  const middleware = function transactionaleTouchpointMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (settings.enabled && matches(req.method, req.originalUrl ?? req.url)) {
      hookResponse(res, captureBody, (finished) => {
        if (closing === undefined) return pipeline.accept(req, res, finished)
        ledger.received()
        ledger.dropped('closed', undefined)
      })
    }
    next()
  } as TouchpointMiddleware

  const flush = async (): Promise<void> => {
    // The pipeline feeds the pump, so wait for it first, and again if more arrived meanwhile.
    do {
      await pipeline.settled()
      await pump.flush()
    } while (pipeline.mapping > 0)
  }

  const stats = (): TouchpointStats => {
    const counts = store.counts()
    return {
      ...ledger.counts(),
      mapping: pipeline.mapping,
      ...pump.stats(),
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
      orderIds: store.durable ? [] : pump.pendingOrderIds(EXIT_ORDER_IDS),
      fix: 'await touchpoint.close() before process.exit()',
    })
  }
  liveMiddlewares.add(onExit)
  if (liveMiddlewares.size === 1) process.on('exit', onProcessExit)

  middleware.flush = flush
  middleware.close = (closeOptions = {}) => {
    closing ??= (async () => {
      const timeoutMs = validCloseTimeout(closeOptions.timeoutMs)
      let deadline: NodeJS.Timeout | undefined
      const expired = new Promise<void>((resolve) => (deadline = clock.setTimeout(resolve, clampDelay(timeoutMs))))
      // A durable store keeps what waits: wait only for what is being mapped, stored or sent.
      const settled = store.durable ? pipeline.settled().then(() => pump.settleInFlight()) : flush()
      await Promise.race([settled, expired])
      if (deadline !== undefined) clock.clearTimeout(deadline)
      const left = await pump.stop()
      client.destroy()
      await store.close().catch(() => undefined)
      liveMiddlewares.delete(onExit)
      if (liveMiddlewares.size === 0) process.off('exit', onProcessExit)
      if (left.persisted > 0) log.write('persisted', { persisted: left.persisted })
      const c = ledger.counts()
      return {
        sent: c.sent,
        failed: c.failed,
        dropped: c.dropped.total - c.dropped.shutdown,
        pending: left.abandoned,
        persisted: left.persisted,
      }
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

function validCloseTimeout(value: unknown): number {
  return typeof value === 'number' && value >= 0 && !Number.isNaN(value) ? value : DEFAULT_CLOSE_TIMEOUT_MS
}
