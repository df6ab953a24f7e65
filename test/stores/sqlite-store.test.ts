// The SQLite store: the store contract on a real file, then what only a file gives: mode 0600,
// group commit, several stores (processes) on one file with leases of exactly what they claim, a
// lock held by another connection that never blocks the event loop, dedupe that outlives a
// restart, delivered rows without customer data (secure_delete), a file of the previous version
// migrated, process.exit() right after an add, store errors, options, and better-sqlite3 checks.
import { spawn, spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { sqliteStore } from 'express-transactionale/sqlite'
import { TouchpointConfigError } from '../../src/errors'
import type { Settlement, StoreContext, StoredTouchpoint } from '../../src/stores/contracts'
import { createOutbox, createSqliteStore } from '../../src/stores/sqlite'
import { hashKey, SCHEMA_VERSION } from '../../src/stores/sqlite/file'
import { sqliteBuildProblem, type SqliteModule } from '../../src/stores/sqlite/load'
import { captureLogs } from '../helpers/log-capture'
import { ManualClock, until } from '../helpers/manual-clock'
import { CONTRACT_CONTEXT, contextFor, storeContract, touchpoint, type ContractStore } from './store-contract'

const dir = mkdtempSync(join(tmpdir(), 'touchpoint-sqlite-'))
let files = 0
const freshFile = (): string => join(dir, `store-${++files}.db`)

/** A fresh file in WAL mode holding the tables of an earlier schema (its frozen fixture), still open. */
function fileOfSchema(version: 1 | 2): { file: string; db: Database.Database } {
  const file = freshFile()
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec(readFileSync(join(__dirname, 'fixtures', `schema-v${version}.sql`), 'utf8'))
  return { file, db }
}

afterAll(() => rmSync(dir, { recursive: true, force: true }))

storeContract(
  'sqliteStore',
  () => {
    const path = freshFile()
    return { store: createSqliteStore({ path }), reopen: () => createSqliteStore({ path }) }
  },
  { keepsDeadLetters: true },
)

/** Reads the file as another process would. */
function peek<T>(file: string, query: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(query).all(...params) as T[]
  } finally {
    db.close()
  }
}

const email = (i: number): string => `customer-${i}@shop-example.it`
const emails = (ids: Iterable<number>): string[] => Array.from(ids, email)
/** What of `wanted` the file and its WAL hold, byte for byte (free space, stale cells, all). */
const found = (file: string, wanted: readonly string[]): string[] => {
  const wal = `${file}-wal`
  const bytes = Buffer.concat([readFileSync(file), existsSync(wal) ? readFileSync(wal) : Buffer.alloc(0)])
  // One byte a character: every e-mail in the bytes, wherever it is (a scan per e-mail is slow).
  const inFile = new Set(bytes.toString('latin1').match(/customer-\d+@shop-example\.it/g))
  return wanted.filter((e) => inFile.has(e))
}
/**
 * A TRUNCATE checkpoint from another connection: the WAL is copied back and emptied. One that meets
 * the store's checkpoint thread checkpointing (SQLite answers busy at once) is made again.
 */
