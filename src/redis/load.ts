/**
 * Loads the optional peers bullmq and ioredis when a Redis store or worker is made (never at import
 * time, so `express-transactionale/redis` can be imported without them), and opens ioredis
 * connections with the settings each role needs.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type * as BullMQ from 'bullmq'
import type IORedisDefault from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { redisConfigError, type RedisConnection } from './options'

/** The parts of bullmq and ioredis the store uses. */
export interface RedisModules {
  readonly Queue: typeof BullMQ.Queue
  readonly Worker: typeof BullMQ.Worker
  readonly Job: typeof BullMQ.Job
  readonly UnrecoverableError: typeof BullMQ.UnrecoverableError
  readonly Redis: typeof IORedisDefault
}

/** Loads one module by name (tests pass one that fails). */
export type ModuleLoader = (name: 'bullmq' | 'ioredis') => unknown

/**
 * Requires from beside this file, so the shop's copy is found wherever our package is installed;
 * tsup's shims give the ESM build a `__filename`.
 */
const defaultLoader: ModuleLoader = (name) => {
  const from = typeof __filename === 'string' ? __filename : join(process.cwd(), 'index.js')
  return createRequire(from)(name)
}

const INSTALL = 'npm install bullmq ioredis'

/** Loads bullmq and ioredis, or throws a `TouchpointConfigError` (`ERR_TOUCHPOINT_REDIS`) saying what to install. */
export function loadRedisModules(where: string, load: ModuleLoader = defaultLoader): RedisModules {
  const bullmq = loadOne(where, 'bullmq', load) as typeof BullMQ
  const ioredis = loadOne(where, 'ioredis', load) as { default?: typeof IORedisDefault } & typeof IORedisDefault
  return {
    Queue: bullmq.Queue,
    Worker: bullmq.Worker,
    Job: bullmq.Job,
    UnrecoverableError: bullmq.UnrecoverableError,
    Redis: ioredis.default ?? ioredis,
  }
}

function loadOne(where: string, name: 'bullmq' | 'ioredis', load: ModuleLoader): unknown {
  try {
    return load(name)
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
    throw redisConfigError([
      {
        option: where,
        message: missing
          ? `needs ${name}, an optional peer dependency that is not installed: run \`${INSTALL}\` (bullmq 6 and ioredis)`
          : `could not load ${name} (${error instanceof Error ? error.message.slice(0, 200) : typeof error}): reinstall it with \`${INSTALL}\``,
      },
    ])
  }
}

/** What a connection is for: enqueueing (fails fast while Redis is down) or claiming (waits for it). */
export type ConnectionRole = 'producer' | 'worker'

/** Reconnects quickly after a Redis restart: 100 ms, doubling, at most 2 s apart. */
export function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000)
}

/**
 * Opens one ioredis connection. The producer's commands fail at once while Redis is down (the store
 * then holds touchpoints in its local buffer); the worker's wait for the reconnection, as BullMQ
 * requires of a worker (`maxRetriesPerRequest: null`).
 */
export function openConnection(
  modules: RedisModules,
  connection: RedisConnection,
  role: ConnectionRole,
): IORedisDefault {
  const overrides: RedisOptions =
    role === 'producer'
      ? {
          enableOfflineQueue: false,
          autoResendUnfulfilledCommands: false,
          maxRetriesPerRequest: 1,
          retryStrategy: reconnectDelay,
          connectionName: 'transactionale-producer',
        }
      : { maxRetriesPerRequest: null, retryStrategy: reconnectDelay, connectionName: 'transactionale-worker' }
  // ioredis's constructor types do not accept its own RedisOptions under exactOptionalPropertyTypes.
  const client =
    typeof connection === 'string'
      ? new modules.Redis(connection, overrides as never)
      : new modules.Redis({ ...connection, ...overrides } as never)
  // ioredis emits 'error' on every failed reconnection: the store reports outages itself.
  client.on('error', () => undefined)
  return client
}
