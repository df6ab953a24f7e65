// Issue 18, finding 7: nothing the package writes carries a secret. A hostile run of a real shop —
// orders with invisible and look-alike characters, mappers and hooks that throw errors whose name and
// code quote the customer's email, an API that refuses, one that answers status 600, orders after
// close() — and of the command line — a key typed as an option, refused values, Redis URLs with
// passwords — and then every log line, every hook event, the metrics scrape and every byte the CLI
// printed are searched for the API key, the Redis password and the customers' emails
// (`logPersonalData` off). Nothing may be found.
//
// Two documented exceptions, which are the point of their channel and so are left out of the email
// search (never out of the key search): the `payload` of onSent / onFailed / onDropped (the wire body,
// given to the shop so it can send it again), and what `send` prints of the request it was asked to
// send (the operator's own input).
import net from 'node:net'
import { Writable } from 'node:stream'
import * as promClient from 'prom-client'
import request from 'supertest'
import express from 'express'
import { transactionaleTouchpoint, type Hooks, type Options, type TouchpointMiddleware } from '../src'
import { main } from '../src/cli/program'
import { registerMetrics } from '../src/metrics'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs, type LogCapture } from './helpers/log-capture'
import { createShop } from './helpers/shop'

const API_KEY = 'trx-live-9f8e7d6c5b4a3210'
const REDIS_PASSWORD = 'rEd1s-pw-5f1c0a'

/** The emails of the run: every one a distinct string, so that finding one anywhere is a leak. */
const emailOf = (n: number): string => `customer-${n}-k3q@shop-example.org`

/** Everything the run produced, by channel. */
const written = {
  logs: '',
  /** Hook events without their documented `payload`. */
  hookEvents: [] as string[],
  /** The same events whole, for the key search. */
  hookEventsWhole: [] as string[],
  metrics: '',
  cli: [] as string[],
  /** What `send` printed of requests it was asked to send. */
  cliSent: [] as string[],
  /** stats() of the two shops (the fake API's, the one answering 600). */
  stats: [] as unknown[],
  /** The CLI's exit codes, what they should be, and the requests its sends made. */
  cliCodes: [] as number[],
  cliExpectedCodes: [] as number[],
  cliRequests: 0,
}
const emails: string[] = []

/** A server that answers every POST with a status line Node's http server will not write. */
async function statusServer(status: number): Promise<{ endpoint: string; close: () => void }> {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1').startsWith('POST '))
        socket.write(`HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`)
    })
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return { endpoint: `http://127.0.0.1:${port}/api`, close: () => server.close() }
}

/** An error whose name and code quote the customer, as a database driver's might. */
function quotingError(email: string): Error {
  const error = new Error(`duplicate key ${email}`) as Error & { code: string }
  error.name = `DuplicateError for ${email}`
  error.code = `E_DUP ${email}`
  return error
}

function recordingHooks(): Hooks {
  const record = (event: object): void => {
    const { payload: _payload, ...rest } = event as { payload?: unknown }
    written.hookEvents.push(JSON.stringify(rest))
    written.hookEventsWhole.push(JSON.stringify(event))
  }
  return {
    onSent: record,
    onFailed: record,
    onDropped: record,
    onSkipped: record,
    onInvalid: (event) => {
      record(event)
      // A hook that throws an error quoting the customer: logged as hookThrew.
      throw quotingError(emails[0] ?? 'x@y.z')
    },
  }
}

