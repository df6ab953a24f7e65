// `outbox sqlite:…`, run as the real binary on real SQLite files made by the store's own API and by
// real shop processes: stats, list --waiting / --failed (paged, masked), show, retry (by id, and
// --all in pages that leave room for a live shop's orders) and purge, as text and as JSON; the
// progress bar of `retry --all` on a terminal only; usage errors.
import { spawnSync } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openOutbox } from '../../src/sqlite'
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'
import { getJson, postJson, startChildShop } from '../helpers/child-shop'
import { until } from '../helpers/manual-clock'
import { buildCli, cliPath, matching, removeCli, runCli } from './cli-binary'
import { fillOutbox } from './outbox-fixture'

const dir = mkdtempSync(join(tmpdir(), 'touchpoint-cli-outbox-'))
let files = 0
const freshFile = (): string => join(dir, `outbox-${++files}.db`)

beforeAll(() => buildCli(), 120_000)
afterAll(removeCli)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The file's counts, read by the store's own outbox handle. */
function countsOf(file: string): ReturnType<ReturnType<typeof openOutbox>['counts']> {
  const outbox = openOutbox(file)
  try {
    return outbox.counts()
  } finally {
    void outbox.close()
  }
}

const outbox = (file: string, ...args: string[]) => runCli(['outbox', `sqlite:${file}`, ...args])