const checkpoint = async (file: string): Promise<unknown> => {
  const db = new Database(file)
  try {
    for (let attempt = 1; ; attempt++) {
      const result = db.pragma('wal_checkpoint(TRUNCATE)', { simple: false }) as { busy: number }[]
      if (result[0]?.busy === 0 || attempt === 100) return result
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    db.close()
  }
}

const DELIVERED: Settlement = { kind: 'delivered' }

describe('sqliteStore', () => {
  let clock: ManualClock
  const stores: ContractStore[] = []
  const openStore = async (
    file: string,
    overrides: Partial<StoreContext> = {},
    options: { leaseMs?: number; retentionMs?: number } = {},
  ): Promise<ContractStore> => {
    const store = sqliteStore({ path: file, ...options })
    stores.push(store)
    await store.open(contextFor(clock, { maxSize: 10_000, ...overrides }))
    return store
  }
  const tp = (orderId?: string, key?: string | null) => touchpoint(clock, orderId, key)
  const claim = async (store: ContractStore, limit: number): Promise<StoredTouchpoint[]> => [
    ...(await store.claim(limit)).touchpoints,
  ]
  /** A claim as the pump makes it: one that meets another connection's lock (a compaction on the
   * checkpoint thread) is made again. */
  const claimWhenFree = async (store: ContractStore, limit: number): Promise<StoredTouchpoint[]> => {
    for (;;) {
      try {
        return await claim(store, limit)
      } catch (error) {
        if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY') !== true) throw error
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
  }
  const orders = (ts: readonly StoredTouchpoint[]) => ts.map((t) => t.orderId)

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

  test('adds arriving together share one commit; 500 buffered adds are committed at once', async () => {
    const file = freshFile()
    const store = await openStore(file)
    const batch = Array.from({ length: 499 }, (_, i) => store.add(tp(`o${i}`)))
    expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 0 }])
    batch.push(store.add(tp('o499')))
    expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 500 }])
    expect(new Set(await Promise.all(batch))).toEqual(new Set(['added']))
  })

  test('close then reopen: retries keep their due time and attempts; what was claimed is given back', async () => {
    const file = freshFile()
    const first = await openStore(file)
    for (const id of ['A', 'B', 'C']) await first.add(tp(id))
    const [a] = (await claim(first, 1)) as [StoredTouchpoint]
    const dueAt = clock.now() + 10_000
    await first.settle(a, { kind: 'retry', attempts: 2, dueAt, reason: '503' })
    expect(orders(await claim(first, 1))).toEqual(['B'])
    await first.close()
    const second = await openStore(file)
    expect(second.counts().waiting).toBe(3)
    const now = await second.claim(10)
    expect(orders(now.touchpoints)).toEqual(['B', 'C'])
    expect(now.nextDueAt).toBe(dueAt)
    clock.advance(10_000)
    expect(await claim(second, 10)).toMatchObject([{ orderId: 'A', attempts: 2, body: a.body }])
  })

  describe('two stores on one file (two processes)', () => {
    test('never claim the same touchpoint', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? one : two).add(tp(`o${i}`))))
      const seen: StoredTouchpoint[] = []
      for (;;) {
        const got = [...(await claim(one, 7)), ...(await claim(two, 5))]
        if (got.length === 0) break
        seen.push(...got)
      }
      expect(seen).toHaveLength(300)
      expect(new Set(seen.map((t) => t.id)).size).toBe(300)
    })

    test('a claim leases exactly what it returns: what the first did not claim, the other claims at once', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      for (const id of ['A', 'B', 'C', 'D', 'E']) await one.add(tp(id))
      expect(peek(file, 'SELECT COUNT(lease_owner) AS leased FROM touchpoints')).toEqual([{ leased: 0 }])
      expect(orders(await claim(one, 2))).toEqual(['A', 'B'])
      expect(peek(file, 'SELECT COUNT(lease_owner) AS leased FROM touchpoints')).toEqual([{ leased: 2 }])
      expect(orders(await claim(two, 10))).toEqual(['C', 'D', 'E'])
    })

    test('a lease that expires makes the touchpoint claimable by the other; the first can no longer settle it', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file, { leaseMs: 5000 }), await openStore(file, { leaseMs: 5000 })]
      await one.add(tp('A'))
      const [a] = (await claim(one, 1)) as [StoredTouchpoint]
      expect(await claim(two, 1)).toEqual([])
      clock.advance(4999)
      expect(await claim(two, 1)).toEqual([])
      clock.advance(1)
      const [again] = (await claim(two, 1)) as [StoredTouchpoint]
      expect(again.id).toBe(a.id)
      // The first process's late result changes nothing: the row is the second's now.
      await one.settle(a, { kind: 'failed', attempts: 1, reason: 'rejected (400)' })
      await one.settle(a, DELIVERED)
      await claim(one, 1) // commits what the first buffered
      expect(
        peek(file, 'SELECT t.state, b.body IS NOT NULL AS hasBody FROM touchpoints t JOIN bodies b ON b.id = t.id'),
      ).toEqual([{ state: 'waiting', hasBody: 1 }])
      await two.settle(again, DELIVERED)
      await claim(two, 1)
      expect(peek(file, 'SELECT state FROM touchpoints')).toEqual([{ state: 'delivered' }])
    })

    test('the leaseMs option overrides the middleware lease', async () => {
      const file = freshFile()
      const one = await openStore(file, { leaseMs: 60_000 }, { leaseMs: 2000 })
      const two = await openStore(file)
      await one.add(tp('A'))
      await claim(one, 1)
      clock.advance(2000)
      expect(await claim(two, 1)).toHaveLength(1)
    })

    test('dedupe holds across them', async () => {
      const file = freshFile()
      const [one, two] = [await openStore(file), await openStore(file)]
      expect(await one.add(tp('A'))).toBe('added')
      expect(await two.add(tp('A'))).toBe('duplicate')
      const results = await Promise.all([one.add(tp('B')), two.add(tp('B'))])
      expect(results.sort()).toEqual(['added', 'duplicate'])
    })

    test('the poll calls onAvailable for touchpoints another process stored and for expired leases', async () => {
      const file = freshFile()
      const onAvailable = jest.fn()
      const one = await openStore(file, { leaseMs: 5000 })
      const two = await openStore(file, { leaseMs: 5000, onAvailable })
      clock.advance(1000)
      expect(onAvailable).not.toHaveBeenCalled()
      await one.add(tp('A'))
      await claim(one, 1)
      clock.advance(4000)
      expect(onAvailable).not.toHaveBeenCalled()
      clock.advance(1000) // one's lease on A expires (it hangs, or it died on another machine)
      expect(onAvailable).toHaveBeenCalledTimes(1)
      expect(await claim(two, 1)).toHaveLength(1)
      await one.add(tp('B'))
      clock.advance(1000)
      expect(onAvailable).toHaveBeenCalledTimes(2)
      // Counts pick up the other process's rows at the poll.
      expect(two.counts().waiting).toBe(1)
    })

    test('the leases of a process of this machine that is gone are given back at the next open and at the poll', async () => {
      const file = freshFile()
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
      const first = await openStore(file)
      for (const id of ['A', 'B', 'C']) await first.add(tp(id))
      await first.close()
      const lease = (orderId: string, owner: string): void => {
        const db = new Database(file)
        db.prepare(
          'UPDATE touchpoints SET lease_owner = ?, lease_until = ? WHERE id = (SELECT id FROM bodies WHERE order_id = ?)',
        ).run(owner, clock.now() + 60_000, orderId)
        db.close()
      }
      lease('A', `${hostname()}/${gone}/abcdef`)
      lease('B', `${hostname()}/${process.pid}/abcdef`)
      const onAvailable = jest.fn()
      const second = await openStore(file, { onAvailable })
      // A's process is gone; B's "process" is this one, alive: its lease stands.
      expect(orders(await claim(second, 5))).toEqual(['A', 'C'])
      // A shop killed while the survivor runs: its lease is given back within a poll.
      lease('B', `${hostname()}/${gone}/fedcba`)
      clock.advance(1000)
      expect(onAvailable).toHaveBeenCalled()
      expect(orders(await claim(second, 5))).toEqual(['B'])
    })
  })

  describe('another process holds the write lock (BEGIN IMMEDIATE)', () => {
    /** A second connection, as the sqlite3 shell or a backup would hold it. */
    const hold = (file: string): (() => void) => {
      const db = new Database(file)
      db.exec('BEGIN IMMEDIATE')
      return () => {
        db.exec('COMMIT')
        db.close()
      }
    }

    test('adds are answered at once and kept, a claim fails at once; all is committed and claimable after the release', async () => {
      const file = freshFile()
      const onAvailable = jest.fn()
      const logs = captureLogs()
      const store = await openStore(file, { onAvailable, logger: logs.logger })
      await store.add(tp('A'))
      const [a] = (await claim(store, 1)) as [StoredTouchpoint]
      const release = hold(file)
      const started = performance.now()
      const results = await Promise.all(['B', 'C', 'D'].map((id) => store.add(tp(id))))
      await store.settle(a, DELIVERED)
      await expect(store.claim(5)).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) as unknown })
      // Nothing waited for the lock: busy_timeout is 0 and the retries run from timers.
      expect(performance.now() - started).toBeLessThan(200)
      expect(results).toEqual(['added', 'added', 'added'])
      expect(await store.add(tp('B'))).toBe('duplicate')
      expect(store.counts().waiting).toBe(3)
      expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 1 }])
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(onAvailable).not.toHaveBeenCalled()
      release()
      await until(() => onAvailable.mock.calls.length > 0, 'the store wakes the pump after the release', 2000)
      expect(orders(await claim(store, 5))).toEqual(['B', 'C', 'D'])
      expect(
        peek(file, 'SELECT t.state FROM touchpoints t LEFT JOIN bodies b ON b.id = t.id WHERE b.order_id IS NULL'),
      ).toEqual([{ state: 'delivered' }])
      expect(logs.lines.filter((l) => l.msg === 'touchpoint store error')[0]).toMatchObject({
        code: expect.stringMatching(/^SQLITE_BUSY/) as unknown,
        operation: expect.stringMatching(/locked by another process/) as unknown,
      })
    })

    test("the buffer is bounded: beyond maxSize an add is 'full'", async () => {
      const file = freshFile()
      const store = await openStore(file, { maxSize: 3 })
      const release = hold(file)
      try {
        expect(await Promise.all(['A', 'B', 'C', 'D'].map((id) => store.add(tp(id))))).toEqual([
          'added',
          'added',
          'added',
          'full',
        ])
      } finally {
        release()
      }
    })

    test('close() commits what waits once the lock is released', async () => {
      const file = freshFile()
      const store = await openStore(file)
      const release = hold(file)
      await store.add(tp('A'))
      const closed = store.close()
      setTimeout(release, 200)
      await closed
      expect(peek(file, 'SELECT order_id FROM bodies')).toEqual([{ order_id: 'A' }])
    })
  })

  describe('dedupe across restarts, and what a delivered touchpoint leaves', () => {
    test('within the window the same key is a duplicate after reopening; after it, it is added', async () => {
      const file = freshFile()
      const first = await openStore(file)
      await first.add(tp('A'))
      await first.settle(((await claim(first, 1)) as [StoredTouchpoint])[0], DELIVERED)
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
      for (const t of await claim(store, 2)) await store.settle(t, DELIVERED)
      await store.close()
      const rows = peek<Record<string, unknown>>(file, 'SELECT * FROM touchpoints')
      // Without a key there is nothing to keep: that row is gone.
      expect(rows).toHaveLength(1)
      // The row never held customer data: the body, order id and key were in its row of `bodies`.
      expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
        ['attempts', 'dedupe_hash', 'due_at', 'failed_at', 'id', 'last_error', 'lease_owner', 'lease_until']
          .concat(['reason', 'received_at', 'state'])
          .sort(),
      )
      expect(rows[0]).toMatchObject({ state: 'delivered', lease_owner: null, last_error: null })
      expect(rows[0]?.dedupe_hash).toEqual(expect.stringMatching(/^[\w-]{22}$/))
      // Both bodies are tombstones now (SQLite zeroed what they held), until a compaction removes them.
      expect(peek(file, 'SELECT body, order_id, dedupe_key FROM bodies')).toEqual([
        { body: null, order_id: null, dedupe_key: null },
        { body: null, order_id: null, dedupe_key: null },
      ])
    })

    /** The strict test's run: 1,000 touchpoints with e-mails added, claimed 200 at a time, delivered. */
    const deliverThousand = async (file: string): Promise<ContractStore> => {
      const store = await openStore(file)
      for (let i = 0; i < 1000; i++) {
        void store.add({ ...tp(`o${i}`, i % 2 ? email(i) : `o${i}`), body: JSON.stringify({ email: email(i) }) })
      }
      await store.add(tp('last', null))
      for (;;) {
        const batch = await claim(store, 200)
        if (batch.length === 0) break
        for (const t of batch) void store.settle(t, DELIVERED)
      }
      await claim(store, 1) // commits the last settlements
      return store
    }

    // SQLite rebuilds a b-tree page when a row outgrows it (a claim writing its lease) or when pages
    // are rebalanced after rows went, and a rebuilt page keeps stale copies of its old cells in its
    // unallocated area, which secure_delete does not zero. The bodies are therefore in rows that are
    // only appended, then shrunk (docs/decisions/0002).
    test('1,000 delivered touchpoints leave none of their e-mails in the file or its WAL (secure_delete)', async () => {
      const file = freshFile()
      const store = await deliverThousand(file)
      expect(await checkpoint(file)).toEqual([{ busy: 0, log: 0, checkpointed: 0 }])
      expect(peek(file, "SELECT COUNT(*) AS n FROM touchpoints WHERE state = 'delivered'")).toEqual([{ n: 1000 }])
      expect(found(file, emails(Array(1000).keys()))).toEqual([])
      await store.close()
      expect(found(file, emails(Array(1000).keys()))).toEqual([])
    })

    // The page layout, hence where SQLite rebuilds pages, depends on the lease owner's length
    // (host/pid/random): schema 2 left an e-mail behind with a 4- or 7-digit pid on a host named "vm".
    test.each([1, 4, 5, 6, 7])('the same with a lease owner whose pid has %i digits', async (digits) => {
      const real = process.pid
      Object.defineProperty(process, 'pid', { value: Number('7'.repeat(digits)) })
      let store: ContractStore
      try {
        store = await deliverThousand(freshFile())
      } finally {
        Object.defineProperty(process, 'pid', { value: real })
      }
      const file = (store as unknown as { options: { path: string } }).options.path
      await checkpoint(file)
      expect(found(file, emails(Array(1000).keys()))).toEqual([])
    })

    test('deliveries in any order, among retries and dead letters that stay, leave none of their e-mails', async () => {
      const file = freshFile()
      const store = await openStore(file, { maxSize: 100_000 })
      let seed = 7
      const random = (n: number): number => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n)
      const delivered = new Set<number>()
      const live = new Set<number>()
      const idOf = (t: StoredTouchpoint): number => Number(/customer-(\d+)@/.exec(t.body)?.[1])
      for (let round = 0, next = 0; round < 40; round++) {
        const adds = Array.from({ length: 100 + random(150) }, () => {
          const i = next++
          live.add(i)
          const body = JSON.stringify({ email: email(i), first_name: 'Ada', note: 'x'.repeat(random(300)) })
          return store.add({ ...tp(`o${i}`, random(2) ? `o${i}` : null), body })
        })
        await Promise.all(adds)
        const batch = await claimWhenFree(store, 100 + random(150))
        batch.sort(() => random(3) - 1)
        for (const t of batch) {
          const r = random(20)
          const outcome: Settlement =
            r < 15
              ? DELIVERED
              : r < 16
                ? { kind: 'failed', attempts: 1, reason: 'rejected (400)' }
                : { kind: 'retry', attempts: t.attempts + 1, dueAt: clock.now() + random(5000), reason: '503' }
          if (outcome.kind === 'delivered') {
            delivered.add(idOf(t))
            live.delete(idOf(t))
          }
          void store.settle(t, outcome)
        }
        clock.advance(random(1000)) // the poll runs now and then: pruning, compaction
      }
      await claimWhenFree(store, 1)
      await store.close()
      await checkpoint(file)
      expect(delivered.size).toBeGreaterThan(4000)
      expect(found(file, emails(delivered))).toEqual([])
      // The scan does find what must stay: touchpoints waiting (retries among them) and dead letters.
      expect(peek(file, "SELECT COUNT(*) AS n FROM touchpoints WHERE state <> 'delivered'")).toEqual([{ n: live.size }])
      expect(found(file, emails(live))).toHaveLength(live.size)
    })

    test('1,000 delivered touchpoints: no row and no WAL frame holds their e-mails after a checkpoint', async () => {
      const file = freshFile()
      await deliverThousand(file)
      await checkpoint(file)
      expect(statSync(`${file}-wal`).size).toBe(0)
      const rows = JSON.stringify([peek(file, 'SELECT * FROM touchpoints'), peek(file, 'SELECT * FROM bodies')])
      expect(rows).not.toMatch(/customer-\d+@/)
    })

    test('a new touchpoint never takes the id of a tombstone that outlived its row: its body is appended', async () => {
      const file = freshFile()
      const store = await openStore(file)
      await store.add(tp('A', null))
      const [a] = (await claim(store, 1)) as [StoredTouchpoint]
      await store.settle(a, DELIVERED)
      // Without a key the row went; its body stays a tombstone until a compaction.
      expect(peek(file, 'SELECT (SELECT COUNT(*) FROM touchpoints) AS rows, COUNT(*) AS bodies FROM bodies')).toEqual([
        { rows: 0, bodies: 1 },
      ])
      await store.add(tp('B'))
      const [b] = (await claim(store, 1)) as [StoredTouchpoint]
      expect(b).toMatchObject({ orderId: 'B', body: expect.stringContaining('"B@example.com"') as unknown })
      expect(Number(b.id)).toBeGreaterThan(Number(a.id))
    })

    test.each([
      ['on the checkpoint thread', {}],
      ['on the event loop when there is no thread', { load: (): SqliteModule => Database }],
    ])(
      'the poll compacts the tombstones once there are 1,000 and as many as live bodies, %s; live ones keep their ids',
      async (_, deps) => {
        const file = freshFile()
        const store = createSqliteStore({ path: file, retentionMs: 60_000 }, deps)
        stores.push(store)
        await store.open(contextFor(clock, { maxSize: 10_000 }))
        await Promise.all(Array.from({ length: 1400 }, (_, i) => store.add(tp(`o${i}`))))
        const settle = async (ts: StoredTouchpoint[], outcome: Settlement): Promise<void> => {
          await Promise.all(ts.map((t) => store.settle(t, outcome)))
        }
        const bodies = (): { live: number; tombstones: number } =>
          peek<{ live: number; tombstones: number }>(
            file,
            'SELECT COUNT(body) AS live, COUNT(*) - COUNT(body) AS tombstones FROM bodies',
          )[0] ?? { live: -1, tombstones: -1 }
        await settle(await claim(store, 900), DELIVERED)
        await settle(await claim(store, 100), { kind: 'failed', attempts: 1, reason: 'rejected (400)' })
        await settle(await claim(store, 100), { kind: 'retry', attempts: 1, dueAt: clock.now() + 60_000 })
        clock.advance(1000)
        // 900 tombstones: not yet.
        await new Promise((resolve) => setTimeout(resolve, 50))
        expect(bodies()).toEqual({ live: 500, tombstones: 900 })
        await settle(await claim(store, 100), DELIVERED)
        const live = peek<{ id: number; body: string }>(file, 'SELECT id, body FROM bodies WHERE body IS NOT NULL')
        clock.advance(1000)
        await until(() => bodies().tombstones === 0, 'the compaction', 5000)
        expect(bodies()).toEqual({ live: 400, tombstones: 0 })
        expect(peek(file, 'SELECT id, body FROM bodies')).toEqual(live)
        // Everything still works on the compacted table: waiting, retries, dead letters, dedupe.
        expect(store.counts()).toEqual({ waiting: 300, deadLetters: 100 })
        const rest = await claim(store, 1000)
        expect(orders(rest)).toEqual(Array.from({ length: 200 }, (_, i) => `o${1200 + i}`))
        await settle(rest, DELIVERED)
        expect(await store.add(tp('o0'))).toBe('duplicate')
        clock.advance(60_000)
        expect(await claim(store, 1000)).toHaveLength(100)
        // The dead letters were pruned (retentionMs): their bodies are tombstones, for the next compaction.
        expect(store.counts().deadLetters).toBe(0)
        expect(bodies()).toEqual({ live: 100, tombstones: 300 })
      },
    )

    test('delivered keys are pruned after the window by the poll; dead letters after retentionMs', async () => {
      const file = freshFile()
      const store = await openStore(file, {}, { retentionMs: 10_000 })
      await store.add(tp('A'))
      await store.add(tp('B'))
      const [a, b] = (await claim(store, 2)) as [StoredTouchpoint, StoredTouchpoint]
      await store.settle(a, DELIVERED)
      await store.settle(b, { kind: 'failed', attempts: 1, reason: 'rejected (400)' })
      await claim(store, 1)
      expect(store.counts().deadLetters).toBe(1)
      clock.advance(10_000)
      expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 2 }])
      clock.advance(1000)
      expect(peek(file, 'SELECT state FROM touchpoints')).toEqual([{ state: 'delivered' }])
      expect(store.counts().deadLetters).toBe(0)
      clock.advance(CONTRACT_CONTEXT.dedupeWindowMs)
      expect(peek(file, 'SELECT COUNT(*) AS n FROM touchpoints')).toEqual([{ n: 0 }])
    })
  })

  test('a file of the previous version (schema 1) is migrated with its touchpoints, keys and dead letters', async () => {
    const { file, db: v1 } = fileOfSchema(1)
    const now = clock.now()
    const insert = v1.prepare(
      `INSERT INTO touchpoints (body, order_id, dedupe_key, dedupe_hash, received_at, due_at, lease_owner, lease_until, state, reason, failed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    insert.run('{"n":1}', 'W1', 'W1', hashKey('W1'), now, now, null, null, 'waiting', null, null)
    // Held by a 0.1 process at insert (it leased its own adds); that process is gone.
    insert.run(
      '{"n":2}',
      'W2',
      'W2',
      hashKey('W2'),
      now,
      now,
      `${hostname()}/999999/abc`,
      now + 60_000,
      'waiting',
      null,
      null,
    )
    insert.run(null, null, null, hashKey('D1'), now, now, null, null, 'delivered', null, null)
    insert.run('{"n":4}', 'X1', 'X1', hashKey('X1'), now, now, null, null, 'dead', 'rejected (400)', now)
    v1.pragma('user_version = 1')
    v1.close()
    const store = await openStore(file)
    expect(peek(file, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }])
    expect(store.counts()).toEqual({ waiting: 2, deadLetters: 1 })
    expect(await store.add(tp('D1'))).toBe('duplicate')
    expect(await store.add(tp('W1'))).toBe('duplicate')
    expect(orders(await claim(store, 5))).toEqual(['W1', 'W2'])
  })

  test('a file of schema 2 is migrated: bodies move out, every touchpoint, key, lease and dead letter kept, old pages zeroed', async () => {
    const { file, db: v2 } = fileOfSchema(2)
    const now = clock.now()
    const insert = v2.prepare(
      `INSERT INTO touchpoints (body, order_id, dedupe_key, dedupe_hash, received_at, attempts, due_at, lease_owner,
         lease_until, state, reason, failed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const row = (orderId: string, fields: Partial<Record<'attempts' | 'owner' | 'until' | 'reason', unknown>> = {}) => [
      `{"email":"${orderId}@shop-example.it"}`,
      orderId,
      orderId,
      hashKey(orderId),
      now - 1000,
      fields.attempts ?? 0,
      now,
      fields.owner ?? null,
      fields.until ?? null,
    ]
    insert.run(...row('W1'), 'waiting', null, null, null)
    insert.run(...row('W2', { attempts: 2 }), 'waiting', null, null, '503')
    // Leased by a process on another machine: it stays leased until its lease expires.
    insert.run(...row('W3', { owner: 'elsewhere/1/abc', until: now + 60_000 }), 'waiting', null, null, null)
    insert.run(null, null, null, hashKey('D1'), now, 1, now, null, null, 'delivered', null, null, null)
    insert.run(...row('X1', { attempts: 3 }), 'dead', 'rejected (400)', now, null)
    v2.pragma('user_version = 2')
    const root =
      (v2.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'touchpoints'").pluck().get() as number) - 1
    v2.close()
    // What schema 2 could leave behind: an e-mail in the unallocated area of a page of the table.
    const bytes = readFileSync(file)
    const page = bytes.subarray(root * 4096, (root + 1) * 4096)
    const gapStart = 8 + 2 * page.readUInt16BE(3)
    expect(page.readUInt16BE(5) - gapStart).toBeGreaterThan(100)
    page.write('customer-1@shop-example.it', gapStart + 20, 'latin1')
    writeFileSync(file, bytes)
    const store = await openStore(file)
    expect(peek(file, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }])
    expect(store.counts()).toEqual({ waiting: 3, deadLetters: 1 })
    expect(await store.add(tp('D1'))).toBe('duplicate')
    expect(await store.add(tp('W1'))).toBe('duplicate')
    expect(await claim(store, 5)).toEqual([
      expect.objectContaining({ orderId: 'W1', dedupeKey: 'W1', attempts: 0, body: '{"email":"W1@shop-example.it"}' }),
      expect.objectContaining({ orderId: 'W2', dedupeKey: 'W2', attempts: 2, body: '{"email":"W2@shop-example.it"}' }),
    ])
    const outbox = createOutbox(file, { clock })
    try {
      expect(await outbox.find('W2')).toMatchObject([{ state: 'sending', attempts: 2, lastError: '503' }])
      expect(await outbox.find('W3')).toMatchObject([{ state: 'sending', body: '{"email":"W3@shop-example.it"}' }])
      expect(await outbox.list({ state: 'dead', limit: 5 })).toMatchObject([
        { orderId: 'X1', body: '{"email":"X1@shop-example.it"}', lastError: 'rejected (400)', attempts: 3 },
      ])
    } finally {
      await outbox.close()
    }
    await store.close()
    await checkpoint(file)
    const left = readFileSync(file).toString('latin1')
    expect(left).not.toContain('customer-1@shop-example.it')
    expect(left.match(/"email":"\w+@shop-example\.it"/g)?.sort()).toEqual(
      ['W1', 'W2', 'W3', 'X1'].map((id) => `"email":"${id}@shop-example.it"`),
    )
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

  test('a broken file: an add rejects with ERR_TOUCHPOINT_STORE, logged once without customer data; the rest answers', async () => {
    const file = freshFile()
    const logs = captureLogs()
    const store = await openStore(file, { logger: logs.logger })
    await store.add(tp('A'))
    const [a] = (await claim(store, 1)) as [StoredTouchpoint]
    const db = new Database(file)
    db.exec('DROP TABLE touchpoints')
    db.close()
    const failed = store.add(tp('secret-order', 'ada@example.com'))
    await expect(failed).rejects.toMatchObject({ code: 'ERR_TOUCHPOINT_STORE', name: 'TouchpointStoreError' })
    await expect(store.add(tp('B'))).rejects.toMatchObject({ code: 'ERR_TOUCHPOINT_STORE' })
    await expect(store.claim(5)).rejects.toThrow(/no such table/)
    await expect(store.settle(a, DELIVERED)).resolves.toBeUndefined()
    expect(store.waitingOrderIds?.(5)).toEqual([])
    expect(store.counts().waiting).toEqual(expect.any(Number))
    const errors = logs.lines.filter((l) => l.msg === 'touchpoint store error')
    expect(errors.filter((l) => l.operation === 'write')).toHaveLength(1)
    expect(errors[0]).toMatchObject({ store: 'sqlite', level: 50 })
    expect(logs.text()).not.toMatch(/ada@|secret-order|example\.com/)
    await expect(store.close()).resolves.toEqual([])
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
      expect(problemOf({ durability: 'x', leaseMs: 'y' })).toMatch(/3 configuration problems/)
    })

    test('a path that cannot be created is refused at once, naming the file', () => {
      const blocker = freshFile()
      spawnSync('touch', [blocker])
      expect(problemOf({ path: join(blocker, 'sub', 'x.db') })).toMatch(/cannot open the database ".*sub\/x\.db"/)
    })

    test('durability picks the sync level; both use WAL, secure_delete and no busy timeout once open', () => {
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
        expect(pragmas).toEqual(
          expect.arrayContaining(['journal_mode = WAL', `synchronous = ${level}`, 'secure_delete = ON']),
        )
        expect(pragmas.filter((p) => p.startsWith('busy_timeout')).at(-1)).toBe('busy_timeout = 0')
      }
    })
  })

  describe('which better-sqlite3 for which Node (both wrong pairs crash the process, so they are refused first)', () => {
    const installed = (name: string): string => dirname(require.resolve(`${name}/package.json`))
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

    test('better-sqlite3 13 is refused on Node 20 and accepted on Node 22 and 24', () => {
      // A copy's package.json is what tells 13 apart (its Node-API build loads on 22 and 24 only).
      const dir13 = mkdtempSync(join(dir, 'bs13-'))
      writeFileSync(join(dir13, 'package.json'), JSON.stringify({ name: 'better-sqlite3', version: '13.2.0' }))
      expect(sqliteBuildProblem(dir13, '20.20.2')).toMatch(/needs Node 22 or newer .*npm install better-sqlite3@12/)
      expect(sqliteBuildProblem(dir13, '22.23.3')).toBeUndefined()
      expect(sqliteBuildProblem(dir13, '24.21.0')).toBeUndefined()
    })

    test('a 12 binary that imports RemoveEnvironmentCleanupHook (Node ≥ 24.19 headers) is refused, one that does not is not', () => {
      const withHook = fake12(Buffer.from('\0_ZN4node28RemoveEnvironmentCleanupHookEPN2v87Isolate\0'))
      expect(sqliteBuildProblem(withHook, '24.21.0')).toMatch(/nodejs\/node#65446.*npm install better-sqlite3@13/)
      const realBinary = join(installed('better-sqlite3'), 'build', 'Release', 'better_sqlite3.node')
      const withoutHook = fake12('')
      if (existsSync(realBinary)) copyFileSync(realBinary, join(withoutHook, 'build', 'Release', 'better_sqlite3.node'))
      expect(sqliteBuildProblem(withoutHook, '22.23.3')).toBeUndefined()
      expect(sqliteBuildProblem(join(dir, 'no-such-folder'))).toBeUndefined()
    })

    test('a missing module says `npm install better-sqlite3`; one built for another Node says how to rebuild it', () => {
      const missing = (): never => {
        throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' })
      }
      expect(() => createSqliteStore({ path: freshFile() }, { load: missing })).toThrow(TouchpointConfigError)
      expect(() => createSqliteStore({ path: freshFile() }, { load: missing })).toThrow(/npm install better-sqlite3/)
      const broken = (): never => {
        throw new Error('The module was compiled against a different Node.js version')
      }
      expect(() => createSqliteStore({ path: freshFile() }, { load: broken })).toThrow(/npm rebuild better-sqlite3/)
    })
  })
})
