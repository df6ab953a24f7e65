/**
 * Options: the public `Options` type, every default in one constant, and the validation that turns
 * what a shop passed into resolved settings, reporting every problem at once.
 */
import { normalizeCountry } from './country'
import { CONFIG_ERROR_CODES } from './errors'
import { HOOK_NAMES, type Hooks } from './hooks'
import { unknownName } from './did-you-mean'
import { kindOf, parseOptions, spec, type OptionSpec, type Report, type Resolved } from './option-parser'
import { isPinoCompatible, type TouchpointLogger } from './logger'
import { compileRoute, type RoutePattern } from './route-matcher'
import type { AnyStore } from './stores/contracts'
import type { DedupeKey, Mapper, MapperResult, Options } from './option-types'

export type { MapperResult, ExactMapperResult, Mapper, DedupeKey, Options } from './option-types'

/** Every default, in one place. */
export const DEFAULTS = {
  methods: ['POST'],
  endpoint: 'https://www.transactionale.com/api/v1/transaction',
  timeoutMs: 10_000,
  mapperTimeoutMs: 10_000,
  waitUntilTimeoutMs: 10_000,
  enabled: true,
  dryRun: false,
  logPersonalData: false,
  isSuccess: (statusCode: number): boolean => statusCode >= 200 && statusCode < 300,
  queue: { maxSize: 10_000, concurrency: 'auto', maxConcurrency: 256 },
  retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
  dedupe: { windowMs: 24 * 60 * 60 * 1000, maxEntries: 100_000, key: 'orderId' },
  mapper: ((_req, res) => (res.locals as Record<string, unknown>).transactionale as MapperResult) as Mapper,
} as const

/** Bounds of the numeric fields of the nested options: [min, max], whole numbers. */
const NESTED_BOUNDS = {
  queue: { maxSize: [1, 10_000_000], maxConcurrency: [1, 1024] },
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

/**
 * Every option: its default and its parser. The compiler checks that it covers exactly the keys of
 * {@link Options}; the known-options list, the resolved type and (by a test) the README's options
 * table all follow from it, and `CONFIG_ERROR_CODES` has one code per key.
 */
export const OPTION_TABLE = {
  apiKey: spec('— (required)', parseApiKey),
  route: spec('— (required)', parseRoute),
  methods: spec("`['POST']`", parseMethods),
  mapper: spec(
    'reads `res.locals.transactionale`',
    (value, report) => (fn(value, report) as Mapper) ?? DEFAULTS.mapper,
  ),
  mapperTimeoutMs: spec('`10000`', (value, report) =>
    wholeNumber(value ?? DEFAULTS.mapperTimeoutMs, [1, 3_600_000], DEFAULTS.mapperTimeoutMs, report),
  ),
  country: spec('none', parseCountryOption),
  endpoint: spec(`\`'${DEFAULTS.endpoint}'\``, parseEndpoint),
  timeoutMs: spec('`10000`', (value, report) =>
    wholeNumber(value ?? DEFAULTS.timeoutMs, [1, 600_000], DEFAULTS.timeoutMs, report),
  ),
  logger: spec('a pino logger of ours (stdout)', parseLogger),
  enabled: spec('`true`', (value, report) => bool(value, report) ?? DEFAULTS.enabled),
  dryRun: spec('`false`', (value, report) => bool(value, report) ?? DEFAULTS.dryRun),
  isSuccess: spec(
    '2xx',
    (value, report) => (fn(value, report) as ((statusCode: number) => boolean) | undefined) ?? DEFAULTS.isSuccess,
  ),
  logPersonalData: spec('`false`', (value, report) => bool(value, report) ?? DEFAULTS.logPersonalData),
  queue: spec(formatDefault(DEFAULTS.queue), parseQueue),
  retry: spec(formatDefault(DEFAULTS.retry), parseRetry),
  dedupe: spec(formatDefault(DEFAULTS.dedupe), parseDedupe),
  hooks: spec('none', parseHooks),
  store: spec('`memoryStore()`', parseStore),
  waitUntil: spec('none', (value, report) => fn(value, report) as ((promise: Promise<void>) => void) | undefined),
  waitUntilTimeoutMs: spec('`10000`', (value, report) =>
    wholeNumber(value ?? DEFAULTS.waitUntilTimeoutMs, [1, 3_600_000], DEFAULTS.waitUntilTimeoutMs, report),
  ),
} as const satisfies { readonly [K in keyof Options]-?: OptionSpec<unknown> }

/** Options after validation, with defaults applied. */
export type ResolvedOptions = Resolved<typeof OPTION_TABLE>

/** Validates the options; throws a {@link TouchpointConfigError} listing every problem. */
export function resolveOptions(input: unknown): ResolvedOptions {
  return parseOptions(input, OPTION_TABLE, {
    notAnObject: 'pass an object, e.g. transactionaleTouchpoint({ apiKey, route: "/checkout" })',
    code: (option) => CONFIG_ERROR_CODES[option === '' ? 'options' : (option as keyof typeof CONFIG_ERROR_CODES)],
  })
}

function parseApiKey(value: unknown, report: Report): string {
  if (typeof value !== 'string' || value.trim() === '') {
    report(
      'missing or empty: pass the API key from the "Integrate" section of your Transactionale account (e.g. process.env.TRANSACTIONALE_API_KEY)',
    )
    return ''
  }
  if (!/^[\x21-\x7e]+$/.test(value)) {
    report('contains whitespace, control or non-ASCII characters: copy the key again without spaces or line breaks')
  }
  return value
}

function parseRoute(value: unknown, report: Report): RoutePattern[] {
  const routes = value === undefined ? [] : Array.isArray(value) ? (value as unknown[]) : [value]
  if (routes.length === 0) {
    report('missing: pass the path of your order-completion route, e.g. "/checkout", a RegExp, or an array of them')
  }
  routes.forEach((pattern, i) => {
    const where = Array.isArray(value) ? `route[${i}]` : 'route'
    if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) {
      report(`must be a path string or a RegExp (got ${kindOf(pattern)})`, where)
      return
    }
    try {
      compileRoute(pattern)
    } catch (error) {
      report(`malformed pattern: ${(error as Error).message}`, where)
    }
  })
  return routes as RoutePattern[]
}