async function shopRun(): Promise<void> {
  const fake: FakeTransactionaleApi = await startFakeTransactionaleApi({ apiKey: API_KEY })
  const broken = await statusServer(600)
  const logs: LogCapture = captureLogs()
  const register = new promClient.Registry()
  const customers = new Map<string, unknown>()
  let n = 0
  const order = (customer: Record<string, unknown> | (() => never)): string => {
    const id = `N-${n++}`
    customers.set(id, customer)
    return id
  }
  const base = (options: Partial<Options>): TouchpointMiddleware =>
    transactionaleTouchpoint({
      apiKey: API_KEY,
      route: '/checkout',
      logger: logs.logger,
      logPersonalData: false,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      hooks: recordingHooks(),
      mapper: (req) => {
        const customer = customers.get(String(req.headers['x-order']))
        if (typeof customer === 'function') return (customer as () => never)()
        return customer as never
      },
      ...options,
    })
  const touchpoint = base({ endpoint: fake.endpoint })
  const metrics = registerMetrics(touchpoint, { register }, { load: () => promClient })
  const failing = base({ endpoint: broken.endpoint })
  const post = async (app: express.Express, id: string): Promise<void> => {
    await request(app).post('/checkout').set('x-order', id).send({}).expect(201)
  }
  const app = createShop(express, touchpoint)
  const failingApp = createShop(express, failing)
  try {
    const valid = (i: number): Record<string, unknown> => {
      const email = emailOf(i)
      emails.push(email)
      return { email, firstName: 'Anna', lastName: 'Rossi', country: 'IT', orderId: `O-${i}` }
    }
    // Delivered, refused (400), refused for good (600), and invalid in every Unicode way.
    for (let i = 0; i < 5; i++) await post(app, order(valid(i)))
    await touchpoint.flush()
    fake.script({ status: 400 })
    await post(app, order(valid(5)))
    await touchpoint.flush()
    await post(failingApp, order(valid(6)))
    await failing.flush()
    const hostile = ['\u202e', '\u200b', '\u00ad', '\ud800', '\u00a0', '\u2028', '\uffff']
    for (const [i, char] of hostile.entries()) {
      const email = emailOf(100 + i)
      emails.push(email)
      await post(app, order({ ...valid(200 + i), email: `${email.slice(0, 4)}${char}${email.slice(4)}` }))
    }
    emails.push(emailOf(300))
    await post(app, order({ ...valid(301), email: emailOf(300).replace('a', '\u0430') }))
    // Mappers that throw errors quoting the customer, synchronously and asynchronously.
    emails.push(emailOf(400), emailOf(401))
    await post(
      app,
      order(() => {
        throw quotingError(emailOf(400))
      }),
    )
    await post(app, order((() => Promise.reject(quotingError(emailOf(401)))) as unknown as () => never))
    await touchpoint.flush()
    written.metrics = await register.metrics()
    metrics.unregister()
    await touchpoint.close({ timeoutMs: 1000 })
    // An order after close(): dropped.
    await post(app, order(valid(7)))
    await failing.close({ timeoutMs: 1000 })
    written.stats = [touchpoint.stats(), failing.stats()]
  } finally {
    broken.close()
    await fake.close()
  }
  written.logs = logs.text()
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
}

/** Runs the program in process; `expected` is the exit code the run should end with (checked later). */
async function cli(
  expected: number,
  args: readonly string[],
  options: { withKey?: boolean; sends?: boolean } = {},
): Promise<void> {
  const out: string[] = []
  const err: string[] = []
  const env = options.withKey === true ? { TRANSACTIONALE_API_KEY: API_KEY } : {}
  const code = await main(['node', 'express-transactionale', ...args], { stdout: sink(out), stderr: sink(err), env })
  written.cliCodes.push(code)
  written.cliExpectedCodes.push(expected)
  ;(options.sends === true ? written.cliSent : written.cli).push(out.join(''))
  written.cli.push(err.join(''))
}

