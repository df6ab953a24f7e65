// What Redis keeps per delivered order (issue 18): the dedupe key alone — a hash of the shop's dedupe
// key naming the job id, for the dedupe window — measured as used_memory's growth over 1,000
// delivered orders on a private redis-server (after 100 first, so one-time structures do not count).
import IORedis from 'ioredis'
import { DEFAULTS } from '../../src/options'
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'
import { inProcessShop } from './in-process-shop'
import { describeOwnRedis, RedisServer, uniquePrefix } from './redis-server'

jest.setTimeout(120_000)

describeOwnRedis('Redis memory per delivered order', () => {
  test('under 250 bytes per delivered order (283 before), kept for the dedupe window', async () => {
    const redis = await RedisServer.start()
    const api = await startFakeTransactionaleApi()
    const client = new IORedis(redis.url)
    const prefix = uniquePrefix('memory')
    const { touchpoint, order } = inProcessShop(
      { connection: redis.url, prefix, worker: true },
      { endpoint: api.endpoint },
    )
    const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1])
    const deliver = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) await order(`order-${String(i).padStart(8, '0')}`)
      await touchpoint.flush()
    }
    try {
      await deliver(0, 100)
      const before = await used()
      await deliver(100, 1000)
      const perOrder = ((await used()) - before) / 1000
      const keys = await client.keys(`${prefix}:touchpoints:de:*`)
      const ttl = await client.pttl(keys[0] ?? '')
      const usage = await client.memory('USAGE', keys[0] ?? '')
      console.log(
        JSON.stringify({ bytesPerDeliveredOrder: perOrder, memoryUsageOfOneKey: usage, ttlMs: ttl, keys: keys.length }),
      )
      expect(touchpoint.stats().sent).toBe(1100)
      expect(keys).toHaveLength(1100)
      expect(ttl).toBeGreaterThan(DEFAULTS.dedupe.windowMs - 60_000)
      expect(perOrder).toBeLessThan(250)
    } finally {
      await touchpoint.close()
      client.disconnect()
      await api.close()
      await redis.close()
    }
  })
})