function parseMethods(value: unknown, report: Report): string[] {
  const methods = value ?? DEFAULTS.methods
  if (
    !Array.isArray(methods) ||
    methods.length === 0 ||
    methods.some((m) => typeof m !== 'string' || !METHOD.test(m.toUpperCase()))
  ) {
    report('must be a non-empty array of HTTP method names, e.g. ["POST"]')
    return [...DEFAULTS.methods]
  }
  return (methods as string[]).map((m) => m.toUpperCase())
}

function parseCountryOption(value: unknown, report: Report): string | undefined {
  if (value === undefined) return undefined
  const country = normalizeCountry(value)
  if (country === undefined) {
    report('not a known country: use an ISO 3166-1 alpha-2 code such as "IT", an alpha-3 code or a country name')
  }
  return country
}

function parseEndpoint(value: unknown, report: Report): string {
  const endpoint = value ?? DEFAULTS.endpoint
  const endpointProblem = checkEndpoint(endpoint)
  if (endpointProblem !== undefined) report(endpointProblem)
  return typeof endpoint === 'string' ? endpoint : DEFAULTS.endpoint
}

function parseLogger(value: unknown, report: Report): TouchpointLogger | undefined {
  if (value === undefined || isPinoCompatible(value)) return value
  report(
    "must be a pino logger (or one with the same API: debug/info/warn/error(fields, message), child(), levels.values); wrap winston, bunyan, NestJS's Logger or console with loggerFrom(): logger: loggerFrom(yourLogger), import { loggerFrom } from 'express-transactionale'",
  )
  return undefined
}

function parseRetry(value: unknown, report: Report): ResolvedRetry {
  const resolved = parseNested('retry', value, report)
  if (resolved.baseDelayMs > resolved.maxDelayMs) {
    report('baseDelayMs must not be larger than maxDelayMs', 'retry.baseDelayMs')
  }
  return resolved
}

function parseQueue(value: unknown, report: Report): ResolvedQueue {
  const { concurrency, ...numbers } = isPlainObject(value) ? value : {}
  const resolved = parseNested('queue', value === undefined || !isPlainObject(value) ? value : numbers, report)
  const limit: number | 'auto' =
    concurrency === 'auto' || concurrency === undefined
      ? DEFAULTS.queue.concurrency
      : wholeNumber(concurrency, [1, 1024], 8, report, 'queue.concurrency')
  return { ...resolved, concurrency: limit }
}

