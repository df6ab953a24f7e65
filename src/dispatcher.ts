/**
 * The dispatcher: takes validated touchpoints and sends each one at once, in the background,
 * through the HTTP client; knows what is in flight so that flush() and close() can wait for it.
 */
import type { HttpClient, HttpResult } from './http-client'
import type { TouchpointLogger } from './logger'

/** One touchpoint ready to go: the serialised wire body and what identifies it in logs. */
export interface Touchpoint {
  readonly body: string
  readonly orderId: string | undefined
  /** Fields safe to log for this order (see `orderLogFields`). */
  readonly logFields: Readonly<Record<string, unknown>>
}

/** Counters of the dispatcher's outcomes. */
export interface DispatcherStats {
  inFlight: number
  sent: number
  failed: number
  dropped: number
}

/** What `close()` reports. */
export interface CloseSummary {
  readonly sent: number
  readonly failed: number
  readonly dropped: number
  readonly pending: number
}

/** Dispatcher settings and dependencies. */
export interface DispatcherOptions {
  readonly send: HttpClient
  readonly logger: TouchpointLogger
}

/** Sends touchpoints; `flush()` and `close()` never reject. */
export interface Dispatcher {
  submit(touchpoint: Touchpoint): void
  flush(): Promise<void>
  close(): Promise<CloseSummary>
  stats(): DispatcherStats
}

export function createDispatcher({ send, logger }: DispatcherOptions): Dispatcher {
  const inFlight = new Set<Promise<void>>()
  const counts = { sent: 0, failed: 0, dropped: 0 }
  let closed = false

  const deliver = async (touchpoint: Touchpoint): Promise<void> => {
    const result = await send(touchpoint.body)
    if (isDelivered(result)) {
      counts.sent++
      logger.debug({ ...touchpoint.logFields, status: result.status }, 'touchpoint sent')
    } else {
      counts.failed++
      logger.error({ ...touchpoint.logFields, ...describeFailure(result) }, 'touchpoint not delivered')
    }
  }

  const flush = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.all(inFlight)
  }

  return {
    submit(touchpoint) {
      if (closed) {
        counts.dropped++
        logger.warn({ ...touchpoint.logFields, reason: 'closed' }, 'touchpoint dropped: the middleware is closed')
        return
      }
      // deliver() only rejects if a logger throws; that must not become an unhandled rejection.
      const delivery = deliver(touchpoint)
        .catch(() => undefined)
        .finally(() => inFlight.delete(delivery))
      inFlight.add(delivery)
    },
    flush,
    async close() {
      closed = true
      await flush()
      return { ...counts, pending: inFlight.size }
    },
    stats: () => ({ ...counts, inFlight: inFlight.size }),
  }
}

/** Any 2xx is delivered (the API documents no response). */
export function isDelivered(result: HttpResult): result is Extract<HttpResult, { kind: 'response' }> {
  return result.kind === 'response' && result.status >= 200 && result.status < 300
}

/** Log fields for a failed attempt: a status or an error code, never headers or bodies. */
export function describeFailure(result: HttpResult): Record<string, unknown> {
  return result.kind === 'response' ? { status: result.status } : { error: result.code }
}
