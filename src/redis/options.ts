/**
 * The Redis options: `redisStore()`'s public type, its defaults, and its option table (`connection`
 * and `prefix` serve `runWorker()` too); problems have code `ERR_TOUCHPOINT_REDIS`.
 */
import type { RedisOptions } from 'ioredis'
import { CONFIG_ERROR_CODES, TouchpointConfigError } from '../errors'
import { boolean, kindOf, parseOptions, spec, wholeNumber, type OptionSpec } from '../option-parser'
import { maskRedisUrl } from '../redact'

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

function parseConnection(value: unknown, report: (message: string) => void): RedisConnection {
  if (typeof value === 'string') {
    if (!/^rediss?:$/.test(URL.canParse(value) ? new URL(value).protocol : '')) {
      report(`must be a redis:// or rediss:// URL, like 'redis://localhost:6379' (got "${maskRedisUrl(value)}")`)
    }
    return value
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report(
      `missing: pass the Redis URL (e.g. process.env.REDIS_URL) or ioredis options like { host, port } (got ${kindOf(value)})`,
    )
  } else if (typeof (value as { duplicate?: unknown }).duplicate === 'function') {
    report('must be a URL or ioredis options, not a client: the store opens (and closes) its own connections')
  } else if ((value as RedisOptions).keyPrefix !== undefined) {
    report('must not set keyPrefix (BullMQ does not support it): use the prefix option instead')
  } else return value
  return {}
}

/** `redisStore()`'s option table: each option's default as the docs show it, and its typed parser. */
export const REDIS_OPTION_TABLE = {
  connection: spec('— (required)', parseConnection),
  prefix: spec("`'transactionale'`", (value = REDIS_STORE_DEFAULTS.prefix, report): string => {
    if (typeof value === 'string' && /^[\x21-\x39\x3b-\x7e]{1,100}$/.test(value)) return value
    report(`must be 1 to 100 printable ASCII characters without spaces or ':' (got ${kindOf(value)})`)
    return REDIS_STORE_DEFAULTS.prefix
  }),
  worker: spec('`true`', boolean(REDIS_STORE_DEFAULTS.worker)),
  localBufferSize: spec('`1000`', wholeNumber(REDIS_STORE_DEFAULTS.localBufferSize, [0, 1_000_000])),
  retentionMs: spec(
    '`604800000` (7 d)',
    wholeNumber(REDIS_STORE_DEFAULTS.retentionMs, [1000, 10 * 365 * 86_400_000], ' of ms'),
  ),
} satisfies { readonly [K in keyof RedisStoreOptions]-?: OptionSpec<ResolvedRedisStoreOptions[K]> }

/** Validates `redisStore()`'s options; throws a {@link TouchpointConfigError} listing every problem. */
export function resolveRedisStoreOptions(input: unknown): ResolvedRedisStoreOptions {
  return parseOptions(input, REDIS_OPTION_TABLE, {
    notAnObject: 'needs its options, like redisStore({ connection: process.env.REDIS_URL })',
    code: () => CONFIG_ERROR_CODES.redis,
    path: (path) => (path === 'options' ? 'redisStore' : `redisStore.${path}`),
  })
}

/** One problem with code `ERR_TOUCHPOINT_REDIS`, as an error. */
export const redisConfigError = (option: string, message: string): TouchpointConfigError =>
  new TouchpointConfigError([{ option, code: CONFIG_ERROR_CODES.redis, message }])
