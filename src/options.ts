/**
 * Options: the public `Options` type, every default in one constant, and the validation that turns
 * what a shop passed into resolved settings, reporting every problem at once.
 */
import type { Request, Response } from 'express'
import { normalizeCountry } from './country'
import { CONFIG_ERROR_CODES, TouchpointConfigError, type ConfigProblem } from './errors'
import { HOOK_NAMES, type Hooks } from './hooks'
import type { TouchpointLogger } from './logger'
import type { Customer } from './payload'
import { compileRoute, type RoutePattern } from './route-matcher'

/** What a mapper may return: the customer, or `null`/`undefined` for "do not send for this order". */
export type MapperResult = Customer | null | undefined

/**
 * Takes the customer of a completed order from the request, `res.locals` or the response body.
 * Runs after the response has been sent; may be async. Return `null` or `undefined` to send nothing
 * (for example when the customer did not consent).
 *
 * @param body what the route handler passed to `res.json()` or `res.send(object)` (`undefined` when
 *   it sent something else); a JSON string sent with a JSON content type is parsed.
 */
export type Mapper = (req: Request, res: Response, body: unknown) => MapperResult | Promise<MapperResult>

/** Options of {@link transactionaleTouchpoint}. */
export interface Options {
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
  mapper?: Mapper
  /**
   * Country used when the mapper gives none (a code or a name, normalised at start). The mapper's
   * value wins when present. Defaults to none: the mapper must then give a country.
   */
  country?: string
  /** The API endpoint. `https:` only; `http:` is accepted for loopback hosts (local fakes). Defaults to `'https://www.transactionale.com/api/v1/transaction'`. */
  endpoint?: string
  /** Timeout of one HTTP attempt, in milliseconds. Defaults to `10000`. */
  timeoutMs?: number
  /** A pino logger (the shop's own); the package logs through a child of it. Defaults to a pino logger of ours on stdout. */
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
   * counted and reported). `concurrency`: HTTP requests in flight at once while the API is healthy.
   * Defaults to `{ maxSize: 10000, concurrency: 8 }`.
   */
  queue?: { maxSize?: number; concurrency?: number }
  /**
   * Retries of network errors, timeouts, 408, 425, 429 and 5xx (except 501, 505), with full-jitter
   * exponential backoff (`baseDelayMs · 2^n`, capped at `maxDelayMs`); a `Retry-After` on 429/503
   * sets the pause instead, capped at `maxRetryAfterMs`. `maxAttempts` counts the first attempt.
   * Defaults to `{ maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30000, maxRetryAfterMs: 300000 }`.
   */
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number }
  /**
   * Deduplication by the mapper's `orderId`: a second touchpoint for the same order within
   * `windowMs` (queued, in flight or delivered) is skipped. `maxEntries` bounds the memory.
   * Defaults to `{ windowMs: 86400000 (24 h), maxEntries: 100000 }`.
   */
  dedupe?: { windowMs?: number; maxEntries?: number }
  /** Callbacks for every outcome: `onSent`, `onFailed`, `onDropped`, `onInvalid`, `onSkipped`. Defaults to none. */
  hooks?: Hooks
}

/** Every default, in one place. */
export const DEFAULTS = {
  methods: ['POST'],
  endpoint: 'https://www.transactionale.com/api/v1/transaction',
  timeoutMs: 10_000,
  enabled: true,
  dryRun: false,
  logPersonalData: false,
  isSuccess: (statusCode: number): boolean => statusCode >= 200 && statusCode < 300,
  queue: { maxSize: 10_000, concurrency: 8 },
  retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
  dedupe: { windowMs: 24 * 60 * 60 * 1000, maxEntries: 100_000 },
  mapper: ((_req, res) => (res.locals as Record<string, unknown>).transactionale as MapperResult) as Mapper,
} as const

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  readonly apiKey: string
  readonly routes: readonly RoutePattern[]
  readonly methods: readonly string[]
  readonly mapper: Mapper
  readonly country: string | undefined
  readonly endpoint: string
  readonly timeoutMs: number
  readonly logger: TouchpointLogger | undefined
  readonly enabled: boolean
  readonly dryRun: boolean
  readonly isSuccess: (statusCode: number) => boolean
  readonly logPersonalData: boolean
  readonly queue: { readonly maxSize: number; readonly concurrency: number }
  readonly retry: {
    readonly maxAttempts: number
    readonly baseDelayMs: number
    readonly maxDelayMs: number
    readonly maxRetryAfterMs: number
  }
  readonly dedupe: { readonly windowMs: number; readonly maxEntries: number }
  readonly hooks: Hooks
}

