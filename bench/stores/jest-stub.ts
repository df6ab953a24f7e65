// test/redis/redis-server.ts (reused for its RedisServer) picks `describe` or `describe.skip` as it
// loads; outside Jest those globals do not exist, so give it inert ones first.
const g = globalThis as { describe?: unknown }
g.describe ??= Object.assign(() => undefined, { skip: () => undefined })
export {}
