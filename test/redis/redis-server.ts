// Redis for the tests: the one REDIS_URL names (as .ci/run provides), or a private redis-server
// from PATH on a free port in a temporary directory (AOF on, no RDB snapshots), stopped after the
// file. Where neither exists the Redis tests are skipped with a banner, except under CI=true, where
// a missing Redis fails the run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import IORedis from 'ioredis'

const BINARY = 'redis-server'
const INSTALL_HINT =
  'install it (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`) or set REDIS_URL=redis://HOST:PORT'

/** redis-server is on PATH (a test can start, stop and restart its own). */
export const HAS_REDIS_SERVER = spawnSync(BINARY, ['--version'], { stdio: 'ignore' }).status === 0
const FROM_ENV = process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== ''
/** Some Redis is there for the tests. */
export const HAS_REDIS = FROM_ENV || HAS_REDIS_SERVER

if (!HAS_REDIS) {
  const message = `Redis tests: no REDIS_URL and no ${BINARY} on PATH: ${INSTALL_HINT}`
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing Redis fails the run)`)
  console.warn(`\n*** SKIPPED: ${message} ***\n`)
}

/** `describe` when Redis is there, `describe.skip` (after the banner above) when it is not. */
export const describeRedis: jest.Describe = HAS_REDIS ? describe : describe.skip
/** For tests that stop or restart Redis: they need their own redis-server. */
export const describeOwnRedis: jest.Describe = HAS_REDIS_SERVER ? describe : describe.skip

/** A key prefix no other test uses. */
export function uniquePrefix(name = 't'): string {
  return `${name}${randomBytes(5).toString('hex')}`
}

/** A private redis-server: its own port and directory, AOF on. */
export class RedisServer {
  private child: ChildProcess | undefined

  private constructor(
    readonly port: number,
    readonly dir: string,
    /** More redis-server arguments, e.g. `['--requirepass', 'secret']`. */
    readonly args: readonly string[],
  ) {}

  static async start(args: readonly string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'touchpoint-redis-')), args)
    await server.start()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts (again, after stop or kill) on the same port and directory, so the AOF is replayed. */
  async start(): Promise<void> {
    const child = spawn(
      BINARY,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
        '--protected-mode',
        'no',
        ...this.args,
      ],
      { stdio: 'ignore' },
    )
    this.child = child
    const password = this.args.includes('--requirepass') ? this.args[this.args.indexOf('--requirepass') + 1] : undefined
    const client = new IORedis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...(password === undefined ? {} : { password }),
    })
    client.on('error', () => undefined)
    const started = Date.now()
    for (;;) {
      try {
        await client.connect()
        // Ready once the AOF is loaded (PING answers LOADING errors before).
        if ((await client.ping()) === 'PONG') break
      } catch {
        client.disconnect()
      }
      if (child.exitCode !== null) throw new Error(`${BINARY} exited with ${child.exitCode} on port ${this.port}`)
      if (Date.now() - started > 10_000) throw new Error(`${BINARY} did not start on port ${this.port}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    client.disconnect()
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered; `resume()` ends it. */
  pause(): void {
    this.child?.kill('SIGSTOP')
  }

  resume(): void {
    this.child?.kill('SIGCONT')
  }

  /** A clean shutdown: the AOF is flushed, as in a restart by an operator. */
  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null) return
    child.kill('SIGTERM')
    await once(child, 'exit')
    this.child = undefined
  }

  /** Stops for good and removes its directory. */
  async close(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

let shared: Promise<{ url: string; close(): Promise<void> }> | undefined

/** The Redis of this test file: REDIS_URL's, or a private server started once (closed by `closeSharedRedis`). */
export function sharedRedis(): Promise<string> {
  shared ??= FROM_ENV
    ? Promise.resolve({ url: process.env.REDIS_URL as string, close: () => Promise.resolve() })
    : RedisServer.start()
  return shared.then((s) => s.url)
}

export async function closeSharedRedis(): Promise<void> {
  const s = shared
  shared = undefined
  if (s !== undefined) await (await s).close()
}

/** Deletes every key of a prefix (tests leave nothing behind in a shared Redis). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const client = new IORedis(url, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
