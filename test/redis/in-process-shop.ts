// A shop in the test's own process on a Redis store: Express + the middleware, POST /checkout
// {"id"} completes an order (its email `<id>@example.org`), answered through supertest.
import express from 'express'
import pino from 'pino'
import request from 'supertest'
import { transactionaleTouchpoint, type Options, type TouchpointMiddleware } from '../../src'
import type { RedisStoreOptions } from '../../src/redis/options'
import { createRedisStore, type RedisStoreInternals, type RedisTouchpointStore } from '../../src/redis/store'

export interface InProcessShop {
  readonly touchpoint: TouchpointMiddleware
  readonly store: RedisTouchpointStore
  /** Posts one order; resolves once it is answered (201). */
  readonly order: (id: string) => Promise<void>
}

export const API_KEY = 'secret-api-key-for-redis'

export function inProcessShop(
  store: RedisStoreOptions & { readonly internals?: RedisStoreInternals },
  options: Partial<Options> & { readonly endpoint: string },
): InProcessShop {
  const { internals = { pollMs: 100 }, ...storeOptions } = store
  const redis = createRedisStore(storeOptions, internals)
  const touchpoint = transactionaleTouchpoint({
    apiKey: API_KEY,
    route: '/checkout',
    logger: pino({ level: 'silent' }),
    ...options,
    store: redis,
  })
  const app = express()
  app.use(touchpoint)
  app.use(express.json())
  app.post('/checkout', (req, res) => {
    const id = String((req.body as { id: unknown }).id)
    res.locals.transactionale = { orderId: id, email: `${id}@example.org`, firstName: 'Ada', country: 'IT' }
    res.status(201).json({ ok: true })
  })
  return {
    touchpoint,
    store: redis,
    order: async (id) => void (await request(app).post('/checkout').send({ id }).expect(201)),
  }
}
