/**
 * The Redis options: `redisStore()`'s public type, its defaults, and one typed parser per option
 * (`connection` and `prefix` serve `runWorker()` too), every problem reported at once as a
 * `TouchpointConfigError` with code `ERR_TOUCHPOINT_REDIS`.
 */
import { maskRedisUrl } from '../redact'
import type { RedisOptions } from 'ioredis'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'
import { parseOptions, spec, type OptionSpec } from '../option-parser'

/** Where Redis is: a `redis://` or `rediss://` URL, or ioredis options (`{ host, port, password, tls, … }`). */
export type RedisConnection = string | RedisOptions

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /**
   * Where Redis is: a `redis://` / `rediss://` URL (e.g. `process.env.REDIS_URL`), or ioredis options.
   * Every instance of the shop (and every `runWorker()` process) must use the same Redis and `prefix`. Required.
   */
  readonly connection: RedisConnection
  /** Prefix of every Redis key the queue uses (`<prefix>:touchpoints:*`). Defaults to `'transactionale'`. */
  readonly prefix?: string
  /** `true`: this instance also delivers from the shared queue; `false`: it only enqueues (`runWorker()` delivers). Defaults to `true`. */
  readonly worker?: boolean
  /**
   * Touchpoints this instance holds in memory while Redis is unreachable, enqueued when it is back; beyond
   * it a touchpoint is dropped with reason `store_unavailable`. Defaults to `1000`.
   */
  readonly localBufferSize?: number
  /** How long a dead letter (failed for good) stays in Redis, in ms. Defaults to 7 days (`604800000`). */
  readonly retentionMs?: number
}

/** The defaults of {@link RedisStoreOptions}. */
export const REDIS_STORE_DEFAULTS = {
  prefix: 'transactionale',
  worker: true,
  localBufferSize: 1000,
  retentionMs: 7 * 86_400_000,
} as const satisfies Partial<Record<keyof RedisStoreOptions, unknown>>

export type ResolvedRedisStoreOptions = Required<RedisStoreOptions>
type Report = (message: string) => void

/** A whole number from `min` to `max`, or its default. */
const whole =
  (fallback: number, min: number, max: number, unit = '') =>
  (value: unknown = fallback, report: Report): number => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
    report(`must be a whole number${unit} from ${min} to ${max} (got ${describe(value)})`)
    return fallback
  }

/** One typed parser per option, carrying its default; the compiler checks the table against the type. */
const PARSERS = {
  connection: (value: unknown, report: Report): RedisConnection => {
    if (typeof value === 'string') {
      if (!/^rediss?:$/.test(URL.canParse(value) ? new URL(value).protocol : '')) {
        report(`must be a redis:// or rediss:// URL, like 'redis://localhost:6379' (got "${maskRedisUrl(value)}")`)
      }
      return value
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      report(
        `missing: pass the Redis URL (e.g. process.env.REDIS_URL) or ioredis options like { host, port } (got ${describe(value)})`,
      )
    } else if (typeof (value as { duplicate?: unknown }).duplicate === 'function') {
      report('must be a URL or ioredis options, not a client: the store opens (and closes) its own connections')
    } else if ((value as RedisOptions).keyPrefix !== undefined) {
      report('must not set keyPrefix (BullMQ does not support it): use the prefix option instead')
    } else return value
    return {}
  },
  prefix: (value: unknown = REDIS_STORE_DEFAULTS.prefix, report: Report): string => {
    if (typeof value === 'string' && /^[\x21-\x39\x3b-\x7e]{1,100}$/.test(value)) return value
    report(`must be 1 to 100 printable ASCII characters without spaces or ':' (got ${describe(value)})`)
    return REDIS_STORE_DEFAULTS.prefix
  },
  worker: (value: unknown = REDIS_STORE_DEFAULTS.worker, report: Report): boolean => {
    if (typeof value === 'boolean') return value
    report(`must be a boolean (got ${describe(value)})`)
    return REDIS_STORE_DEFAULTS.worker
  },
  localBufferSize: whole(REDIS_STORE_DEFAULTS.localBufferSize, 0, 1_000_000),
  retentionMs: whole(REDIS_STORE_DEFAULTS.retentionMs, 1000, 10 * 365 * 86_400_000, ' of ms'),
} satisfies { readonly [K in keyof RedisStoreOptions]-?: (value: unknown, report: Report) => unknown }

/** `redisStore()`'s option table: each option's default as the docs show it, and its parser. */
export const REDIS_OPTION_TABLE = {
  connection: spec('— (required)', PARSERS.connection),
  prefix: spec("`'transactionale'`", PARSERS.prefix),
  worker: spec('`true`', PARSERS.worker),
  localBufferSize: spec('`1000`', PARSERS.localBufferSize),
  retentionMs: spec('`604800000` (7 d)', PARSERS.retentionMs),
} satisfies { readonly [K in keyof RedisStoreOptions]-?: OptionSpec<ResolvedRedisStoreOptions[K]> }

/** Validates `redisStore()`'s options; throws a {@link TouchpointConfigError} listing every problem. */
export function resolveRedisStoreOptions(input: unknown): ResolvedRedisStoreOptions {
  return parseOptions(input, REDIS_OPTION_TABLE, {
    notAnObject: 'needs its options, like redisStore({ connection: process.env.REDIS_URL })',
    code: () => CONFIG_ERROR_CODES.redis,
    path: (path) => (path === 'options' ? 'redisStore' : `redisStore.${path}`),
  })
}

/** Problems with code `ERR_TOUCHPOINT_REDIS`, as one error. */
export const redisConfigError = (problems: readonly { option: string; message: string }[]): TouchpointConfigError =>
  new TouchpointConfigError(
    problems.map((p) => ({ option: p.option, code: CONFIG_ERROR_CODES.redis, message: p.message })),
  )

export { maskRedisUrl }

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
