/**
 * The Redis options: `redisStore()`'s public type, its defaults, and one typed parser per option
 * (`connection` and `prefix` are shared with `runWorker()`), reporting every problem at once as a
 * `TouchpointConfigError` with code `ERR_TOUCHPOINT_REDIS`.
 */
import type { RedisOptions } from 'ioredis'
import { CONFIG_ERROR_CODES, TouchpointConfigError, type ConfigProblem } from '../errors'
import { parseWithTable, reportUnknownKeys } from '../did-you-mean'

/** Where Redis is: a `redis://` or `rediss://` URL, or ioredis options (`{ host, port, password, tls, … }`). */
export type RedisConnection = string | RedisOptions

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /**
   * Where Redis is: a `redis://` / `rediss://` URL (e.g. `process.env.REDIS_URL`), or ioredis
   * options. Every instance of the shop (and every `runWorker()` process) must point at the same
   * Redis and `prefix`. Required.
   */
  readonly connection: RedisConnection
  /** Prefix of every Redis key the queue uses (`<prefix>:touchpoints:*`). Defaults to `'transactionale'`. */
  readonly prefix?: string
  /**
   * `true`: this shop instance also delivers (claims touchpoints from the shared queue and sends
   * them). `false`: it only enqueues, and `runWorker()` processes deliver. Defaults to `true`.
   */
  readonly worker?: boolean
  /**
   * Touchpoints this instance holds in memory while Redis is unreachable, enqueued when it is back;
   * beyond it a touchpoint is dropped with reason `store_unavailable`. Defaults to `1000`.
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

/** Options after validation. */
export type ResolvedRedisStoreOptions = Required<RedisStoreOptions>

/** Reports one problem of the option being parsed. */
export type RedisReport = (message: string) => void

const MAX_BUFFER = 1_000_000
const MAX_RETENTION_MS = 10 * 365 * 86_400_000

/** One typed parser per option, carrying its default; the compiler checks the table against the type. */
export const REDIS_OPTION_PARSERS = {
  connection(value: unknown, report: RedisReport): RedisConnection {
    if (typeof value === 'string') {
      let url: URL | undefined
      try {
        url = new URL(value)
      } catch {
        url = undefined
      }
      if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
        report(`must be a redis:// or rediss:// URL, like 'redis://localhost:6379' (got "${maskRedisUrl(value)}")`)
      }
      return value
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      report(
        `missing: pass the Redis URL (e.g. process.env.REDIS_URL) or ioredis options like { host, port } (got ${describe(value)})`,
      )
      return {}
    }
    if (typeof (value as { duplicate?: unknown }).duplicate === 'function') {
      report('must be a URL or ioredis options, not a client: the store opens (and closes) its own connections')
      return {}
    }
    if ((value as RedisOptions).keyPrefix !== undefined) {
      report('must not set keyPrefix (BullMQ does not support it): use the prefix option instead')
    }
    return value
  },
  prefix(value: unknown = REDIS_STORE_DEFAULTS.prefix, report: RedisReport): string {
    if (typeof value !== 'string' || !/^[\x21-\x7e]{1,100}$/.test(value) || value.includes(':')) {
      report(`must be 1 to 100 printable ASCII characters without spaces or ':' (got ${describe(value)})`)
      return REDIS_STORE_DEFAULTS.prefix
    }
    return value
  },
  worker(value: unknown = REDIS_STORE_DEFAULTS.worker, report: RedisReport): boolean {
    if (typeof value !== 'boolean') {
      report(`must be a boolean (got ${describe(value)})`)
      return REDIS_STORE_DEFAULTS.worker
    }
    return value
  },
  localBufferSize(value: unknown = REDIS_STORE_DEFAULTS.localBufferSize, report: RedisReport): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_BUFFER) {
      report(`must be a whole number from 0 to ${MAX_BUFFER} (got ${describe(value)})`)
      return REDIS_STORE_DEFAULTS.localBufferSize
    }
    return value
  },
  retentionMs(value: unknown = REDIS_STORE_DEFAULTS.retentionMs, report: RedisReport): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1000 || value > MAX_RETENTION_MS) {
      report(`must be a whole number of ms from 1000 to ${MAX_RETENTION_MS} (got ${describe(value)})`)
      return REDIS_STORE_DEFAULTS.retentionMs
    }
    return value
  },
} satisfies { readonly [K in keyof RedisStoreOptions]-?: (value: unknown, report: RedisReport) => unknown }

/** Validates `redisStore()`'s options; throws a {@link TouchpointConfigError} listing every problem. */
export function resolveRedisStoreOptions(input: unknown): ResolvedRedisStoreOptions {
  const problems: ConfigProblem[] = []
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw redisConfigError([
      {
        option: 'redisStore',
        message: `needs its options, like redisStore({ connection: process.env.REDIS_URL }) (got ${describe(input)})`,
      },
    ])
  }
  const raw = input as Record<string, unknown>
  const report = (name: string, message: string): number => problems.push(redisProblem(`redisStore.${name}`, message))
  reportUnknownKeys(raw, Object.keys(REDIS_OPTION_PARSERS), report)
  const resolved = parseWithTable<ResolvedRedisStoreOptions>(REDIS_OPTION_PARSERS, raw, report)
  if (problems.length > 0) throw new TouchpointConfigError(problems)
  return resolved
}

/** A problem with code `ERR_TOUCHPOINT_REDIS`. */
export function redisProblem(option: string, message: string): ConfigProblem {
  return { option, code: CONFIG_ERROR_CODES.redis, message }
}

export function redisConfigError(problems: readonly { option: string; message: string }[]): TouchpointConfigError {
  return new TouchpointConfigError(problems.map((p) => redisProblem(p.option, p.message)))
}

/**
 * A Redis URL as it may be shown: its password masked. A private stand-in until the shared
 * `maskRedisUrl` of `src/redact.ts` lands; then this one goes.
 */
export const maskRedisUrl = (url: string): string => url.replace(/^([a-z]+:\/\/[^:@/]*:).*@/i, '$1***@').slice(0, 200)

/** @deprecated The outbox command's name for {@link maskRedisUrl}, until it moves to `src/redact.ts`. */
export const redactUrl = maskRedisUrl

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}
