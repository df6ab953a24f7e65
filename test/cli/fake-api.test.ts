// `fake-api`, run as the real binary: it prints its endpoint once listening, one line per
// touchpoint received (or JSON lines), answers as its flags say, and SIGTERM / SIGINT close it with
// exit code 0.
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'
import { anyNumber, buildCli, finished, matching, removeCli, runCli, startCli, waitForLine } from './cli-binary'

beforeAll(() => buildCli(), 120_000)
afterAll(removeCli)

const LISTENING = /^Fake Transactionale API listening on (http:\/\/127\.0\.0\.1:(\d+)\/api\/v1\/transaction)$/

const post = (endpoint: string, body: unknown, key = 'trx_any_key_00000000f3'): Promise<Response> =>
  fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Authorization': key },
    body: JSON.stringify(body),
  })

const touchpoint = { country: 'DE', email: 'anna@example.com', first_name: 'Anna' }

test('prints its endpoint, then each touchpoint it receives; SIGTERM closes it with exit 0', async () => {
  const child = startCli(['fake-api', '--port', '0'])
  const done = finished(child)
  const { line } = await waitForLine(child, (l) => LISTENING.test(l))
  const endpoint = LISTENING.exec(line)?.[1] ?? ''

  const printed = waitForLine(child, (l) => l.includes('POST /api/v1/transaction'))
  const response = await post(endpoint, touchpoint)
  expect(response.status).toBe(200)
  expect((await printed).line).toMatch(
    /^\d\d:\d\d:\d\d\.\d{3} {2}POST \/api\/v1\/transaction → 200 {2}\{"country":"DE","email":"anna@example\.com","first_name":"Anna"\}$/,
  )

  child.kill('SIGTERM')
  const result = await done
  expect(result.code).toBe(0)
  expect(result.signal).toBeNull()
  expect(result.stdout.trim().split('\n').at(-1)).toBe('SIGTERM: closed after 1 request.')
  expect(result.stderr).toBe('')
})

test('--json: JSON lines, --api-key answers 401 without the key, --status sets the answer; SIGINT exits 0', async () => {
  const key = 'trx_rehearsal_key_123f3'
  const child = startCli(['fake-api', '--port', '0', '--json', '--api-key', key, '--status', '503'])
  const done = finished(child)
  const listening = JSON.parse((await waitForLine(child, (l) => l.includes('"listening"'))).line) as {
    endpoint: string
    port: number
  }
  expect(listening).toEqual({
    event: 'listening',
    endpoint: matching(/^http:\/\/127\.0\.0\.1:/),
    port: anyNumber(),
  })

  const first = waitForLine(child, (l) => l.includes('"request"'))
  expect((await post(listening.endpoint, touchpoint, 'trx_other_key_0000000a1')).status).toBe(401)
  expect(JSON.parse((await first).line)).toEqual({
    event: 'request',
    at: matching(/^\d{4}-\d\d-\d\dT/),
    method: 'POST',
    path: '/api/v1/transaction',
    status: 401,
    apiKey: 'trx…a1',
    body: touchpoint,
  })

  const second = waitForLine(child, (l) => l.includes('"request"'))
  expect((await post(listening.endpoint, touchpoint, key)).status).toBe(503)
  expect(JSON.parse((await second).line)).toMatchObject({ status: 503, apiKey: 'trx…f3', body: touchpoint })

  child.kill('SIGINT')
  const result = await done
  expect(result.code).toBe(0)
  expect(result.stdout).not.toContain(key)
  expect(JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '')).toEqual({
    event: 'closed',
    signal: 'SIGINT',
    requests: 2,
  })
})

test('--latency-ms delays every answer by at least that long', async () => {
  const child = startCli(['fake-api', '--port', '0', '--latency-ms', '300'])
  const done = finished(child)
  const endpoint = LISTENING.exec((await waitForLine(child, (l) => LISTENING.test(l))).line)?.[1] ?? ''
  const started = performance.now()
  expect((await post(endpoint, touchpoint)).status).toBe(200)
  expect(performance.now() - started).toBeGreaterThanOrEqual(295)
  child.kill('SIGTERM')
  expect((await done).code).toBe(0)
})

test('a port in use: exit 1 with a hint; a bad port: exit 2', async () => {
  const busy = await startFakeTransactionaleApi()
  try {
    const inUse = await runCli(['fake-api', '--port', String(busy.port)])
    expect(inUse.code).toBe(1)
    expect(inUse.stderr).toBe(`express-transactionale: port ${busy.port} is in use: choose another with --port\n`)
  } finally {
    await busy.close()
  }
  const bad = await runCli(['fake-api', '--port', '70000'])
  expect(bad.code).toBe(2)
  expect(bad.stderr).toContain("option '--port <port>' argument is invalid. must be a whole number from 0 to 65535.")
})
