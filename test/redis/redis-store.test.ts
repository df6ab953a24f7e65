// The Redis store: the store contract on a real Redis (wall-clock time), then what only Redis
// gives: one queue shared by several stores (processes), dedupe across them, the queue-wide pause,
// the local buffer while Redis is down, nothing of the customer left after delivery, and a clear
// error without bullmq or ioredis.
import { createRedisStore } from '../../src/redis/store'
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
