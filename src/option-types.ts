/**
 * The public `Options` type of `transactionaleTouchpoint()` and the mapper's types, each field with
 * its meaning and default (the defaults themselves and the parsers are in options.ts).
 */
import type { Request, Response } from 'express'
import type { Hooks } from './hooks'
import type { TouchpointLogger } from './logger'
import type { Customer, ValidCustomer } from './payload'
import type { RoutePattern } from './route-matcher'
import type { AnyStore } from './stores/contracts'

/** What a mapper may return: the customer, or `null`/`undefined` for "do not send for this order". */
export type MapperResult = Customer | null | undefined

/**
 * A mapper's result `R` as it must be: each of its fields that {@link Customer} does not have is typed
 * as a message, so a misspelt field (`countyr: 'IT'`) in the object a mapper returns — sync or async,
 * inline or a named function — is a compile error at that field. (TypeScript checks excess properties
 * only where an object literal meets a declared type; a function's inferred return type escapes that.)
 * A mapper that returns a wider object on purpose declares its return type: `(req): Customer => …`.
 */
export type ExactMapperResult<R> = R extends object
  ? R & { [K in Exclude<keyof R, keyof Customer>]: 'is not a field of Customer (misspelt?)' }
  : R

/**
 * Takes the customer of a completed order from the request, `res.locals` or the response body.
 * Runs after the response has been sent; may be async. Return `null` or `undefined` to send nothing
 * (for example when the customer did not consent).
 *
 * @param body what the route handler passed to `res.json()` or `res.send(object)` (`undefined` when
 *   it sent something else); a JSON string sent with a JSON content type is parsed.
 */
export type Mapper<R extends MapperResult = MapperResult> = (
  req: Request,
  res: Response,
  body: unknown,
) => ExactMapperResult<R> | Promise<ExactMapperResult<R>>

/**
 * What makes two touchpoints "the same" for dedupe: the customer's `orderId` (the default), their
 * `email` (at most one touchpoint per customer per window: for shops whose every checkout gets a
 * new order id, so a double click makes two orders), or a function of the validated customer
 * (`undefined`: no dedupe for that order).
 */
export type DedupeKey = 'orderId' | 'email' | ((customer: ValidCustomer) => string | undefined)

/**
 * Options of {@link transactionaleTouchpoint}. `R` is what the mapper returns, inferred from it: it
 * lets the compiler refuse a field that {@link Customer} does not have.
 */