const KNOWN_OPTIONS = [
  'apiKey',
  'route',
  'methods',
  'mapper',
  'country',
  'endpoint',
  'timeoutMs',
  'logger',
  'enabled',
  'dryRun',
  'isSuccess',
  'logPersonalData',
  'queue',
  'retry',
  'dedupe',
  'hooks',
] as const

/** Bounds of the numeric fields of the nested options: [min, max], whole numbers. */
const NESTED_BOUNDS = {
  queue: { maxSize: [1, 10_000_000], concurrency: [1, 256] },
  retry: {
    maxAttempts: [1, 100],
    baseDelayMs: [1, 3_600_000],
    maxDelayMs: [1, 86_400_000],
    maxRetryAfterMs: [0, 86_400_000],
  },
  dedupe: { windowMs: [0, 31 * 86_400_000], maxEntries: [1, 10_000_000] },
} as const

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]'])
const METHOD = /^[A-Z]+$/

/** Validates the options; throws a {@link TouchpointConfigError} listing every problem. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TouchpointConfigError([
      problem('options', 'options', 'pass an object, e.g. transactionaleTouchpoint({ apiKey, route: "/checkout" })'),
    ])
  }
  const raw = input as Record<string, unknown>
  const problems: ConfigProblem[] = []
  const report = (option: keyof typeof CONFIG_ERROR_CODES, message: string, path: string = option): void => {
    problems.push(problem(option, path, message))
  }

  for (const key of Object.keys(raw)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) {
      report('unknown', unknownName('option', key, KNOWN_OPTIONS), key)
    }
  }

  const apiKey = raw.apiKey
  if (typeof apiKey !== 'string' || apiKey.trim() === '') {
    report(
      'apiKey',
      'missing or empty: pass the API key from the "Integrate" section of your Transactionale account (e.g. process.env.TRANSACTIONALE_API_KEY)',
    )
  } else if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    report(
      'apiKey',
      'contains whitespace, control or non-ASCII characters: copy the key again without spaces or line breaks',
    )
  }

  const routes = raw.route === undefined ? [] : Array.isArray(raw.route) ? (raw.route as unknown[]) : [raw.route]
  if (raw.route === undefined || routes.length === 0) {
    report(
      'route',
      'missing: pass the path of your order-completion route, e.g. "/checkout", a RegExp, or an array of them',
    )
  }
  routes.forEach((pattern, i) => {
    const where = Array.isArray(raw.route) ? `route[${i}]` : 'route'
    if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) {
      report('route', `must be a path string or a RegExp (got ${describe(pattern)})`, where)
      return
    }
    try {
      compileRoute(pattern)
    } catch (error) {
      report('route', `malformed pattern: ${(error as Error).message}`, where)
    }
  })

  const methods = raw.methods ?? DEFAULTS.methods
  if (
    !Array.isArray(methods) ||
    methods.length === 0 ||
    methods.some((m) => typeof m !== 'string' || !METHOD.test(m.toUpperCase()))
  ) {
    report('methods', 'must be a non-empty array of HTTP method names, e.g. ["POST"]')
  }

  checkType(raw, 'mapper', 'function', report)
  checkType(raw, 'isSuccess', 'function', report)
  checkType(raw, 'enabled', 'boolean', report)
  checkType(raw, 'dryRun', 'boolean', report)
  checkType(raw, 'logPersonalData', 'boolean', report)

  let country: string | undefined
  if (raw.country !== undefined) {
    country = normalizeCountry(raw.country)
    if (country === undefined) {
      report(
        'country',
        'not a known country: use an ISO 3166-1 alpha-2 code such as "IT", an alpha-3 code or a country name',
      )
    }
  }

  const endpoint = raw.endpoint ?? DEFAULTS.endpoint
  const endpointProblem = checkEndpoint(endpoint)
  if (endpointProblem !== undefined) report('endpoint', endpointProblem)

  const timeoutMs = raw.timeoutMs ?? DEFAULTS.timeoutMs
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
    report('timeoutMs', 'must be a whole number of milliseconds between 1 and 600000')
  }

  const logger = raw.logger
  if (
    logger !== undefined &&
    (typeof logger !== 'object' ||
      logger === null ||
      ['debug', 'info', 'warn', 'error', 'child'].some(
        (m) => typeof (logger as Record<string, unknown>)[m] !== 'function',
      ))
  ) {
    report('logger', 'must be a pino logger (an object with debug, info, warn, error and child methods)')
  }

  const nested = {
    queue: resolveNested(raw, 'queue', report),
    retry: resolveNested(raw, 'retry', report),
    dedupe: resolveNested(raw, 'dedupe', report),
  }

  const hooks = raw.hooks ?? {}
  if (typeof hooks !== 'object' || hooks === null || Array.isArray(hooks)) {
    report('hooks', `must be an object of callbacks (${HOOK_NAMES.join(', ')})`)
  } else {
    for (const [name, hook] of Object.entries(hooks)) {
      if (!(HOOK_NAMES as readonly string[]).includes(name)) {
        report('hooks', unknownName('hook', name, HOOK_NAMES), `hooks.${name}`)
      } else if (hook !== undefined && typeof hook !== 'function') {
        report('hooks', `must be a function (got ${describe(hook)})`, `hooks.${name}`)
      }
    }
  }

  if (problems.length > 0) throw new TouchpointConfigError(problems)

  return {
    apiKey: apiKey as string,
    routes: routes as RoutePattern[],
    methods: (methods as string[]).map((m) => m.toUpperCase()),
    mapper: (raw.mapper as Mapper | undefined) ?? DEFAULTS.mapper,
    country,
    endpoint: endpoint as string,
    timeoutMs: timeoutMs as number,
    logger: logger as TouchpointLogger | undefined,
    enabled: (raw.enabled as boolean | undefined) ?? DEFAULTS.enabled,
    dryRun: (raw.dryRun as boolean | undefined) ?? DEFAULTS.dryRun,
    isSuccess: (raw.isSuccess as ((s: number) => boolean) | undefined) ?? DEFAULTS.isSuccess,
    logPersonalData: (raw.logPersonalData as boolean | undefined) ?? DEFAULTS.logPersonalData,
    queue: nested.queue as ResolvedOptions['queue'],
    retry: nested.retry as ResolvedOptions['retry'],
    dedupe: nested.dedupe as ResolvedOptions['dedupe'],
    hooks: hooks,
  }
}

/** Validates one nested option object against its bounds and fills in its defaults. */
function resolveNested(
  raw: Record<string, unknown>,
  option: keyof typeof NESTED_BOUNDS,
  report: (option: keyof typeof CONFIG_ERROR_CODES, message: string, path?: string) => void,
): Record<string, number> {
  const bounds: Record<string, readonly [number, number]> = NESTED_BOUNDS[option]
  const resolved: Record<string, number> = { ...DEFAULTS[option] }
  const value = raw[option]
  if (value === undefined) return resolved
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report(option, `must be an object such as ${JSON.stringify(DEFAULTS[option])}`)
    return resolved
  }
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    const range = bounds[key]
    if (range === undefined) {
      report(option, unknownName('field', key, Object.keys(bounds)), `${option}.${key}`)
    } else if (field !== undefined) {
      if (typeof field !== 'number' || !Number.isInteger(field) || field < range[0] || field > range[1]) {
        report(
          option,
          `must be a whole number from ${range[0]} to ${range[1]} (default ${String(resolved[key])})`,
          `${option}.${key}`,
        )
      } else {
        resolved[key] = field
      }
    }
  }
  if (option === 'retry' && (resolved.baseDelayMs ?? 0) > (resolved.maxDelayMs ?? 0)) {
    report('retry', 'baseDelayMs must not be larger than maxDelayMs', 'retry.baseDelayMs')
  }
  return resolved
}

