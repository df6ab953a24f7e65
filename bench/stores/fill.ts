/**
 * Fills a durable store (BENCH_STORE: sqlite or redis) with BENCH_FILL pending touchpoints and
 * closes it, as a shop leaves its backlog at a deploy; the next shop process starts on it. The Redis
 * store brings its own engine: it is filled through it (a store that only enqueues, `worker: false`).
 */
import pino from 'pino'
import { assembleDelivery } from '../../src/delivery/assemble'
import { resolveOptions } from '../../src/options'
import { redisStore } from '../../src/redis'
import { sqliteStore } from '../../src/sqlite'
import { systemClock } from '../../src/types'
import { send, wireBody } from './messages'

const count = Number(process.env.BENCH_FILL)
const touchpoint = (i: number, now: number) => ({
  body: wireBody(`pre-${i}`, 0),
  orderId: `pre-${i}`,
  dedupeKey: undefined,
  receivedAt: now,
})

async function fillRedis(): Promise<number> {
  const store = redisStore({
    connection: process.env.BENCH_REDIS_URL as string,
    prefix: process.env.BENCH_REDIS_PREFIX as string,
    worker: false,
    // Every add is made before the connection is up: they wait in the local buffer until it is.
    localBufferSize: 1_000_000,
  })
  const options = resolveOptions({
    apiKey: 'bench',
    route: '/',
    queue: { maxSize: 100_000 },
    logger: pino({ level: 'silent' }),
  })
  const { engine, shutdown } = assembleDelivery(options, store)
  const now = Date.now()
  await Promise.all(Array.from({ length: count }, (_, i) => engine.submit(touchpoint(i, now))))
  const { persisted } = await shutdown(0, Promise.resolve())
  return persisted
}

async function fillSqlite(): Promise<number> {
  const store = sqliteStore({ path: process.env.BENCH_SQLITE_PATH as string })
  await store.open({
    maxSize: 100_000,
    dedupeWindowMs: 0,
    dedupeMaxEntries: 0,
    leaseMs: 60_000,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    onAvailable: () => undefined,
  })
  const now = Date.now()
  const results = await Promise.all(Array.from({ length: count }, (_, i) => store.add(touchpoint(i, now))))
  await store.close()
  return results.filter((r: string) => r === 'added').length
}

void (process.env.BENCH_STORE === 'sqlite' ? fillSqlite() : fillRedis()).then((added) => {
  send({ type: 'filled', added })
  process.exit(0)
})
