// The SQLite store: the store contract on a real file, then what only a file gives: mode 0600,
// durability across close and reopen, several stores (processes) on one file, dedupe that outlives
// a restart, delivered rows without customer data, dead letters kept and pruned, process.exit()
// right after an add, the outbox handle, store errors, and a clear error without better-sqlite3.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir, hostname } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { sqliteStore } from 'express-transactionale/sqlite'
import { TouchpointConfigError } from '../../src/errors'
import { sqliteBuildProblem, type SqliteModule } from '../../src/stores/sqlite-file'
import { createSqliteStore } from '../../src/stores/sqlite-store'
import type { StoreContext, StoredTouchpoint, TouchpointStore } from '../../src/stores/store'
import { captureLogs } from '../helpers/log-capture'
import { ManualClock, until } from '../helpers/manual-clock'
import { CONTRACT_CONTEXT, contextFor, storeContract, touchpoint } from './store-contract'

const dir = mkdtempSync(join(tmpdir(), 'touchpoint-sqlite-'))
let files = 0
const freshFile = (): string => join(dir, `store-${++files}.db`)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

storeContract('sqliteStore', () => createSqliteStore({ path: freshFile() }), { keepsDeadLetters: true })

/** Reads the file as another process would. */
function peek<T>(file: string, query: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(query).all(...params) as T[]
  } finally {
    db.close()
  }
}