export interface Options<R extends MapperResult = MapperResult> {
  /** The shop's Transactionale API key (the "Integrate" section of the account). Required. */
  apiKey: string
  /**
   * The order-completion route(s): an Express-style path (`'/checkout'`, `'/orders/:id/complete'`,
   * path-to-regexp 8 syntax as in Express 5), a RegExp, or an array of them. Matched against the full
   * path (`req.originalUrl` without the query string), case-insensitively, with an optional trailing
   * slash. Required.
   */
  route: RoutePattern | readonly RoutePattern[]
  /** HTTP methods of the order-completion route. Defaults to `['POST']`. */
  methods?: readonly string[]
  /**
   * Takes the customer from the request / response. Defaults to reading `res.locals.transactionale`.
   */
  mapper?: Mapper<R>
  /**
   * How long an async mapper may take, in milliseconds. Past it the order is counted `invalid` with
   * reason `mapper: timeout`, and a late result is ignored. Defaults to `10000`.
   */
  mapperTimeoutMs?: number
  /**
   * Country used when the mapper gives none (a code or a name, normalised at start). The mapper's
   * value wins when present. Defaults to none: the mapper must then give a country.
   */
  country?: string
  /** The API endpoint. `https:` only; `http:` is accepted for loopback hosts (local fakes). Defaults to `'https://www.transactionale.com/api/v1/transaction'`. */
  endpoint?: string
  /**
   * Wall-clock deadline of one HTTP attempt, in milliseconds: connecting, the answer's status line
   * and reading (at most 4 KB of) its body. A 2xx status counts as delivered whatever happens to the
   * body after it. Defaults to `10000`.
   */
  timeoutMs?: number
  /**
   * A pino logger (the shop's own), or one with pino's API (`(fields, message)` arguments, `child()`,
   * `levels.values`); the package logs through a child of it. Pass winston, bunyan, NestJS's `Logger`
   * or `console` through `loggerFrom()`: given directly, they are refused. Defaults to a pino logger
   * of ours on stdout.
   */
  logger?: TouchpointLogger
  /** `false` makes the middleware a pass-through that does nothing. Defaults to `true`. */
  enabled?: boolean
  /** `true`: everything runs, but each touchpoint is logged (at info) instead of sent. Defaults to `false`. */
  dryRun?: boolean
  /** Which response statuses mean "the order was completed". Defaults to 2xx (`status >= 200 && status < 300`). */
  isSuccess?: (statusCode: number) => boolean
  /**
   * Put customer personal data (email, names, zip, phone, …) in log lines, for debugging. Defaults to
   * `false`: logs carry the order id and a short hash of the email instead.
   */
  logPersonalData?: boolean
  /**
   * The delivery queue. `maxSize`: touchpoints that may wait (when full, the newest is dropped,
   * counted and reported). `concurrency`: HTTP requests in flight at once while the API is healthy —
   * `'auto'` adapts it to the API (arrival rate × latency, shrinking on timeouts, 429, 5xx and rising
   * latency) between 1 and `maxConcurrency`; a number fixes it. `maxConcurrency` also sizes the
   * socket pool. Defaults to `{ maxSize: 10000, concurrency: 'auto', maxConcurrency: 256 }`.
   */
  queue?: { maxSize?: number; concurrency?: number | 'auto'; maxConcurrency?: number }
  /**
   * Retries of network errors, timeouts, 408, 425, 429 and 5xx (except 501, 505), with full-jitter
   * exponential backoff (`baseDelayMs · 2^n`, capped at `maxDelayMs`); a `Retry-After` on 429/503
   * sets the pause instead, capped at `maxRetryAfterMs`. `maxAttempts` counts the first attempt.
   * Defaults to `{ maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30000, maxRetryAfterMs: 300000 }`.
   */
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number }
  /**
   * Deduplication: a second touchpoint with the same key within `windowMs` (queued, in flight or
   * delivered) is skipped. `key` is `'orderId'`, `'email'` or a function (see {@link DedupeKey});
   * `maxEntries` bounds the memory store's memory. Defaults to
   * `{ windowMs: 86400000 (24 h), maxEntries: 100000, key: 'orderId' }`.
   */
  dedupe?: { windowMs?: number; maxEntries?: number; key?: DedupeKey }
  /** Callbacks for every outcome: `onSent`, `onFailed`, `onDropped`, `onInvalid`, `onSkipped`. Defaults to none. */
  hooks?: Hooks
  /**
   * Where touchpoints wait for delivery. Defaults to `memoryStore()` (this process's memory: lost on
   * exit). `sqliteStore({ path })` from `express-transactionale/sqlite` keeps them on disk.
   */
  store?: AnyStore
  /**
   * For serverless hosts that freeze the function after the response (Vercel): receives, for each
   * order, a promise of its work from the end of the response until its touchpoint is stored
   * (durable store) or settled (memory store), or until `waitUntilTimeoutMs` — pass `waitUntil` from
   * `@vercel/functions`. A `waitUntil` that throws or never awaits the promise (outside a request) is
   * reported once. On AWS Lambda, await `flush({ timeoutMs })` instead. Defaults to none.
   */
  waitUntil?: (promise: Promise<void>) => void
  /**
   * The longest the promise handed to `waitUntil` stays pending, in milliseconds, so an API that is
   * slow or down never holds a function past it. What is still pending then stays queued (memory
   * store: delivered if the function is thawed again, lost if it is not) or stored (durable store:
   * delivered by a later invocation); `stats()` counts it. Defaults to `10000`.
   */
  waitUntilTimeoutMs?: number
}
