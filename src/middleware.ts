/**
 * The factory: validates the options and builds everything once (route matcher, HTTP client,
 * dispatcher, logger, hooks), then returns the middleware that wires a matched response to the
 * pipeline mapper → validation → dispatcher, entirely after the response.
 */
import type { NextFunction, Request, Response } from 'express'
import { createDispatcher, systemClock, type Clock, type CloseSummary, type DispatcherStats } from './dispatcher'
import { createHookRunner } from './hooks'
import { createHttpClient, type HttpClient } from './http-client'
import { createLogger } from './logger'
import { DEFAULTS, resolveOptions, type Options } from './options'
import { emailHash, toWirePayload, validateCustomer } from './payload'
import { hookResponse, type FinishedResponse } from './response-hook'
import { createRouteMatcher } from './route-matcher'
import { PACKAGE_NAME, PACKAGE_VERSION } from './version'

/** A snapshot of what the middleware has done since it was created. Cheap: poll it as often as you like. */
export interface TouchpointStats extends DispatcherStats {
  /** Watched responses that the handler ended (orders seen, successful or not). */
  received: number
  /** Orders whose mapper or validation is still running. */
  mapping: number
  /** Orders that produced no touchpoint by design, by reason (`duplicate` is counted in `deduped`). */
  skipped: { total: number; status: number; no_customer: number }
  /** Orders whose mapper threw, or whose customer failed validation. */
  invalid: number
}

/** Options of `close()`. */
export interface CloseOptions {
  /** How long to wait for pending touchpoints before abandoning them. Defaults to `10000`. */
  timeoutMs?: number
}

/** The middleware, with its lifecycle methods. */
export interface TouchpointMiddleware {
  (req: Request, res: Response, next: NextFunction): void
  /**
   * Stops accepting (orders that end after this are dropped with reason `closed`), waits up to
   * `timeoutMs` for everything pending, then cancels what is left (reported as `shutdown`) and
   * closes the connections. Never rejects; calling it again returns the same promise.
   */
  close(options?: CloseOptions): Promise<CloseSummary>
  /**
   * Resolves when everything received so far — being mapped, queued, in flight or waiting for a
   * retry — has settled. Concurrent callers wait for the same end. Never rejects.
   */
  flush(): Promise<void>
  /** A snapshot of the counters. */
  stats(): TouchpointStats
}

/** Replaceable parts, for tests and benchmarks. */
export interface TouchpointDeps {
  /** Sends one body; defaults to the package's axios client. */
  readonly send?: HttpClient
  readonly clock?: Clock
  readonly random?: () => number
}