async function cliRun(): Promise<void> {
  const fake = await startFakeTransactionaleApi({ apiKey: API_KEY })
  try {
    const customer = (n: number): string[] => {
      emails.push(emailOf(n))
      return ['--email', emailOf(n), '--first-name', 'Anna', '--country', 'IT']
    }
    await cli(0, ['send', ...customer(500), '--endpoint', fake.endpoint], { withKey: true, sends: true })
    await cli(0, ['send', ...customer(501), '--endpoint', fake.endpoint, '--json'], { withKey: true, sends: true })
    // The key where it does not belong: as an option, as a refused value.
    await cli(2, ['send', `--api-key=${API_KEY}`, ...customer(502)], { withKey: true })
    await cli(2, ['send', `-k${API_KEY}`], { withKey: true })
    await cli(2, ['send', '--timeout-ms', API_KEY, ...customer(503)], { withKey: true })
    await cli(2, ['send', `--timeout-ms=${API_KEY}`, '--json'], { withKey: true })
    await cli(2, ['fake-api', '--port', API_KEY])
    // Refused customers: the problems name the flag and the kind, never the address.
    emails.push(emailOf(504), emailOf(505))
    const bidi = ['--email', `${emailOf(504)}\u202e`, '--first-name', 'Anna', '--country', 'IT', '--dry-run']
    await cli(2, ['send', ...bidi], { withKey: true })
    const lookAlike = ['--email', emailOf(505).replace('o', '\u043e'), '--first-name', 'A', '--country', 'IT', '--json']
    await cli(2, ['send', ...lookAlike], { withKey: true })
    // Redis URLs with passwords, in the forms our own code prints.
    const urls = [
      `redis://:${REDIS_PASSWORD}@127.0.0.1:1`,
      `rediss://app:${REDIS_PASSWORD}@127.0.0.1:1/0`,
      `redis://127.0.0.1:1/?password=${REDIS_PASSWORD}`,
      `redis://127.0.0.1:1/?db=0&password=${REDIS_PASSWORD}`,
    ]
    for (const url of urls) {
      await cli(2, ['worker', `--redis=${url}`, '--bogus'], { withKey: true })
      await cli(2, ['worker', '--redis', url]) // no key: refused before connecting
      await cli(2, ['send', `--redis=${url}`], { withKey: true })
      await cli(2, ['outbox', url, 'vacuum'])
      await cli(2, [`--redis-url=${url}`])
    }
    written.cliRequests = fake.requests.length
  } finally {
    await fake.close()
  }
}

beforeAll(async () => {
  await shopRun()
  await cliRun()
}, 60_000)

describe('issue 18: a hostile run writes no secret anywhere', () => {
  const channels = (): Array<[string, string]> => [
    ['log lines', written.logs],
    ['hook events', written.hookEvents.join('\n')],
    ['metrics', written.metrics],
    ['CLI output', written.cli.join('\n')],
  ]

  test('every channel was exercised', () => {
    expect(written.stats).toMatchObject([{ sent: 5, failed: 1, invalid: 10, dropped: { closed: 1 } }, { failed: 1 }])
    expect(written.cliCodes).toEqual(written.cliExpectedCodes)
    expect(written.cliRequests).toBe(2)
    expect(written.logs).toContain('touchpoint not sent: invalid customer')
    expect(written.logs).toContain('a touchpoint hook threw')
    expect(written.logs).toContain('touchpoint not sent: the mapper threw')
    expect(written.logs).toContain('touchpoint not delivered')
    expect(written.hookEvents.length).toBeGreaterThan(15)
    expect(written.metrics).toContain('transactionale_touchpoints_total{outcome="sent"} 5')
    expect(written.cli.join('')).toContain("unknown option '--api-key'")
    expect(written.cliSent.join('')).toContain('→ POST')
    expect(emails.length).toBeGreaterThan(20)
  })

  test.each(['log lines', 'hook events', 'metrics', 'CLI output'])(
    '%s: no API key, no Redis password, no email',
    (name) => {
      const text = channels().find(([channel]) => channel === name)?.[1] ?? ''
      expect(text).not.toContain(API_KEY)
      expect(text).not.toContain(REDIS_PASSWORD)
      expect(emails.filter((email) => text.includes(email))).toEqual([])
      // Nor a piece of one: the part before the @ is unique to each.
      expect(emails.filter((email) => text.includes(email.slice(0, email.indexOf('@'))))).toEqual([])
    },
  )

  test('the API key is in none of the documented exceptions either', () => {
    expect(written.hookEventsWhole.join('\n')).not.toContain(API_KEY)
    expect(written.cliSent.join('\n')).not.toContain(API_KEY)
  })
})

describe('issue 18: a Redis URL the CLI refuses is printed with its password masked', () => {
  const captured = async (args: readonly string[]): Promise<string> => {
    const chunks: string[] = []
    const env = { TRANSACTIONALE_API_KEY: API_KEY }
    await main(['node', 'express-transactionale', ...args], { stdout: sink(chunks), stderr: sink(chunks), env })
    return chunks.join('')
  }

  test('worker --redis with a non-Redis URL and ?password=', async () => {
    expect(await captured(['worker', '--redis', `http://h/?password=${REDIS_PASSWORD}`])).not.toContain(REDIS_PASSWORD)
  })

  test('outbox with a store name that is no store', async () => {
    expect(await captured(['outbox', `http://h/?password=${REDIS_PASSWORD}`, 'stats'])).not.toContain(REDIS_PASSWORD)
  })
})
