/**
 * Fills a durable store (BENCH_STORE: sqlite or redis) with BENCH_FILL pending touchpoints and
 * closes it, as a shop leaves its backlog at a deploy; the next shop process starts on it.
 */
import pino from 'pino'
import { systemClock } from '../../src/types'
import { sqliteStore } from '../../src/sqlite'
import { redisStore } from '../../src/redis'
import { send, wireBody } from './messages'

void (async () => {
  const store =
    process.env.BENCH_STORE === 'sqlite'
      ? sqliteStore({ path: process.env.BENCH_SQLITE_PATH as string })
      : redisStore({
          connection: process.env.BENCH_REDIS_URL as string,
          prefix: process.env.BENCH_REDIS_PREFIX as string,
          worker: false,
        })
  await store.open({
    maxSize: 100_000,
    dedupeWindowMs: 0,
    dedupeMaxEntries: 0,
    leaseMs: 60_000,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
  })
  const count = Number(process.env.BENCH_FILL)
  const now = Date.now()
  const adds = []
  for (let i = 0; i < count; i++) {
    adds.push(store.add({ body: wireBody(`pre-${i}`, 0), orderId: `pre-${i}`, dedupeKey: undefined, receivedAt: now }))
  }
  const results = await Promise.all(adds)
  await store.close()
  send({ type: 'filled', added: results.filter((r) => r === 'added').length })
  process.exit(0)
})()
