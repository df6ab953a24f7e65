/**
 * The factory: validates the options and builds everything once (route matcher, HTTP client,
 * dispatcher, logger), then returns the middleware that wires a matched response to the pipeline
 * mapper → validation → dispatcher, entirely after the response.
 */
import type { NextFunction, Request, Response } from 'express'
import { createDispatcher, type CloseSummary, type DispatcherStats } from './dispatcher'
import { createHttpClient } from './http-client'
import { createLogger, orderLogFields } from './logger'
import { resolveOptions, type Options } from './options'
import { toWirePayload, validateCustomer } from './payload'
import { hookResponse, type FinishedResponse } from './response-hook'
import { createRouteMatcher } from './route-matcher'
import { PACKAGE_NAME, PACKAGE_VERSION } from './version'

/** A snapshot of what the middleware has done since it was created. */
export interface TouchpointStats extends DispatcherStats {
  /** Matched responses with a success status (orders seen). */
  received: number
  /** Orders the mapper returned nothing for, or whose response status was not a success. */
  skipped: number
  /** Orders whose mapper threw, or whose customer failed validation. */
  invalid: number
}

/** The middleware, with its lifecycle methods. */
export interface TouchpointMiddleware {
  (req: Request, res: Response, next: NextFunction): void
  /**
   * Stops taking new touchpoints and waits for every pending one (mapping or in flight) to settle.
   * Never rejects; safe to call twice.
   */
  close(): Promise<CloseSummary>
  /** Resolves when every touchpoint received so far has settled. Never rejects. */
  flush(): Promise<void>
  /** A snapshot of the counters. */
  stats(): TouchpointStats
}

/**
 * Creates the Express middleware that sends a Transactionale mail touchpoint for every completed
 * order, in the background, after the checkout response has been sent.
 *
 * @throws {TouchpointConfigError} when the options are wrong (every problem listed at once).
 * @example
 * app.use(transactionaleTouchpoint({ apiKey: process.env.TRANSACTIONALE_API_KEY!, route: '/checkout' }))
 */
export function transactionaleTouchpoint(options: Options): TouchpointMiddleware {
  const settings = resolveOptions(options)
  const logger = createLogger(settings.logger)
  const matches = createRouteMatcher(settings.routes, settings.methods)
  const client = createHttpClient({
    endpoint: settings.endpoint,
    apiKey: settings.apiKey,
    timeoutMs: settings.timeoutMs,
    userAgent: `${PACKAGE_NAME}/${PACKAGE_VERSION} (node ${process.version})`,
    maxSockets: 8,
  })
  const dryRunSend = (body: string): Promise<{ kind: 'response'; status: number }> => {
    logger.info(
      { touchpoint: settings.logPersonalData ? JSON.parse(body) : '[redacted]' },
      'dry run: touchpoint not sent',
    )
    return Promise.resolve({ kind: 'response', status: 200 })
  }
  const dispatcher = createDispatcher({ send: settings.dryRun ? dryRunSend : client.send, logger })
  const counts = { received: 0, skipped: 0, invalid: 0 }
  const mapping = new Set<Promise<void>>()
  let closing: Promise<CloseSummary> | undefined

  const handleFinished = async (req: Request, res: Response, finished: FinishedResponse): Promise<void> => {
    if (!settings.isSuccess(finished.statusCode)) {
      counts.skipped++
      logger.debug({ status: finished.statusCode }, 'touchpoint skipped: response status is not a success')
      return
    }
    counts.received++
    let mapped: unknown
    try {
      mapped = await settings.mapper(req, res, finished.body)
    } catch (error) {
      counts.invalid++
      logger.warn({ error: describeError(error, settings.logPersonalData) }, 'touchpoint not sent: the mapper threw')
      return
    }
    if (mapped === null || mapped === undefined) {
      counts.skipped++
      logger.debug('touchpoint skipped: the mapper returned nothing')
      return
    }
    const orderId = rawOrderId(mapped)
    const result = validateCustomer(mapped, settings.country)
    if (!result.ok) {
      counts.invalid++
      logger.warn({ orderId, invalid: result.reasons }, 'touchpoint not sent: invalid customer')
      return
    }
    const logFields = orderLogFields(result.customer, result.customer.orderId, settings.logPersonalData)
    if (result.dropped.length > 0) {
      logger.warn({ ...logFields, dropped: result.dropped }, 'touchpoint sent without invalid optional fields')
    }
    dispatcher.submit({
      body: JSON.stringify(toWirePayload(result.customer)),
      orderId: result.customer.orderId,
      logFields,
    })
  }

  const middleware = function transactionaleTouchpointMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (settings.enabled && matches(req.method, req.originalUrl ?? req.url)) {
      hookResponse(res, () => {
        // Pending from the moment the handler ends the response, so flush() and close() wait for it.
        let settle: () => void = () => undefined
        const work = new Promise<void>((resolve) => (settle = resolve))
        mapping.add(work)
        return (finished) => {
          handleFinished(req, res, finished)
            .catch((error: unknown) =>
              logger.error({ error: describeError(error, settings.logPersonalData) }, 'touchpoint pipeline failed'),
            )
            .finally(() => {
              mapping.delete(work)
              settle()
            })
        }
      })
    }
    next()
  } as TouchpointMiddleware

  const settleMapping = async (): Promise<void> => {
    while (mapping.size > 0) await Promise.all(mapping)
  }

  middleware.flush = async () => {
    await settleMapping()
    await dispatcher.flush()
  }
  middleware.close = () => {
    closing ??= (async () => {
      await settleMapping()
      const summary = await dispatcher.close()
      client.destroy()
      return summary
    })()
    return closing
  }
  middleware.stats = () => ({ ...counts, ...dispatcher.stats() })
  return middleware
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
