/**
 * Loads the optional peers bullmq and ioredis when a Redis store, worker or outbox is made (never at
 * import time, so `express-transactionale/redis` imports without them), and opens the ioredis
 * connections with the settings each role needs.
 */
import type * as BullMQ from 'bullmq'
import type IORedis from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { loadOptionalPeer } from '../load-dependency'
import { redisConfigError, type RedisConnection } from './options'

/** The parts of bullmq and ioredis the Redis store uses: public API only. */
export interface RedisModules {
  readonly Queue: typeof BullMQ.Queue
  readonly Worker: typeof BullMQ.Worker
  readonly UnrecoverableError: typeof BullMQ.UnrecoverableError
  readonly DelayedError: typeof BullMQ.DelayedError
  readonly Redis: typeof IORedis
}

/** Loads one module by name (tests pass one that fails). */
export type ModuleLoader = (name: 'bullmq' | 'ioredis') => unknown

/** Loads bullmq and ioredis, or throws a `TouchpointConfigError` (`ERR_TOUCHPOINT_REDIS`) saying what to install. */
export function loadRedisModules(where: string, load?: ModuleLoader): RedisModules {
  const one = <T>(name: 'bullmq' | 'ioredis'): T =>
    loadOptionalPeer<T>(
      name,
      { install: 'npm install bullmq ioredis', ...(load === undefined ? {} : { loader: () => load(name) }) },
      (message) => redisConfigError(where, message),
    )
  const { Queue, Worker, UnrecoverableError, DelayedError } = one<typeof BullMQ>('bullmq')
  const ioredis = one<{ default?: typeof IORedis } & typeof IORedis>('ioredis')
  return { Queue, Worker, UnrecoverableError, DelayedError, Redis: ioredis.default ?? ioredis }
}

/**
 * Opens one ioredis connection, named for its role. Its commands wait while Redis is unreachable (in
 * ioredis's offline queue, sent in order once it is back; a command sent but not answered is sent
 * again), as BullMQ requires of a worker and as the producer's local buffer is; it reconnects 100 ms
 * after a loss, doubling, at most 2 s apart.
 */
export function openConnection(modules: RedisModules, connection: RedisConnection, role: string): IORedis {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: `transactionale-${role}`,
  }
  // ioredis's constructor types do not accept its own RedisOptions under exactOptionalPropertyTypes.
  const client =
    typeof connection === 'string'
      ? new modules.Redis(connection, options as never)
      : new modules.Redis({ ...connection, ...options } as never)
  client.on('error', () => undefined) // every failed reconnection emits one: the store reports outages itself
  return client
}

/** Resolves once `client` is ready; rejects at once on an error `fatal` matches, else after `ms` with the last error seen. */
export function whenReady(client: IORedis, ms: number, fatal: RegExp): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let last = ''
    const done = (error?: Error): void => {
      clearTimeout(timer)
      client.off('ready', done).off('error', failed)
      return error === undefined ? resolve() : reject(error)
    }
    const failed = (error: unknown): void => {
      last = error instanceof Error ? error.message : String(error)
      if (fatal.test(last)) done(new Error(last))
    }
    const timer = setTimeout(() => done(new Error(`no answer within ${ms / 1000} s${last && ` (${last})`}`)), ms)
    if (client.status === 'ready') done()
    else client.on('ready', done).on('error', failed)
  })
}
