// The Redis store in one shop process (the test's): its options, what a job holds and what Redis
// keeps after delivery (a hash of the dedupe key, nothing of the customer), dead letters, dedupe
// across a restart, the metrics' store gauges, and a clear error without bullmq or ioredis.
import * as bullmq from 'bullmq'
import IORedis from 'ioredis'
import { Registry } from 'prom-client'
import { TouchpointConfigError } from '../../src/errors'
import { registerMetrics } from '../../src/metrics'
import type { RedisStoreOptions } from '../../src/redis/options'
import { openRedisOutbox } from '../../src/redis/outbox'
import { dedupeId } from '../../src/redis/queue'
import { createRedisStore, redisStore } from '../../src/redis/store'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { until } from '../helpers/manual-clock'
import { API_KEY, inProcessShop } from './in-process-shop'
import { closeSharedRedis, deletePrefix, describeRedis, HAS_REDIS, sharedRedis, uniquePrefix } from './redis-server'

let url = ''
const prefixes: string[] = []
const closing: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  if (HAS_REDIS) url = await sharedRedis()
})
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})
afterAll(async () => {
  if (!HAS_REDIS) return
  for (const prefix of prefixes.splice(0)) await deletePrefix(url, prefix)
  await closeSharedRedis()
})

describe('redisStore options', () => {
  test('a missing bullmq or ioredis: ERR_TOUCHPOINT_REDIS saying what to install', () => {
    const missing = (name: string): never => {
      throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' })
    }
    for (const absent of ['bullmq', 'ioredis']) {
      let error: unknown
      try {
        createRedisStore(
          { connection: 'redis://127.0.0.1:6379' },
          { load: (name) => (name === absent ? missing(name) : name === 'bullmq' ? bullmq : IORedis) },
        )
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(TouchpointConfigError)
      expect((error as TouchpointConfigError).code).toBe('ERR_TOUCHPOINT_REDIS')
      expect((error as Error).message).toContain(`needs ${absent}`)
      expect((error as Error).message).toContain('npm install bullmq ioredis')
    }
  })

  test('every problem at once: connection (its password masked), prefix, an unknown option with a hint', () => {
    let error: unknown
    try {
      redisStore({ connection: 'http://u:hunter2@x', prefix: 'a b', workers: false } as unknown as RedisStoreOptions)
    } catch (e) {
      error = e
    }
    const problems = (error as TouchpointConfigError).problems
    expect(problems.map((p) => p.option)).toEqual(['redisStore.workers', 'redisStore.connection', 'redisStore.prefix'])
    expect(problems.every((p) => p.code === 'ERR_TOUCHPOINT_REDIS')).toBe(true)
    expect(problems[0]?.message).toContain('did you mean "worker"?')
    expect(problems[1]?.message).toContain('http://u:***@x')
    expect((error as Error).message).not.toContain('hunter2')
    expect(() => redisStore(undefined as unknown as RedisStoreOptions)).toThrow(/redisStore\(\{ connection/)
  })
})

describeRedis('redisStore in a shop', () => {
  async function shop(options: { worker: boolean; prefix?: string; api?: FakeTransactionaleApi }) {
    const prefix = options.prefix ?? uniquePrefix('shop')
    prefixes.push(prefix)
    const api = options.api ?? (await startFakeTransactionaleApi())
    if (options.api === undefined) closing.push(() => api.close())
    const { touchpoint, store, order } = inProcessShop(
      { connection: url, prefix, worker: options.worker },
      { endpoint: api.endpoint },
    )
    closing.push(() => touchpoint.close())
    return { touchpoint, store, order, prefix, api }
  }

  /** Every key of the prefix with its value(s), as text. */
  async function dump(prefix: string): Promise<Map<string, string>> {
    const client = new IORedis(url)
    const out = new Map<string, string>()
    try {
      for (const key of await client.keys(`${prefix}:*`)) {
        const type = await client.type(key)
        const value =
          type === 'string'
            ? await client.get(key)
            : type === 'hash'
              ? JSON.stringify(await client.hgetall(key))
              : type === 'list'
                ? JSON.stringify(await client.lrange(key, 0, -1))
                : type === 'zset'
                  ? JSON.stringify(await client.zrange(key, '0', '-1'))
                  : JSON.stringify(await client.xrange(key, '-', '+'))
        out.set(key, value ?? '')
      }
    } finally {
      client.disconnect()
    }
    return out
  }

  test('a job holds the wire body, the order id and receivedAt, never the API key; close() leaves it queued (persisted)', async () => {
    const { order, touchpoint, store, prefix, api } = await shop({ worker: false })
    await order('R-1')
    await touchpoint.flush()
    expect(touchpoint.stats()).toMatchObject({ queued: 0, store: { kind: 'redis' } })
    // The queue-wide count is the last one read (a poll ago at most) plus this process's adds since.
    await until(() => touchpoint.stats().store.waiting === 1, 'the count read again')
    const keys = await dump(prefix)
    const job = [...keys.entries()].find(([k]) => /:touchpoints:[0-9a-z]+\.[0-9a-z]+$/.test(k))
    const data = JSON.parse((JSON.parse(job?.[1] ?? '{}') as { data: string }).data) as Record<string, unknown>
    expect(Object.keys(data).sort()).toEqual(['body', 'orderId', 'receivedAt'])
    expect(data.orderId).toBe('R-1')
    expect(JSON.parse(data.body as string)).toMatchObject({ email: 'r-1@example.org', first_name: 'Ada' })
    for (const value of keys.values()) expect(value).not.toContain(API_KEY)
    expect(await store.queueStats()).toEqual({ waiting: 1, delayed: 0, active: 0, failed: 0 })
    const summary = await touchpoint.close()
    expect(summary.persisted).toBe(1)
    expect(api.requests).toHaveLength(0)
  })

  test('after delivery Redis keeps a hash of the dedupe key and nothing of the customer; a final 4xx is a dead letter; the metrics show the store', async () => {
    const { order, touchpoint, prefix, api } = await shop({ worker: true })
    await order('R-2')
    await touchpoint.flush()
    expect(touchpoint.stats().sent).toBe(1)
    const keys = await dump(prefix)
    for (const [key, value] of keys) {
      expect(`${key} ${value}`).not.toMatch(/example\.org|Ada|R-2/)
    }
    const dedupe = [...keys.keys()].filter((key) => key.includes(':de:'))
    expect(dedupe).toEqual([`${prefix}:touchpoints:de:${dedupeId('R-2')}`])

    api.script({ status: 400 })
    await order('R-3')
    await touchpoint.flush()
    const outbox = await openRedisOutbox(url, { prefix })
    closing.push(() => outbox.close())
    const [letter] = await outbox.list({ state: 'dead', limit: 10 })
    expect(letter).toMatchObject({ orderId: 'R-3', lastError: 'rejected (400)', attempts: 1, state: 'dead' })
    // Failed: its dedupe id is forgotten, so the order may come again.
    expect((await dump(prefix)).has(`${prefix}:touchpoints:de:${dedupeId('R-3')}`)).toBe(false)
    await until(() => touchpoint.stats().store.deadLetters === 1, 'the dead letter counted')
    const register = new Registry()
    registerMetrics(touchpoint, { register })
    const text = await register.metrics()
    expect(text).toMatch(/^transactionale_dead_letters 1$/m)
    expect(text).toMatch(/^transactionale_store_waiting 0$/m)
  })

  test('dedupe across a restart: the same order id on a new middleware (same Redis, same prefix) is a duplicate', async () => {
    const first = await shop({ worker: true })
    await first.order('R-4')
    await first.touchpoint.flush()
    await first.touchpoint.close()
    const second = await shop({ worker: true, prefix: first.prefix, api: first.api })
    await second.order('R-4')
    await second.order('R-5')
    await second.touchpoint.flush()
    expect(second.touchpoint.stats()).toMatchObject({ deduped: 1, sent: 1 })
    expect(first.api.requests).toHaveLength(2)
  })
})
