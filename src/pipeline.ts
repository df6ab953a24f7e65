/**
 * After the response: `isSuccess` → the mapper (within its deadline) → validation → the dedupe key
 * → the store (or, in a dry run, the log). Whatever the shop's code throws, returns or never
 * returns, every order leaves here in exactly one ledger outcome, or handed to delivery.
 */
import { createHash } from 'node:crypto'
import type { Request, Response } from 'express'
import type { Engine } from './delivery/engine'
import { describeError } from './hooks'
import type { Ledger } from './ledger'
import type { Log } from './logger'
import type { ResolvedOptions } from './options'
import { dedupeKeyOf, prepareValidation, toWirePayload, validateCustomer, type ValidCustomer } from './payload'
import type { FinishedResponse } from './response-hook'
import type { Clock } from './types'
import { createHandOver } from './wait-until'

export interface Pipeline {
  /** Takes one finished order response; never throws. */
  accept(req: Request, res: Response, finished: FinishedResponse): void
  /** Orders still being mapped or validated. */
  readonly mapping: number
  /** Resolves when every order accepted so far has left the pipeline. */
  settled(): Promise<void>
}

export interface PipelineDeps {
  readonly engine: Engine
  readonly ledger: Ledger
  readonly log: Log
  readonly clock: Clock
  /** Whether the store is durable (what `waitUntil` waits for). */
  readonly durable: boolean
}

type Settings = Pick<
  ResolvedOptions,
  | 'isSuccess'
  | 'mapper'
  | 'mapperTimeoutMs'
  | 'country'
  | 'logPersonalData'
  | 'dryRun'
  | 'dedupe'
  | 'waitUntil'
  | 'waitUntilTimeoutMs'
>

const TIMED_OUT = Symbol('mapper timed out')

/** Where an order that left the pipeline went: handed to delivery (with its storing), or counted. */
type Stored = { stored: Promise<void> } | void