function problem(option: keyof typeof CONFIG_ERROR_CODES, path: string, message: string): ConfigProblem {
  return { option: path, code: CONFIG_ERROR_CODES[option], message }
}

function checkType(
  raw: Record<string, unknown>,
  option: 'mapper' | 'isSuccess' | 'enabled' | 'dryRun' | 'logPersonalData',
  type: 'function' | 'boolean',
  report: (option: 'mapper' | 'isSuccess' | 'enabled' | 'dryRun' | 'logPersonalData', message: string) => void,
): void {
  const value = raw[option]
  if (value !== undefined && typeof value !== type) report(option, `must be a ${type} (got ${describe(value)})`)
}

function checkEndpoint(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string') return `must be a URL string (got ${describe(endpoint)})`
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return `"${endpoint}" is not a valid URL`
  }
  if (url.username !== '' || url.password !== '')
    return 'must not contain credentials; the API key goes in the apiKey option'
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return undefined
  if (url.protocol === 'http:')
    return 'plain http: would send the API key and customer data unencrypted; use https: (http: is accepted only for loopback hosts such as 127.0.0.1, for local fakes)'
  return `protocol "${url.protocol}" is not supported; use https:`
}

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}

/** "unknown option "x"; did you mean "y"?" — the hint only when a known name is close enough. */
function unknownName(what: string, key: string, known: readonly string[]): string {
  const hint = closest(key, known)
  return `unknown ${what} "${key}"${hint ? `; did you mean "${hint}"?` : ''}`
}

/** The known option nearest to a misspelt one (case-insensitive, edit distance ≤ 3). */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 4
  for (const candidate of candidates) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