const DEFAULT_CLOSE_TIMEOUT_MS = 10_000

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
  const logger = createLogger(settings.logger)
  const hooks = createHookRunner(settings.hooks, logger)
  const clock = deps.clock ?? systemClock
  const matches = createRouteMatcher(settings.routes, settings.methods)
  const client = createHttpClient({
    endpoint: settings.endpoint,
    apiKey: settings.apiKey,
    timeoutMs: settings.timeoutMs,
    userAgent: `${PACKAGE_NAME}/${PACKAGE_VERSION} (node ${process.version})`,
    maxSockets: settings.queue.concurrency,
  })
  const dryRunSend: HttpClient = (body) => {
    logger.info(
      { touchpoint: settings.logPersonalData ? JSON.parse(body) : '[redacted]' },
      'dry run: touchpoint not sent',
    )
    return Promise.resolve({ kind: 'response', status: 200 })
  }
  const dispatcher = createDispatcher(
    {
      concurrency: settings.queue.concurrency,
      maxSize: settings.queue.maxSize,
      retry: settings.retry,
      dedupe: settings.dedupe,
      logPersonalData: settings.logPersonalData,
    },
    {
      send: settings.dryRun ? dryRunSend : (deps.send ?? client.send),
      logger,
      hooks,
      clock,
      ...(deps.random ? { random: deps.random } : {}),
    },
  )
  const counts = { received: 0, invalid: 0 }
  const skipped = { total: 0, status: 0, no_customer: 0 }
  const mapping = new Set<Promise<void>>()
  let closing: Promise<CloseSummary> | undefined

  const skip = (reason: 'status' | 'no_customer', orderId: string | undefined, status?: number): void => {
    skipped.total++
    skipped[reason]++
    hooks.emit('onSkipped', () => (status === undefined ? { orderId, reason } : { orderId, reason, status }))
  }

  const invalid = (stage: 'mapper' | 'validation', orderId: string | undefined, reasons: string[]): void => {
    counts.invalid++
    hooks.emit('onInvalid', () => ({ orderId, stage, reasons }))
  }

  const handleFinished = async (req: Request, res: Response, finished: FinishedResponse): Promise<void> => {
    if (!settings.isSuccess(finished.statusCode)) {
      logger.debug({ status: finished.statusCode }, 'touchpoint skipped: response status is not a success')
      return skip('status', undefined, finished.statusCode)
    }
    let mapped: unknown
    try {
      mapped = await settings.mapper(req, res, finished.body)
    } catch (error) {
      const reason = describeError(error, settings.logPersonalData)
      logger.warn({ error: reason }, 'touchpoint not sent: the mapper threw')
      return invalid('mapper', undefined, [`mapper: ${reason}`])
    }
    if (mapped === null || mapped === undefined) {
      logger.debug('touchpoint skipped: the mapper returned nothing')
      return skip('no_customer', undefined)
    }
    const result = validateCustomer(mapped, settings.country)
    if (!result.ok) {
      const orderId = rawOrderId(mapped)
      logger.warn({ orderId, invalid: result.reasons }, 'touchpoint not sent: invalid customer')
      return invalid('validation', orderId, [...result.reasons])
    }
    const { customer } = result
    const touchpoint = {
      body: JSON.stringify(toWirePayload(customer)),
      orderId: customer.orderId,
    }
    if (result.dropped.length > 0) {
      logger.warn(
        { orderId: touchpoint.orderId, emailHash: emailHash(customer.email), dropped: result.dropped },
        'touchpoint sent without invalid optional fields',
      )
    }
    dispatcher.submit(touchpoint)
  }

  // The default mapper reads res.locals only: no need to watch what the handler sends.
  const captureBody = settings.mapper !== DEFAULTS.mapper

  const onOver = (req: Request, res: Response, finished: FinishedResponse): void => {
    counts.received++
    if (closing !== undefined) return dispatcher.dropClosed()
    // Pending from now on, so flush() and close() wait for it; the work itself runs on a later tick.
    let settle: () => void = () => undefined
    const work = new Promise<void>((resolve) => (settle = resolve))
    mapping.add(work)
    setImmediate(() => {
      handleFinished(req, res, finished)
        .catch((error: unknown) => {
          logger.error({ error: describeError(error, settings.logPersonalData) }, 'touchpoint pipeline failed')
        })
        .finally(() => {
          mapping.delete(work)
          settle()
        })
    })
  }

  const middleware = function transactionaleTouchpointMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (settings.enabled && matches(req.method, req.originalUrl ?? req.url)) {
      hookResponse(res, captureBody, (finished) => onOver(req, res, finished))
    }
    next()
  } as TouchpointMiddleware

  const flush = async (): Promise<void> => {
    // Mapping feeds the queue, so wait for it first, and again if more arrived meanwhile.
    do {
      while (mapping.size > 0) await Promise.all(mapping)
      await dispatcher.flush()
    } while (mapping.size > 0)
  }

  middleware.flush = flush
  middleware.close = (closeOptions = {}) => {
    closing ??= (async () => {
      const timeoutMs = validCloseTimeout(closeOptions.timeoutMs)
      let deadline: NodeJS.Timeout | undefined
      const expired = new Promise<void>((resolve) => (deadline = clock.setTimeout(resolve, timeoutMs)))
      await Promise.race([flush(), expired])
      if (deadline !== undefined) clock.clearTimeout(deadline)
      const pending = dispatcher.abandon()
      client.destroy()
      const stats = dispatcher.stats()
      return { sent: stats.sent, failed: stats.failed, dropped: stats.dropped.total - stats.dropped.shutdown, pending }
    })()
    return closing
  }
  middleware.stats = () => ({
    ...counts,
    mapping: mapping.size,
    skipped: { ...skipped },
    ...dispatcher.stats(),
  })
  return middleware
}

function validCloseTimeout(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : DEFAULT_CLOSE_TIMEOUT_MS
}

function rawOrderId(value: unknown): string | undefined {
  const id = (value as { orderId?: unknown }).orderId
  return typeof id === 'string' || typeof id === 'number' ? String(id).slice(0, 200) : undefined
}

/** An error's class name and code; its message only with `logPersonalData` (messages can quote customer data). */
function describeError(error: unknown, withMessage: boolean): string {
  if (!(error instanceof Error)) return `non-Error thrown (${typeof error})`
  const code = (error as { code?: unknown }).code
  const name = typeof code === 'string' ? `${error.name} (${code})` : error.name
  return withMessage ? `${name}: ${error.message}` : name
}