describe('on a file with 3 waiting touchpoints and 4 dead letters', () => {
  let file: string
  beforeEach(async () => {
    file = freshFile()
    await fillOutbox(file, { waiting: 3, dead: 4 })
  })

  test('stats, as text and as JSON', async () => {
    const text = await outbox(file, 'stats')
    expect(text.code).toBe(0)
    expect(text.stdout).toBe(
      [
        `sqlite:${file}`,
        '  waiting       3  (0 being sent now, 0 waiting for a retry)',
        '  dead letters  4',
        '  delivered     0  (kept for the dedupe window, without customer data)',
        '',
      ].join('\n'),
    )
    const json = await outbox(file, 'stats', '--json')
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      store: `sqlite:${file}`,
      waiting: 3,
      beingSent: 0,
      delayed: 0,
      delivered: 0,
      deadLetters: 4,
    })
  })

  test('list --failed: the dead letters, newest first, as a table and as JSON, e-mails masked; --limit', async () => {
    const text = await outbox(file, 'list', '--failed')
    expect(text.code).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`sqlite:${file}: 4 dead letters`)
    expect(lines[2]).toMatch(/^ID {2}FAILED AT {17}ATTEMPTS {2}REASON {10}ORDER ID {2}EMAIL$/)
    expect(lines.slice(3).map((line) => line.split(/ {2,}/))).toEqual(
      [4, 3, 2, 1].map((n) => [String(n), matching(/^\d{4}-/), '8', 'rejected (400)', `A-${n}`, 'c***@e***.com']),
    )

    const json = await outbox(file, 'list', '--failed', '--limit', '2', '--json')
    expect(json.code).toBe(0)
    const printed = JSON.parse(json.stdout) as { total: number; deadLetters: unknown[] }
    expect(printed.total).toBe(4)
    expect(printed.deadLetters).toEqual([
      {
        id: '4',
        orderId: 'A-4',
        attempts: 8,
        reason: 'rejected (400)',
        receivedAt: matching(/Z$/),
        failedAt: matching(/Z$/),
        body: { country: 'DE', email: 'c***@e***.com', first_name: 'A***' },
      },
      expect.objectContaining({ id: '3', orderId: 'A-3' }),
    ])

    const limited = await outbox(file, 'list', '--failed', '--limit', '1')
    expect(limited.stdout.split('\n')[0]).toBe(
      `sqlite:${file}: 4 dead letters, the newest 1 shown (--limit to show more)`,
    )
    const personal = await outbox(file, 'list', '--failed', '--limit', '1', '--show-personal-data', '--json')
    expect((JSON.parse(personal.stdout) as { deadLetters: { body: unknown }[] }).deadLetters[0]?.body).toEqual({
      country: 'DE',
      email: 'c4@example.com',
      first_name: 'Anna',
    })
  })

  test('list --waiting: order id, age, attempts, last error, state; paged with --limit and --offset; --json parses', async () => {
    const text = await outbox(file, 'list', '--waiting')
    expect(text.code).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`sqlite:${file}: 3 waiting`)
    expect(lines[2]).toMatch(/^ID +ORDER ID +AGE +ATTEMPTS +STATE +LAST ERROR$/)
    expect(lines.slice(3).map((line) => line.split(/ {2,}/))).toEqual(
      [5, 6, 7].map((n) => [String(n), `A-${n}`, matching(/^\d+ s$/), '0', 'due now', '-']),
    )
    const page = await outbox(file, 'list', '--waiting', '--limit', '1', '--offset', '1')
    expect(page.stdout.split('\n')[0]).toBe(
      `sqlite:${file}: 3 waiting, 2–2 shown, oldest due first (--offset 2 for the next page)`,
    )
    const json = await outbox(file, 'list', '--waiting', '--json')
    const printed = JSON.parse(json.stdout) as { total: number; touchpoints: Record<string, unknown>[] }
    expect(printed.total).toBe(3)
    expect(printed.touchpoints[0]).toEqual({
      id: '5',
      orderId: 'A-5',
      state: 'waiting',
      beingSent: false,
      attempts: 0,
      lastError: null,
      receivedAt: matching(/Z$/),
      ageMs: expect.any(Number) as unknown,
      body: { country: 'DE', email: 'c***@e***.com', first_name: 'A***' },
    })
  })

  test('show ORDER_ID: one touchpoint, its customer fields masked unless --show-personal-data; an unknown order exits 1', async () => {
    const text = await outbox(file, 'show', 'A-6')
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`sqlite:${file}: touchpoint 6`)
    expect(text.stdout).toMatch(/order id +A-6/)
    expect(text.stdout).toMatch(/email +c\*\*\*@e\*\*\*\.com/)
    expect(text.stdout).toMatch(/first_name +A\*\*\*/)
    expect(text.stdout).toMatch(/country +DE/)
    expect(text.stdout).not.toContain('c6@example.com')
    const dead = await outbox(file, 'show', 'A-2', '--json')
    expect(JSON.parse(dead.stdout)).toMatchObject({
      ok: true,
      touchpoints: [{ orderId: 'A-2', state: 'dead', lastError: 'rejected (400)' }],
    })
    const personal = await outbox(file, 'show', 'A-6', '--show-personal-data')
    expect(personal.stdout).toMatch(/email +c6@example\.com/)
    const unknown = await outbox(file, 'show', 'nope')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no waiting touchpoint or dead letter for "nope"')
  })

  test('retry ID…: those dead letters wait again; an unknown id exits 1', async () => {
    const result = await outbox(file, 'retry', '1', '3')
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('1  sent again (due now)\n3  sent again (due now)\n')
    expect(countsOf(file)).toMatchObject({ waiting: 5, deadLetters: 2 })

    const unknown = await outbox(file, 'retry', '2', '99', '--json')
    expect(unknown.code).toBe(1)
    expect(JSON.parse(unknown.stdout)).toEqual({
      ok: false,
      store: `sqlite:${file}`,
      retried: ['2'],
      notRetried: ['99'],
    })
    expect(unknown.stderr).toBe('express-transactionale: 1 of 2 ids not sent again\n')
    expect(countsOf(file)).toMatchObject({ waiting: 6, deadLetters: 1 })
  })

  test('retry --all: every dead letter waits again; no progress bar without a terminal', async () => {
    const result = await outbox(file, 'retry', '--all')
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      `Sent 4 dead letters again: due now, delivered by a running app or worker on sqlite:${file}.\n`,
    )
    expect(result.stderr).toBe('')
    expect(countsOf(file)).toMatchObject({ waiting: 7, deadLetters: 0 })
  })

  test('purge --failed deletes the dead letters and leaves what waits', async () => {
    const result = await outbox(file, 'purge', '--failed', '--json')
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ ok: true, store: `sqlite:${file}`, purged: 4 })
    expect(countsOf(file)).toMatchObject({ waiting: 3, deadLetters: 0 })
  })

  test('usage errors exit 2 and change nothing', async () => {
    const cases: [string[], string][] = [
      [['list'], 'list needs --waiting (what waits to be sent) or --failed (the dead letters)'],
      [['list', '--waiting', '--failed'], 'list needs --waiting'],
      [['show'], 'show takes one order id'],
      [['show', 'A-1', 'A-2'], 'show takes one order id'],
      [['stats', '--waiting'], '--waiting is for list, not stats'],
      [['retry', '1', '--show-personal-data'], '--show-personal-data is for list and show, not retry'],
      [['purge'], 'purge deletes dead letters only: add --failed'],
      [['retry'], 'retry needs the ids of the dead letters to send again, or --all'],
      [['retry', '--all', '1'], 'retry takes --all or ids, not both'],
      [['stats', '--failed'], '--failed is for list and purge, not stats'],
      [['stats', '1'], 'stats takes no ids (got 1)'],
      [['list', '--failed', '--limit', '0'], "option '--limit <n>' argument is invalid"],
      [['vacuum'], 'unknown outbox action "vacuum": use stats, list, show, retry, purge'],
    ]
    for (const [args, message] of cases) {
      const result = await outbox(file, ...args)
      expect({ args, code: result.code }).toEqual({ args, code: 2 })
      expect(result.stderr).toContain(message)
    }
    expect(countsOf(file)).toMatchObject({ waiting: 3, deadLetters: 4 })
  })
})