export function createPipeline(settings: Settings, deps: PipelineDeps): Pipeline {
  const { engine, ledger, log, clock } = deps
  const durable = deps.durable
  // Validation's dependencies load now, at start-up, so that no order pays for them.
  prepareValidation()
  let redirectWarned = false
  const handOver =
    settings.waitUntil === undefined
      ? undefined
      : createHandOver(settings.waitUntil, settings.waitUntilTimeoutMs, { clock, log })

  /** Races a mapper's promise against `mapperTimeoutMs`. */
  const deadline = async (result: PromiseLike<unknown>): Promise<unknown> => {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = clock.setTimeout(() => resolve(TIMED_OUT), settings.mapperTimeoutMs)
    })
    try {
      // A late result is ignored: nothing here holds the mapper's promise after the race.
      return await Promise.race([Promise.resolve(result), expired])
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
   * Takes an order up to its mapper. A mapper that answers at once (the default one does) is
   * followed synchronously to the end: no promise per order. Returns what {@link afterMapper}
   * returns, or — for a mapper that returned a promise — a promise of it.
   */
  const handle = (req: Request, res: Response, finished: FinishedResponse): Stored | Promise<Stored> => {
    const { statusCode } = finished
    const success = isOrder(req, statusCode)
    if (success === undefined) return undefined
    if (!success) {
      if (statusCode >= 300 && statusCode < 400 && !redirectWarned) {
        redirectWarned = true
        log.write('skippedRedirect', { path: pathOf(req), status: statusCode, fix: 'isSuccess: (s) => s < 400' })
      }
      return ledger.skipped('status', statusCode)
    }
    let mapped: unknown
    try {
      mapped = settings.mapper(req, res, finished.body)
    } catch (error) {
      return mapperFailed(error)
    }
    if (!isThenable(mapped)) return afterMapper(mapped)
    return deadline(mapped).then(afterMapper, mapperFailed)
  }

  const mapperFailed = (error: unknown): undefined => {
    const reason = describeError(error, settings.logPersonalData)
    ledger.invalid('mapper', undefined, [`mapper: ${reason}`], 'invalidMapper')
    return undefined
  }

  /**
   * From the mapper's result to the store. Returns the promise of its storing if the order was handed
   * to delivery (boxed: returned from a promise callback, a promise would be waited for, and the
   * order would count as mapping and queued at once while a durable store writes it).
   */
  const afterMapper = (mapped: unknown): Stored => {
    if (mapped === TIMED_OUT) {
      return ledger.invalid('mapper', undefined, ['mapper: timeout'], 'invalidMapperTimeout')
    }
    if (mapped === null || mapped === undefined) return ledger.skipped('no_customer')
    const result = validateCustomer(mapped, settings.country)
    if (!result.ok) {
      return ledger.invalid('validation', rawOrderId(mapped), [...result.reasons], 'invalidCustomer')
    }
    const { customer } = result
    const orderId = customer.orderId
    const body = JSON.stringify(toWirePayload(customer))
    if (result.dropped.length > 0) {
      log.write('droppedOptional', () => ({ ...ledger.fields({ orderId, body }), dropped: result.dropped }))
    }
    if (result.defaulted.length > 0) {
      log.write('countryDefaulted', () => ({ ...ledger.fields({ orderId, body }), defaulted: result.defaulted }))
    }
    if (settings.dryRun) return ledger.dryRun({ orderId, body })
    const stored = engine.submit({
      orderId,
      body,
      dedupeKey: dedupeKeyFor(customer, settings.dedupe.key, settings.dedupe.windowMs),
      receivedAt: clock.now(),
    })
    return { stored }
  }

  // Orders still in the pipeline (`mapping`), and who waits for there to be none (settled()).
  let inPipeline = 0
  let onEmpty: (() => void)[] = []
  const leave = (): void => {
    if (--inPipeline > 0 || onEmpty.length === 0) return
    const waiting = onEmpty
    onEmpty = []
    for (const resolve of waiting) resolve()
  }

  const internalError = (error: unknown): void => {
    // Unreachable by design (every step above is guarded); if it happens, the order is still counted.
    log.write('internalError', { error: describeError(error, false) })
    ledger.invalid('mapper', undefined, ['internal error'], 'invalidMapper')
  }

  /** Runs one order; `then` gets the promise of its storing, if any, once it has left the pipeline. */
  const run = (req: Request, res: Response, finished: FinishedResponse, then?: (stored: Stored) => void): void => {
    let outcome: Stored | Promise<Stored>
    try {
      outcome = handle(req, res, finished)
    } catch (error) {
      internalError(error)
      outcome = undefined
    }
    if (!(outcome instanceof Promise)) {
      leave()
      return then?.(outcome)
    }
    outcome.then(
      (stored) => {
        leave()
        then?.(stored)
      },
      (error: unknown) => {
        internalError(error)
        leave()
        then?.(undefined)
      },
    )
  }

  // Orders accepted since the last turn of the event loop, as (req, res, finished, then) runs: all
  // of them are run by one setImmediate, after the responses' own work.
  let batch: unknown[] = []
  const runBatch = (): void => {
    const orders = batch
    batch = []
    for (let i = 0; i < orders.length; i += 4) {
      run(
        orders[i] as Request,
        orders[i + 1] as Response,
        orders[i + 2] as FinishedResponse,
        orders[i + 3] as ((stored: Stored) => void) | undefined,
      )
    }
  }

  return {
    accept(req, res, finished) {
      ledger.received()
      // In the pipeline from now on, so flush() and close() wait for it; the work runs on a later tick.
      inPipeline++
      let then: ((stored: Stored) => void) | undefined
      if (handOver !== undefined) {
        // Serverless hosts freeze after the response: keep them up until the touchpoint is on disk
        // (durable store) or settled (memory store, where nothing else would survive the freeze).
        handOver(
          new Promise<void>((resolve) => {
            then = (stored) => resolve(durable ? stored?.stored : engine.flush())
          }),
        )
      }
      if (batch.length === 0) setImmediate(runBatch)
      batch.push(req, res, finished, then)
    },
    get mapping() {
      return inPipeline
    },
    async settled() {
      while (inPipeline > 0) await new Promise<void>((resolve) => onEmpty.push(resolve))
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