describe('sqliteStore', () => {
  let clock: ManualClock
  const stores: TouchpointStore[] = []
  const openStore = async (
    file: string,
    overrides: Partial<StoreContext> = {},
    options: { leaseMs?: number; retentionMs?: number } = {},
  ): Promise<TouchpointStore> => {
    const store = sqliteStore({ path: file, ...options })
    stores.push(store)
    await store.open(contextFor(clock, { maxSize: 10_000, ...overrides }))
    return store
  }
  const tp = (orderId?: string, key?: string | null) => touchpoint(clock, orderId, key)

  beforeEach(() => {
    clock = new ManualClock()
  })
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()))
  })

  test('is durable and called sqlite', async () => {
    const store = await openStore(freshFile())
    expect(store.kind).toBe('sqlite')
    expect(store.durable).toBe(true)
  })

  test('creates the file with mode 0600 and its missing directories with 0700', async () => {
    const nested = join(dir, `new-${++files}`, 'var')
    const file = join(nested, 'transactionale.db')
    const store = await openStore(file)
    await store.add(tp('A'))
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(`${file}-wal`).mode & 0o077).toBe(0)
    expect(statSync(nested).mode & 0o777).toBe(0o700)
  })

  test('close then reopen: what was waiting is claimable, retries keep their due time and attempts', async () => {
    const file = freshFile()
    const first = await openStore(file)
    for (const id of ['A', 'B', 'C']) await first.add(tp(id))
    const [a] = (await first.claim(1)) as [StoredTouchpoint]
    const dueAt = clock.now() + 10_000
    await first.retry(a, 2, dueAt)
    const [b] = (await first.claim(1)) as [StoredTouchpoint]
    expect(b.orderId).toBe('B')
    // Claimed and neither settled nor released: close() gives the lease back.
    await first.close()

    const second = await openStore(file)
    expect(second.counts().waiting).toBe(3)
    expect(second.nextDueAt()).toBe(dueAt)
    const now = await second.claim(10)
    expect(now.map((t) => t.orderId)).toEqual(['B', 'C'])
    clock.advance(10_000)
    expect(await second.claim(10)).toMatchObject([{ orderId: 'A', attempts: 2, body: a.body }])
  })

  test('an add that is not yet committed at close() is committed by it', async () => {
    const file = freshFile()
    const store = await openStore(file)
    const added = store.add(tp('A'))
    await store.close()
    await expect(added).resolves.toBe('added')
    expect(peek(file, 'SELECT order_id FROM touchpoints')).toEqual([{ order_id: 'A' }])
  })

  test('adds arriving together share one commit; 500 buffered adds are committed at once', async () => {
    const file = freshFile()
    const store = await openStore(file)
    const batch = Array.from({ length: 499 }, (_, i) => store.add(tp(`o${i}`)))
    expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 0 }])
    batch.push(store.add(tp('o499')))
    // The 500th add committed the buffer synchronously, before any turn of the event loop.
    expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 500 }])
    expect(new Set(await Promise.all(batch))).toEqual(new Set(['added']))
  })

  test('WAL checkpoints run on a thread of their own: the file grows without the store checkpointing', async () => {
    const file = freshFile()
    const store = await openStore(file)
    const before = statSync(file).size
    // Far fewer WAL pages than SQLite's own threshold (1000): only the thread copies them back.
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 500 }, () => store.add(tp())))
    }
    await until(() => statSync(file).size > before, 'a checkpoint by the thread', 5000)
  })

  describe('two stores on one file (two processes)', () => {
    test('never claim the same touchpoint', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? one : two).add(tp(`o${i}`))))
      const seen: StoredTouchpoint[] = []
      for (;;) {
        const got = [...(await one.claim(7)), ...(await two.claim(5))]
        if (got.length === 0) break
        seen.push(...got)
      }
      expect(seen).toHaveLength(300)
      expect(new Set(seen.map((t) => t.id)).size).toBe(300)
    })

    test('a lease that expires makes the touchpoint claimable by the other; the first can no longer settle it', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file, { leaseMs: 5000 }), await openStore(file, { leaseMs: 5000 })]
      await one.add(tp('A'))
      const [a] = (await one.claim(1)) as [StoredTouchpoint]
      expect(await two.claim(1)).toEqual([])
      clock.advance(4999)
      expect(await two.claim(1)).toEqual([])
      clock.advance(1)
      const [again] = (await two.claim(1)) as [StoredTouchpoint]
      expect(again.id).toBe(a.id)
      // The first process's late result changes nothing: the row is the second's now.
      await one.failed(a, 1, 'rejected (400)')
      await one.delivered(a)
      expect(await one.deadLetters()).toEqual([])
      expect(peek(file, 'SELECT state, body IS NOT NULL AS hasBody FROM touchpoints')).toEqual([
        { state: 'waiting', hasBody: 1 },
      ])
      await two.delivered(again)
      expect(peek(file, 'SELECT state FROM touchpoints')).toEqual([{ state: 'delivered' }])
    })

    test('the leaseMs option overrides the middleware lease', async () => {
      const file = freshFile()
      const one = await openStore(file, { leaseMs: 60_000 }, { leaseMs: 2000 })
      const two = await openStore(file)
      await one.add(tp('A'))
      await one.claim(1)
      clock.advance(2000)
      expect(await two.claim(1)).toHaveLength(1)
    })

    test('dedupe holds across them', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      expect(await one.add(tp('A'))).toBe('added')
      expect(await two.add(tp('A'))).toBe('duplicate')
      const results = await Promise.all([one.add(tp('B')), two.add(tp('B'))])
      expect(results.sort()).toEqual(['added', 'duplicate'])
    })

    test('a touchpoint is sent by the process that stored it, unless it leaves it unclaimed', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      await one.add(tp('A'))
      // Stored leased to `one`, which claims it without a transaction.
      expect(await two.claim(5)).toEqual([])
      expect((await one.claim(5)).map((t) => t.orderId)).toEqual(['A'])
      await one.add(tp('B'))
      // `one` does not claim B (its pump is paused or busy): within two polls it gives it back to the file.
      clock.advance(1000)
      expect(await two.claim(5)).toEqual([])
      clock.advance(1000)
      expect((await two.claim(5)).map((t) => t.orderId)).toEqual(['B'])
      expect(await one.claim(5)).toEqual([])
    })

    test('the poll calls onAvailable for touchpoints another process left and for expired leases, and only then', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file, { leaseMs: 5000 }), await openStore(file, { leaseMs: 5000 })]
      const listener = jest.fn()
      two.onAvailable(listener)
      clock.advance(1000)
      expect(listener).not.toHaveBeenCalled()
      await one.add(tp('A'))
      await one.claim(1)
      clock.advance(4000)
      expect(listener).not.toHaveBeenCalled()
      // One's lease on A expires (it died, or its attempt hangs).
      clock.advance(1000)
      expect(listener).toHaveBeenCalledTimes(1)
      expect(await two.claim(1)).toHaveLength(1)
      clock.advance(1000)
      expect(listener).toHaveBeenCalledTimes(1)
      await one.add(tp('B'))
      clock.advance(1000)
      expect(listener).toHaveBeenCalledTimes(2)
      // Counts pick up the other process's rows at the poll.
      expect(two.counts().waiting).toBe(1)
    })

    test('a lease of a process of this machine that is gone is given back at the next open', async () => {
      const file = freshFile()
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
      const first = await openStore(file)
      await first.add(tp('A'))
      await first.add(tp('B'))
      await first.close()
      const db = new Database(file)
      db.prepare("UPDATE touchpoints SET lease_owner = ?, lease_until = ? WHERE order_id = 'A'").run(
        `${hostname()}/${gone}/abcdef`,
        clock.now() + 60_000,
      )
      db.prepare("UPDATE touchpoints SET lease_owner = ?, lease_until = ? WHERE order_id = 'B'").run(
        `${hostname()}/${process.pid}/abcdef`,
        clock.now() + 60_000,
      )
      db.close()
      const second = await openStore(file)
      // A's process is gone; B's "process" is this one, alive: its lease stands.
      expect((await second.claim(5)).map((t) => t.orderId)).toEqual(['A'])
    })
  })

  describe('dedupe across restarts', () => {
    test('within the window the same key is a duplicate after reopening; after it, it is added', async () => {
      const file = freshFile()
      const first = await openStore(file)
      await first.add(tp('A'))
      const [a] = (await first.claim(1)) as [StoredTouchpoint]
      await first.delivered(a)
      await first.close()
      const second = await openStore(file)
      clock.advance(CONTRACT_CONTEXT.dedupeWindowMs - 1)
      expect(await second.add(tp('A'))).toBe('duplicate')
      clock.advance(2)
      expect(await second.add(tp('A'))).toBe('added')
    })

    test('a delivered row keeps only a hash of the key and the time: no body, order id or key', async () => {
      const file = freshFile()
      const store = await openStore(file)
      await store.add(tp('order-1', 'ada@example.com'))
      await store.add(tp('order-2', null))
      for (const t of await store.claim(2)) await store.delivered(t)
      const rows = peek<Record<string, unknown>>(file, 'SELECT * FROM touchpoints')
      // Without a key there is nothing to keep: that row is gone.
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ state: 'delivered', body: null, order_id: null, dedupe_key: null })
      expect(rows[0]?.dedupe_hash).toEqual(expect.stringMatching(/^[\w-]{22}$/))
      expect(JSON.stringify(rows)).not.toMatch(/ada|example|order-1/)
    })

    test('delivered keys are pruned after the window by the poll', async () => {
      const file = freshFile()
      const store = await openStore(file)
      await store.add(tp('A'))
      await store.delivered(((await store.claim(1)) as [StoredTouchpoint])[0])
      clock.advance(CONTRACT_CONTEXT.dedupeWindowMs)
      expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 1 }])
      clock.advance(1000)
      expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 0 }])
    })
  })

  describe('dead letters', () => {
    test('kept with their reason across a restart, sent again, purged', async () => {
      const file = freshFile()
      const first = await openStore(file)
      await first.add(tp('A'))
      await first.add(tp('B'))
      const [a, b] = (await first.claim(2)) as [StoredTouchpoint, StoredTouchpoint]
      await first.failed(a, 1, 'rejected (400)')
      await first.failed(b, 5, 'attempts_exhausted (ECONNREFUSED)')
      await first.close()
      const second = await openStore(file)
      expect(second.counts()).toEqual({ waiting: 0, deadLetters: 2 })
      const dead = await second.deadLetters()
      expect(dead.map((d) => [d.orderId, d.reason, d.attempts])).toEqual([
        ['B', 'attempts_exhausted (ECONNREFUSED)', 5],
        ['A', 'rejected (400)', 1],
      ])
      expect(await second.retryDeadLetters([a.id])).toBe(1)
      expect(await second.claim(5)).toMatchObject([{ orderId: 'A', attempts: 0, body: a.body }])
      expect(await second.purgeDeadLetters()).toBe(1)
      expect(second.counts().deadLetters).toBe(0)
    })

    test('pruned after retentionMs', async () => {
      const file = freshFile()
      const store = await openStore(file, {}, { retentionMs: 10_000 })
      await store.add(tp('A'))
      await store.failed(((await store.claim(1)) as [StoredTouchpoint])[0], 1, 'rejected (400)')
      clock.advance(10_000)
      expect(await store.deadLetters()).toHaveLength(1)
      clock.advance(1000)
      expect(await store.deadLetters()).toEqual([])
      expect(store.counts().deadLetters).toBe(0)
    })
  })

  test('process.exit() right after adds loses none of them, and gives back the leases', async () => {
    const file = freshFile()
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', join(__dirname, 'fixtures', 'exit-after-add.ts'), file, '1200'],
      { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code).toBe(0)
    expect(
      peek(file, "SELECT COUNT(*) AS n, COUNT(lease_owner) AS leased FROM touchpoints WHERE state = 'waiting'"),
    ).toEqual([{ n: 1201, leased: 0 }])
  }, 30_000)

  test('close() removes its exit listener', async () => {
    const before = process.listenerCount('exit')
    const store = await openStore(freshFile())
    expect(process.listenerCount('exit')).toBe(before + 1)
    await store.close()
    expect(process.listenerCount('exit')).toBe(before)
  })

  describe('store errors', () => {
    test('an add rejects with ERR_TOUCHPOINT_STORE, logged once without customer data; the rest carries on', async () => {
      const file = freshFile()
      const logs = captureLogs()
      const store = await openStore(file, { logger: logs.logger })
      await store.add(tp('A'))
      const [a] = (await store.claim(1)) as [StoredTouchpoint]
      // Another process breaks the file under the running store.
      const db = new Database(file)
      db.exec('DROP TABLE touchpoints')
      db.close()
      const failed = store.add(tp('secret-order', 'ada@example.com'))
      await expect(failed).rejects.toMatchObject({ code: 'ERR_TOUCHPOINT_STORE', name: 'TouchpointStoreError' })
      await expect(failed).rejects.toThrow(/sqlite store/)
      await expect(store.add(tp('B'))).rejects.toMatchObject({ code: 'ERR_TOUCHPOINT_STORE' })
      await expect(store.claim(5)).resolves.toEqual([])
      await expect(store.delivered(a)).resolves.toBeUndefined()
      expect(store.nextDueAt()).toBeUndefined()
      expect(store.waitingOrderIds?.(5)).toEqual([])
      expect(store.counts().waiting).toEqual(expect.any(Number))
      await expect(store.deadLetters()).rejects.toMatchObject({ code: 'ERR_TOUCHPOINT_STORE' })
      const errors = logs.lines.filter((l) => l.msg === 'touchpoint store error')
      expect(errors.filter((l) => l.operation === 'write')).toHaveLength(1)
      expect(errors[0]).toMatchObject({ store: 'sqlite', level: 50 })
      expect(logs.text()).not.toMatch(/ada@|secret-order|example\.com/)
      await expect(store.close()).resolves.toBeUndefined()
    })
  })

  describe('options', () => {
    const problemOf = (options: unknown): string => {
      try {
        sqliteStore(options as never)
      } catch (error) {
        expect(error).toBeInstanceOf(TouchpointConfigError)
        expect((error as TouchpointConfigError).code).toBe('ERR_TOUCHPOINT_STORE')
        return (error as Error).message
      }
      throw new Error('no error thrown')
    }

    test.each([
      [undefined, /\(sqliteStore\): needs its options, like sqliteStore\(\{ path/],
      [{}, /sqliteStore\.path\): must be the database file's path/],
      [{ path: '' }, /sqliteStore\.path/],
      [{ path: ':memory:' }, /use memoryStore\(\)/],
      [{ path: 'x.db', retentionMs: -1 }, /sqliteStore\.retentionMs\): must be a whole number of ms from 0/],
      [{ path: 'x.db', durability: 'disk' }, /sqliteStore\.durability\): must be 'process' or 'power' \(got "disk"\)/],
      [{ path: 'x.db', leaseMs: 10 }, /sqliteStore\.leaseMs\): must be a whole number of ms from 1000/],
      [{ path: 'x.db', retention: 5 }, /unknown option "retention"; did you mean "retentionMs"\?/],
    ])('%j is refused with a message that says what to do', (options, message) => {
      expect(problemOf(options)).toMatch(message)
    })

    test('every problem at once', () => {
      const message = problemOf({ durability: 'x', leaseMs: 'y' })
      expect(message).toMatch(/3 configuration problems/)
    })

    test('a path that cannot be created is refused at once, naming the file', () => {
      const blocker = freshFile()
      spawnSync('touch', [blocker])
      expect(problemOf({ path: join(blocker, 'sub', 'x.db') })).toMatch(/cannot open the database ".*sub\/x\.db"/)
    })

    test('durability picks the sync level; both use WAL', () => {
      for (const [durability, level] of [
        [undefined, 'NORMAL'],
        ['process', 'NORMAL'],
        ['power', 'FULL'],
      ] as const) {
        const pragmas: string[] = []
        const Recording = class extends Database {
          override pragma(source: string, options?: Database.PragmaOptions): unknown {
            pragmas.push(source)
            return super.pragma(source, options)
          }
        }
        const store = createSqliteStore(
          durability === undefined ? { path: freshFile() } : { path: freshFile(), durability },
          { load: () => Recording as unknown as SqliteModule },
        )
        void store.close()
        expect(pragmas).toEqual(expect.arrayContaining(['journal_mode = WAL', `synchronous = ${level}`]))
      }
    })
  })

  describe('which better-sqlite3 for which Node (both wrong pairs crash the process, so they are refused first)', () => {
    const installed = (name: string): string => dirname(require.resolve(`${name}/package.json`))
    /** A better-sqlite3 12 folder whose binary is the given bytes. */
    const fake12 = (binary: Buffer | string): string => {
      const root = mkdtempSync(join(dir, 'bs12-'))
      mkdirSync(join(root, 'build', 'Release'), { recursive: true })
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'better-sqlite3', version: '12.11.1' }))
      writeFileSync(join(root, 'build', 'Release', 'better_sqlite3.node'), binary)
      return root
    }

    test('the better-sqlite3 this suite runs with is accepted on this Node', () => {
      expect(sqliteBuildProblem(installed('better-sqlite3'))).toBeUndefined()
    })

    test('better-sqlite3 13 (the real package) is refused on Node 20 and accepted on Node 22 and 24', () => {
      const dir13 = installed('better-sqlite3-13')
      expect(sqliteBuildProblem(dir13, '20.20.2')).toMatch(/needs Node 22 or newer .*npm install better-sqlite3@12/)
      expect(sqliteBuildProblem(dir13, '22.23.3')).toBeUndefined()
      expect(sqliteBuildProblem(dir13, '24.21.0')).toBeUndefined()
    })

    test('a 12 binary that imports RemoveEnvironmentCleanupHook (Node ≥ 24.19 headers) is refused, one that does not is not', () => {
      const withHook = fake12(
        Buffer.from(
          '\0_ZN4node25AddEnvironmentCleanupHookEPN2v87Isolate\0_ZN4node28RemoveEnvironmentCleanupHookEPN2v87Isolate\0',
        ),
      )
      expect(sqliteBuildProblem(withHook, '24.21.0')).toMatch(/nodejs\/node#65446.*npm install better-sqlite3@13/)
      // better-sqlite3 12 as built here (Node 20 headers), where the suite runs with 12.
      const realBinary = join(installed('better-sqlite3'), 'build', 'Release', 'better_sqlite3.node')
      const withoutHook = fake12('')
      if (existsSync(realBinary)) copyFileSync(realBinary, join(withoutHook, 'build', 'Release', 'better_sqlite3.node'))
      expect(sqliteBuildProblem(withoutHook, '22.23.3')).toBeUndefined()
      expect(sqliteBuildProblem(join(dir, 'no-such-folder'))).toBeUndefined()
    })
  })

  describe('without better-sqlite3', () => {
    test('a missing module is a TouchpointConfigError that says `npm install better-sqlite3`', () => {
      const missing = (): never => {
        throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' })
      }
      expect(() => createSqliteStore({ path: freshFile() }, { load: missing })).toThrow(TouchpointConfigError)
      expect(() => createSqliteStore({ path: freshFile() }, { load: missing })).toThrow(/npm install better-sqlite3/)
    })

    test('a module that fails to load (built for another Node) says how to rebuild it', () => {
      const broken = (): never => {
        throw new Error('The module was compiled against a different Node.js version')
      }
      expect(() => createSqliteStore({ path: freshFile() }, { load: broken })).toThrow(/npm rebuild better-sqlite3/)
    })
  })
})