test('retry --all over 1200 dead letters, in batches; a progress bar on a terminal, none with --json', async () => {
  const file = freshFile()
  await fillOutbox(file, { waiting: 0, dead: 1200 })
  // `script` runs the command on a pseudo-terminal, as an operator would.
  const onTerminal = spawnSync(
    'script',
    ['-qec', `"${process.execPath}" "${cliPath}" outbox "sqlite:${file}" retry --all`, '/dev/null'],
    {
      encoding: 'utf8',
    },
  )
  if (onTerminal.error !== undefined) throw onTerminal.error
  expect(onTerminal.status).toBe(0)
  expect(onTerminal.stdout).toContain('1200/1200 dead letters sent again (100%')
  expect(onTerminal.stdout).toContain('Sent 1200 dead letters again')
  expect(countsOf(file)).toMatchObject({ waiting: 1200, deadLetters: 0 })

  const again = freshFile()
  await fillOutbox(again, { waiting: 0, dead: 1200 })
  const json = spawnSync(
    'script',
    ['-qec', `"${process.execPath}" "${cliPath}" outbox "sqlite:${again}" retry --all --json`, '/dev/null'],
    {
      encoding: 'utf8',
    },
  )
  expect(json.status).toBe(0)
  expect(JSON.parse(json.stdout)).toEqual({ ok: true, store: `sqlite:${again}`, retried: 1200, stayed: 0 })
  expect(countsOf(again)).toMatchObject({ waiting: 1200, deadLetters: 0 })
})

test('a dead letter whose order was stored again stays dead: retry --all reports it and ends', async () => {
  const file = freshFile()
  await fillOutbox(file, { waiting: 0, dead: 2 })
  // Order A-1 comes again: its dedupe key is taken, so its dead letter cannot wait again.
  await fillOutbox(file, { waiting: 1, dead: 0, from: 1 })
  const result = await outbox(file, 'retry', '--all', '--json')
  expect(result.code).toBe(0)
  expect(JSON.parse(result.stdout)).toEqual({ ok: true, store: `sqlite:${file}`, retried: 1, stayed: 1 })
  expect(countsOf(file)).toMatchObject({ waiting: 2, deadLetters: 1 })
})

