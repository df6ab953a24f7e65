/**
 * The outboxes `outbox` can open, all behind the package's `TouchpointOutbox` contract: a SQLite
 * file through `openOutbox` (`express-transactionale/sqlite`), a Redis queue through the Redis
 * entry's outbox (`express-transactionale/redis`). Every call is bounded in time, so a store that
 * does not answer fails the command instead of hanging it.
 */
import { existsSync } from 'node:fs'
import { raceDeadline, rejectAfter } from '../deadline'
import * as redisEntry from '../redis'
import { maskRedisUrl } from '../redact'
import { openOutbox } from '../sqlite'
import type { TouchpointOutbox } from '../stores/contracts'
import { systemClock } from '../types'
import { asUsageError, CliError, EXIT, usageError } from './output'

/** The outbox as the command uses it. */
export type CliOutbox = TouchpointOutbox

/** How long one store operation of a command may take before the command fails. */
const OPERATION_TIMEOUT_MS = 10_000

/** Opens the store named on the command line: `sqlite:PATH` or `redis://…` / `rediss://…`. */
export async function openStore(store: string, options: { readonly prefix?: string }): Promise<CliOutbox> {
  if (store.startsWith('sqlite:')) {
    if (options.prefix !== undefined) throw usageError('--prefix is for redis:// stores, not sqlite:')
    return bounded(openSqlite(store.slice('sqlite:'.length)))
  }
  if (/^rediss?:\/\//.test(store)) return bounded(await openRedis(store, options.prefix))
  throw usageError(
    `"${maskRedisUrl(store)}" names no store: use sqlite:PATH (e.g. sqlite:./var/transactionale.db) or redis://HOST:PORT`,
  )
}

function openSqlite(path: string): CliOutbox {
  if (path === '' || !existsSync(path)) {
    throw usageError(
      `sqlite:${path}: no such file: give the path the app passes to sqliteStore({ path }), e.g. sqlite:./var/transactionale.db`,
    )
  }
  return asUsageError(`cannot open the outbox sqlite:${path}`, {}, () => openOutbox(path))
}

async function openRedis(url: string, prefix: string | undefined): Promise<CliOutbox> {
  const name = `${maskRedisUrl(url)}${prefix === undefined ? '' : ` (prefix ${prefix})`}`
  // The Redis entry's outbox resolves once Redis answered and rejects when it does not.
  const opened = redisEntry.openRedisOutbox(url, prefix === undefined ? {} : { prefix }).catch((error: unknown) =>
    // A configuration error (a malformed URL, a bad prefix) is a usage error; the rest fails the command.
    asUsageError(`cannot open the outbox ${name}`, { connection: '<store>', prefix: '--prefix' }, (): never => {
      throw error instanceof Error ? error : new Error(String(error))
    }),
  )
  return within(opened, `${name}: cannot reach Redis`)
}

/** Every operation of `outbox` fails the command after {@link OPERATION_TIMEOUT_MS} instead of hanging. */
function bounded(outbox: CliOutbox): CliOutbox {
  const run = <T>(operation: Promise<T>): Promise<T> => within(operation, outbox.name)
  return {
    name: outbox.name,
    stats: () => run(outbox.stats()),
    list: (options) => run(outbox.list(options)),
    find: (id) => run(outbox.find(id)),
    retry: (ids) => run(outbox.retry(ids)),
    purge: (ids) => run(outbox.purge(ids)),
    close: () => raceDeadline(outbox.close(), 2000, systemClock),
  }
}

async function within<T>(operation: Promise<T>, name: string): Promise<T> {
  try {
    return await rejectAfter(operation, OPERATION_TIMEOUT_MS, `no answer within ${OPERATION_TIMEOUT_MS / 1000} s`)
  } catch (error) {
    if (error instanceof CliError) throw error
    throw new CliError(EXIT.failed, `${name}: ${error instanceof Error ? error.message : String(error)}`)
  }
}
