/**
 * After the response: `isSuccess` → the mapper (within its deadline) → validation → the dedupe key
 * → the store (or, in a dry run, the log). Whatever the shop's code throws, returns or never
 * returns, every order leaves here in exactly one ledger outcome, or handed to delivery.
 */
import { createHash } from 'node:crypto'
import type { Request, Response } from 'express'
import type { Pump } from './delivery/pump'
import { describeError } from './hooks'
import type { Ledger } from './ledger'
import type { Log } from './logger'
import type { ResolvedOptions } from './options'
import { dedupeKeyOf, toWirePayload, validateCustomer, type ValidCustomer } from './payload'
import type { FinishedResponse } from './response-hook'
import type { Clock } from './types'

export interface Pipeline {
  /** Takes one finished order response; never throws. */
  accept(req: Request, res: Response, finished: FinishedResponse): void
  /** Orders still being mapped or validated. */
  readonly mapping: number
  /** Resolves when every order accepted so far has left the pipeline. */
  settled(): Promise<void>
}

export interface PipelineDeps {
  readonly pump: Pump
  readonly ledger: Ledger
  readonly log: Log
  readonly clock: Clock
  /** Whether the store is durable (what `waitUntil` waits for). */
  readonly durable: boolean
}

type Settings = Pick<
  ResolvedOptions,
  'isSuccess' | 'mapper' | 'mapperTimeoutMs' | 'country' | 'logPersonalData' | 'dryRun' | 'dedupe' | 'waitUntil'
>

const TIMED_OUT = Symbol('mapper timed out')