function parseDedupe(value: unknown, report: Report): ResolvedDedupe {
  const { key, ...numbers } = isPlainObject(value) ? value : {}
  const resolved = parseNested('dedupe', value === undefined || !isPlainObject(value) ? value : numbers, report)
  let dedupeKey: ResolvedDedupe['key'] = DEFAULTS.dedupe.key
  if (key === 'orderId' || key === 'email' || typeof key === 'function') {
    dedupeKey = key as ResolvedDedupe['key']
  } else if (key !== undefined) {
    report(
      `must be 'orderId', 'email' or a function (customer) => string | undefined (got ${kindOf(key)})`,
      'dedupe.key',
    )
  }
  return { ...resolved, key: dedupeKey }
}

function parseHooks(value: unknown, report: Report): Hooks {
  const hooks = value ?? {}
  if (!isPlainObject(hooks)) {
    report(`must be an object of callbacks (${HOOK_NAMES.join(', ')})`)
    return {}
  }
  for (const [name, hook] of Object.entries(hooks)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name)) {
      report(unknownName('hook', name, HOOK_NAMES), `hooks.${name}`)
    } else if (hook !== undefined && typeof hook !== 'function') {
      report(`must be a function (got ${kindOf(hook)})`, `hooks.${name}`)
    }
  }
  return hooks
}

/** What a store that our pump drives must have, and what a store with its own engine has instead. */
const QUEUE_METHODS = ['open', 'add', 'claim', 'settle', 'close']
const ENGINE_METHODS = ['start', 'counts']

function parseStore(value: unknown, report: Report): AnyStore | undefined {
  if (value === undefined) return undefined
  const store = value as Record<string, unknown>
  const has = (methods: readonly string[]): boolean => methods.every((m) => typeof store[m] === 'function')
  if (typeof value !== 'object' || value === null || !(has(QUEUE_METHODS) || has(ENGINE_METHODS))) {
    report(
      "must be a store: memoryStore() from 'express-transactionale', sqliteStore({ path }) from 'express-transactionale/sqlite' or redisStore({ connection }) from 'express-transactionale/redis'",
    )
    return undefined
  }
  return value as AnyStore
}

type NestedName = keyof typeof NESTED_BOUNDS
type ResolvedNested<N extends NestedName> = { readonly [K in keyof (typeof NESTED_BOUNDS)[N]]: number }
type ResolvedRetry = ResolvedNested<'retry'>
type ResolvedQueue = ResolvedNested<'queue'> & { readonly concurrency: number | 'auto' }
type ResolvedDedupe = ResolvedNested<'dedupe'> & { readonly key: DedupeKey }

/** Validates one nested option object against its bounds and fills in its defaults. */
function parseNested<N extends NestedName>(option: N, value: unknown, report: Report): ResolvedNested<N> {
  const bounds: Record<string, readonly [number, number]> = NESTED_BOUNDS[option]
  const defaults = DEFAULTS[option] as unknown as Record<string, number>
  const resolved: Record<string, number> = {}
  for (const key of Object.keys(bounds)) resolved[key] = defaults[key] ?? 0
  if (value === undefined) return resolved as ResolvedNested<N>
  if (!isPlainObject(value)) {
    report(`must be an object such as ${formatDefault(DEFAULTS[option]).replace(/`/g, '')}`)
    return resolved as ResolvedNested<N>
  }
  for (const [key, field] of Object.entries(value)) {
    const range = bounds[key]
    if (range === undefined) {
      report(
        unknownName('field', key, [
          ...Object.keys(bounds),
          ...(option === 'dedupe' ? ['key'] : option === 'queue' ? ['concurrency'] : []),
        ]),
        `${option}.${key}`,
      )
    } else if (field !== undefined) {
      resolved[key] = wholeNumber(field, range, resolved[key] ?? 0, report, `${option}.${key}`)
    }
  }
  return resolved as ResolvedNested<N>
}

function wholeNumber(
  value: unknown,
  [min, max]: readonly [number, number],
  fallback: number,
  report: Report,
  path?: string,
): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
  report(`must be a whole number from ${min} to ${max} (default ${fallback})`, path)
  return fallback
}

function fn(value: unknown, report: Report): ((...args: never[]) => unknown) | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'function') return value as (...args: never[]) => unknown
  report(`must be a function (got ${kindOf(value)})`)
  return undefined
}

function bool(value: unknown, report: Report): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value
  report(`must be a boolean (got ${kindOf(value)})`)
  return undefined
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `{ a: 1, b: 'x' }` as the README shows a nested default. */
function formatDefault(value: Record<string, unknown>): string {
  const fields = Object.entries(value).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`)
  return `\`{ ${fields.join(', ')} }\``
}

function checkEndpoint(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string') return `must be a URL string (got ${kindOf(endpoint)})`
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
