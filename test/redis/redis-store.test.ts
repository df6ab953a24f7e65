// The Redis store: the store contract on a real Redis (wall-clock time), then what only Redis
// gives: one queue shared by several stores (processes), dedupe across them, the queue-wide pause,
// the local buffer while Redis is down, nothing of the customer left after delivery, and a clear
// error without bullmq or ioredis.
import express from 'express'
import * as bullmq from 'bullmq'
import IORedis from 'ioredis'
import pino from 'pino'
import request from 'supertest'
import { transactionaleTouchpoint, type TouchpointMiddleware } from '../../src'
import { TouchpointConfigError } from '../../src/errors'
import type { RedisStoreOptions } from '../../src/redis/options'
import { createRedisStore, redisStore, type RedisTouchpointStore } from '../../src/redis/store'
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'
import { until } from '../helpers/manual-clock'
import type { TouchpointStore } from '../../src/stores/store'
import { storeContract } from '../stores/store-contract'
import { closeSharedRedis, deletePrefix, describeRedis, HAS_REDIS, sharedRedis, uniquePrefix } from './redis-server'

let url = ''
const prefixes: string[] = []

beforeAll(async () => {
  if (HAS_REDIS) url = await sharedRedis()
})
afterAll(async () => {
  if (!HAS_REDIS) return
  for (const prefix of prefixes.splice(0)) await deletePrefix(url, prefix)
  await closeSharedRedis()
})

function freshStore(): TouchpointStore {
  const prefix = uniquePrefix()
  prefixes.push(prefix)
  return createRedisStore({ connection: url, prefix }, { pollMs: 200 })
}

describeRedis('redisStore', () => {
  storeContract('redisStore', freshStore, { keepsDeadLetters: true, realTime: true })
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

  test('every problem at once: connection, prefix, an unknown option with a hint', () => {
    let error: unknown
    try {
      redisStore({ connection: 'http://x', prefix: 'a b', workers: false } as unknown as RedisStoreOptions)
    } catch (e) {
      error = e
    }
    const problems = (error as TouchpointConfigError).problems
    expect(problems.map((p) => p.option)).toEqual(['redisStore.workers', 'redisStore.connection', 'redisStore.prefix'])
    expect(problems.every((p) => p.code === 'ERR_TOUCHPOINT_REDIS')).toBe(true)
    expect(problems[0]?.message).toContain('did you mean "worker"?')
    expect(() => redisStore(undefined as unknown as RedisStoreOptions)).toThrow(/redisStore\(\{ connection/)
  })
})

describeRedis('redisStore in a shop', () => {
  const API_KEY = 'secret-api-key-for-redis'
  const customer = (id: string) => ({ orderId: id, email: `${id}@example.org`, firstName: 'Ada', country: 'IT' })

  function shopWith(options: { worker: boolean; endpoint: string }): {
    app: express.Express
    touchpoint: TouchpointMiddleware
    store: RedisTouchpointStore
    prefix: string
  } {
    const prefix = uniquePrefix('shop')
    prefixes.push(prefix)
    const store = createRedisStore({ connection: url, prefix, worker: options.worker }, { pollMs: 100 })
    const touchpoint = transactionaleTouchpoint({
      apiKey: API_KEY,
      route: '/checkout',
      endpoint: options.endpoint,
      logger: pino({ level: 'silent' }),
      store,
    })
    const app = express()
    app.use(touchpoint)
    app.use(express.json())
    app.post('/checkout', (req, res) => {
      res.locals.transactionale = customer(String((req.body as { id: unknown }).id))
      res.status(201).json({ ok: true })
    })
    return { app, touchpoint, store, prefix }
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
    const api = await startFakeTransactionaleApi()
    const { app, touchpoint, store, prefix } = shopWith({ worker: false, endpoint: api.endpoint })
    await request(app).post('/checkout').send({ id: 'R-1' }).expect(201)
    await until(() => touchpoint.stats().store.waiting === 1, 'the job stored')
    const keys = await dump(prefix)
    const job = [...keys.entries()].find(([k]) => /:touchpoints:[0-9a-f]+-\w+$/.test(k))
    const data = JSON.parse((JSON.parse(job?.[1] ?? '{}') as { data: string }).data) as Record<string, unknown>
    expect(Object.keys(data).sort()).toEqual(['body', 'orderId', 'receivedAt'])
    expect(data.orderId).toBe('R-1')
    expect(JSON.parse(data.body as string)).toMatchObject({ email: 'r-1@example.org', first_name: 'Ada' })
    for (const value of keys.values()) expect(value).not.toContain(API_KEY)
    expect(await store.queueStats()).toEqual({ waiting: 1, delayed: 0, active: 0, failed: 0 })
    const summary = await touchpoint.close()
    expect(summary.persisted).toBe(1)
    expect(api.requests).toHaveLength(0)
    await api.close()
  })

  test('after delivery no customer data is left in Redis; a final 4xx is kept as a dead letter', async () => {
    const api = await startFakeTransactionaleApi()
    const { app, touchpoint, store, prefix } = shopWith({ worker: true, endpoint: api.endpoint })
    await request(app).post('/checkout').send({ id: 'R-2' }).expect(201)
    await touchpoint.flush()
    expect(touchpoint.stats().sent).toBe(1)
    for (const [key, value] of await dump(prefix)) {
      expect(`${key} ${value}`).not.toContain('@example.org')
      expect(value).not.toContain('Ada')
    }
    api.script({ status: 400 })
    await request(app).post('/checkout').send({ id: 'R-3' }).expect(201)
    await touchpoint.flush()
    const [letter] = await store.deadLetters()
    expect(letter).toMatchObject({ orderId: 'R-3', reason: 'rejected (400)', attempts: 1 })
    expect(touchpoint.stats().store.deadLetters).toBe(1)
    await touchpoint.close()
    await api.close()
  })
})
