/**
 * Entry point `express-transactionale/redis`: the Redis store (a BullMQ queue shared by every
 * instance of the shop) and `runWorker()`, a process that only delivers. Kept apart from the main
 * entry so that only shops that use it need bullmq and ioredis (optional peer dependencies).
 */
export { redisStore } from './redis/store'
export type { RedisTouchpointStore } from './redis/store'
export type { QueueStats } from './redis/queue'
export { REDIS_STORE_DEFAULTS } from './redis/options'
export type { RedisStoreOptions, RedisConnection } from './redis/options'
export { runWorker } from './redis/run-worker'
export type { RunWorkerOptions, TouchpointWorker, WorkerStats } from './redis/run-worker'
export { openRedisOutbox } from './redis/outbox'