test('a missing file, a store that is not named, --prefix with sqlite: exit 2', async () => {
  const missing = await runCli(['outbox', `sqlite:${join(dir, 'nope.db')}`, 'stats'])
  expect(missing.code).toBe(2)
  expect(missing.stderr).toContain(`sqlite:${join(dir, 'nope.db')}: no such file`)
  const unnamed = await runCli(['outbox', 'outbox.db', 'stats', '--json'])
  expect(unnamed.code).toBe(2)
  expect(JSON.parse(unnamed.stdout)).toMatchObject({
    ok: false,
    exitCode: 2,
    error: matching(/names no store/),
  })
  const prefix = await runCli(['outbox', `sqlite:${join(dir, 'nope.db')}`, 'stats', '--prefix', 'x'])
  expect(prefix.code).toBe(2)
  expect(prefix.stderr).toContain('--prefix is for redis:// stores, not sqlite:')
})

test('list --waiting on a file whose shop cannot reach the API: the 3 orders waiting, with their attempts and last error; --json parses', async () => {
  const file = freshFile()
  const fake = await startFakeTransactionaleApi()
  await fake.stop()
  const shop = await startChildShop('test/fixtures/durable-shop.ts', { DB: file, ENDPOINT: fake.endpoint })
  try {
    for (const id of ['W-1', 'W-2', 'W-3']) expect((await postJson(shop.port, '/checkout', { id })).status).toBe(201)
    for (;;) {
      const stats = await getJson<{ retried: number }>(shop.port, '/stats')
      if (stats.retried >= 3) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const text = await outbox(file, 'list', '--waiting')
    expect(text.code).toBe(0)
    expect(text.stdout.split('\n')[0]).toBe(`sqlite:${file}: 3 waiting`)
    for (const id of ['W-1', 'W-2', 'W-3']) expect(text.stdout).toContain(id)
    expect(text.stdout).toContain('ECONNREFUSED')
    const json = await outbox(file, 'list', '--waiting', '--json')
    const printed = JSON.parse(json.stdout) as { total: number; touchpoints: { orderId: string; attempts: number }[] }
    expect(printed.total).toBe(3)
    expect(printed.touchpoints.map((t) => t.orderId).sort()).toEqual(['W-1', 'W-2', 'W-3'])
    expect(printed.touchpoints.every((t) => t.attempts >= 1)).toBe(true)
  } finally {
    await shop.kill()
    await fake.close()
  }
}, 60_000)

test('retry --all of 5,000 dead letters beside a shop with queue.maxSize 1,000 taking 100 orders/s: every live order kept, every letter sent', async () => {
  const file = freshFile()
  await fillOutbox(file, { waiting: 0, dead: 5000 })
  const fake = await startFakeTransactionaleApi()
  const shop = await startChildShop('test/fixtures/durable-shop.ts', {
    DB: file,
    ENDPOINT: fake.endpoint,
    MAX_SIZE: '1000',
  })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  try {
    let retrying = true
    let maxWaiting = 0
    const live: Promise<number>[] = []
    const load = (async () => {
      const started = Date.now()
      for (let i = 0; retrying; i++) {
        const wait = started + i * 10 - Date.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        live.push(postJson(shop.port, '/checkout', { id: `live-${i}` }, agent).then((r) => r.status))
        if (i % 20 === 0) {
          void getJson<{ store: { waiting: number } }>(shop.port, '/stats', agent).then((s) => {
            maxWaiting = Math.max(maxWaiting, s.store.waiting)
          })
        }
      }
    })()
    const result = await outbox(file, 'retry', '--all', '--json')
    retrying = false
    await load
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ ok: true, store: `sqlite:${file}`, retried: 5000, stayed: 0 })
    expect(new Set(await Promise.all(live))).toEqual(new Set([201]))
    await until(() => fake.requests.length >= 5000 + live.length, 'every letter and live order delivered', 60_000)
    const stats = await getJson<{ dropped: { total: number } }>(shop.port, '/stats')
    console.log(
      `retry --all beside a live shop: ${JSON.stringify({ liveOrders: live.length, maxWaiting, dropped: stats.dropped })}`,
    )
    expect(stats.dropped.total).toBe(0)
    expect(maxWaiting).toBeLessThan(1000)
  } finally {
    agent.destroy()
    await shop.kill()
    await fake.close()
  }
}, 120_000)