export function createPipeline(settings: Settings, deps: PipelineDeps): Pipeline {
  const { pump, ledger, log, clock } = deps
  const pending = new Set<Promise<void>>()
  const durable = deps.durable
  let redirectWarned = false

  /** Runs the mapper; a promise it returns is raced against `mapperTimeoutMs`. */
  const map = async (req: Request, res: Response, body: unknown): Promise<unknown> => {
    const result: unknown = settings.mapper(req, res, body)
    if (!isThenable(result)) return result
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = clock.setTimeout(() => resolve(TIMED_OUT), settings.mapperTimeoutMs)
    })
    try {
      // A late result is ignored: nothing here holds the mapper's promise after the race.
      return await Promise.race([Promise.resolve(result), deadline])
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer)
    }
  }

  const isOrder = (req: Request, status: number): boolean | undefined => {
    try {
      return settings.isSuccess(status) === true
    } catch (error) {
      ledger.invalid(
        'isSuccess',
        undefined,
        [`isSuccess: ${describeError(error, settings.logPersonalData)}`],
        'invalidIsSuccess',
      )
      return undefined
    }
  }

  /**
   * Resolves when the order has left the pipeline — with the promise of its storing, if it was
   * handed to delivery (boxed: an async function returning a promise would wait for it, and the
   * order would count as mapping and queued at once while a durable store writes it).
   */
  const handle = async (
    req: Request,
    res: Response,
    finished: FinishedResponse,
  ): Promise<{ stored: Promise<void> } | void> => {
    const { statusCode } = finished
    const success = isOrder(req, statusCode)
    if (success === undefined) return
    if (!success) {
      if (statusCode >= 300 && statusCode < 400 && !redirectWarned) {
        redirectWarned = true
        log.write('skippedRedirect', { path: pathOf(req), status: statusCode, fix: 'isSuccess: (s) => s < 400' })
      }
      return ledger.skipped('status', statusCode)
    }
    let mapped: unknown
    try {
      mapped = await map(req, res, finished.body)
    } catch (error) {
      const reason = describeError(error, settings.logPersonalData)
      return ledger.invalid('mapper', undefined, [`mapper: ${reason}`], 'invalidMapper')
    }
    if (mapped === TIMED_OUT) {
      return ledger.invalid('mapper', undefined, ['mapper: timeout'], 'invalidMapperTimeout')
    }
    if (mapped === null || mapped === undefined) return ledger.skipped('no_customer')
    const result = validateCustomer(mapped, settings.country)
    if (!result.ok) {
      return ledger.invalid('validation', rawOrderId(mapped), [...result.reasons], 'invalidCustomer')
    }
    const { customer } = result
    const touchpoint = { orderId: customer.orderId, body: JSON.stringify(toWirePayload(customer)) }
    if (result.dropped.length > 0) {
      log.write('droppedOptional', () => ({ ...ledger.fields(touchpoint), dropped: result.dropped }))
    }
    if (result.defaulted.length > 0) {
      log.write('countryDefaulted', () => ({ ...ledger.fields(touchpoint), defaulted: result.defaulted }))
    }
    if (settings.dryRun) return ledger.dryRun(touchpoint)
    const stored = pump.submit({
      ...touchpoint,
      dedupeKey: dedupeKeyFor(customer, settings.dedupe.key, settings.dedupe.windowMs),
      receivedAt: clock.now(),
    })
    return { stored }
  }

  return {
    accept(req, res, finished) {
      ledger.received()
      // Pending from now on, so flush() and close() wait for it; the work itself runs on a later tick.
      let settle: () => void = () => undefined
      const work = new Promise<void>((resolve) => (settle = resolve))
      pending.add(work)
      const done = (): void => {
        pending.delete(work)
        settle()
      }
      let stored: Promise<void> | void = undefined
      setImmediate(() => {
        handle(req, res, finished).then(
          (submitted) => {
            stored = submitted?.stored
            done()
          },
          (error: unknown) => {
            // Unreachable by design (every step above is guarded); if it happens, the order is still counted.
            log.write('internalError', { error: describeError(error, false) })
            ledger.invalid('mapper', undefined, ['internal error'], 'invalidMapper')
            done()
          },
        )
      })
      if (settings.waitUntil !== undefined) {
        // Serverless hosts freeze after the response: keep them up until the touchpoint is on disk
        // (durable store) or settled (memory store, where nothing else would survive the freeze).
        const until = work.then(() => (durable ? stored : pump.flush()))
        try {
          settings.waitUntil(until)
        } catch (error) {
          log.write('internalError', { error: describeError(error, false), in: 'waitUntil' })
        }
      }
    },
    get mapping() {
      return pending.size
    },
    async settled() {
      while (pending.size > 0) await Promise.all(pending)
    },
  }
}

/** The dedupe key of a validated customer under the `dedupe.key` option; `undefined`: no dedupe. */
function dedupeKeyFor(
  customer: ValidCustomer,
  key: ResolvedOptions['dedupe']['key'],
  windowMs: number,
): string | undefined {
  if (windowMs === 0) return undefined
  let value: unknown
  if (key === 'orderId') value = customer.orderId
  // Hashed: a durable store keeps the key after delivery, and must not keep the email.
  else if (key === 'email') value = `email:${createHash('sha256').update(customer.email).digest('hex')}`
  else {
    try {
      value = key(customer)
    } catch {
      value = undefined
    }
  }
  return typeof value === 'string' && value !== '' ? dedupeKeyOf(value) : undefined
}

/** The mapper's `orderId`, read defensively, for the log line of an invalid order. */
function rawOrderId(value: unknown): string | undefined {
  try {
    const id = (value as { orderId?: unknown }).orderId
    return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? String(id) : undefined
  } catch {
    return undefined
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  try {
    return (
      (typeof value === 'object' || typeof value === 'function') &&
      value !== null &&
      typeof (value as { then?: unknown }).then === 'function'
    )
  } catch {
    return false
  }
}

function pathOf(req: Request): string {
  const url = req.originalUrl ?? req.url ?? ''
  const q = url.indexOf('?')
  return (q === -1 ? url : url.slice(0, q)).slice(0, 200)
}
