// express-transactionale/nest in a real NestJS 11 app (Express platform) over HTTP: global prefix
// 'api', TransactionaleModule.forRootAsync() with ConfigService, a controller that returns the order.
import 'reflect-metadata'
import request from 'supertest'
import { Logger, type LoggerService } from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { loggerFrom, transactionaleTouchpoint } from '../src'
import { TRANSACTIONALE_TOUCHPOINT, type TransactionaleTouchpoint } from '../src/nest'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { startChildShop } from './helpers/child-shop'
import { createNestShop, type Order } from './fixtures/nest-shop'

interface NestLine {
  level: string
  message: string
  context: unknown
}

/** The app's LoggerService: what Nest's Logger prints goes here. */
function captureNestLogs(): LoggerService & { lines: NestLine[] } {
  const lines: NestLine[] = []
  const record =
    (level: string) =>
    (message: unknown, ...rest: unknown[]): void =>
      void lines.push({ level, message: String(message), context: rest[rest.length - 1] })
  return {
    lines,
    log: record('log'),
    warn: record('warn'),
    error: record('error'),
    debug: record('debug'),
    verbose: record('verbose'),
    fatal: record('fatal'),
  }
}

describe('TransactionaleModule in a NestJS 11 app', () => {
  let fake: FakeTransactionaleApi
  let app: NestExpressApplication | undefined
  let logs: ReturnType<typeof captureNestLogs>

  const start = async (): Promise<NestExpressApplication> => {
    app = await createNestShop({ TRANSACTIONALE_API_KEY: 'nest-key', TRANSACTIONALE_ENDPOINT: fake.endpoint }, logs)
    await app.listen(0, '127.0.0.1')
    return app
  }

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: 'nest-key' })
    logs = captureNestLogs()
  })
  afterEach(async () => {
    await app?.close()
    app = undefined
    Logger.overrideLogger(true)
    await fake.close()
  })

  test("one touchpoint per order at the API; the prefix is honoured; the touchpoint is injectable; Nest's Logger gets the lines", async () => {
    const nest = await start()
    const server = nest.getHttpServer()
    for (const id of ['n-1', 'n-2', 'n-3']) {
      const res = await request(server)
        .post('/api/orders/checkout')
        .send({ id, email: `${id}@example.org` })
        .expect(201)
      expect(res.body).toMatchObject({ id, customer: { orderId: id } })
    }
    const touchpoint = nest.get<TransactionaleTouchpoint>(TRANSACTIONALE_TOUCHPOINT)
    await expect(touchpoint.flush({ timeoutMs: 10_000 })).resolves.toEqual({ pending: 0 })
    expect(fake.requests.map((r) => (r.body as { email: string }).email).sort()).toEqual([
      'n-1@example.org',
      'n-2@example.org',
      'n-3@example.org',
    ])
    expect(fake.requests[0]?.body).toEqual({ email: 'n-1@example.org', first_name: 'Nina', country: 'IT' })
    // A health check reads the same touchpoint through the token.
    const health = await request(server).get('/api/health').expect(200)
    expect(health.body).toMatchObject({ touchpoints: { received: 3, sent: 3 } })
    // The package's lines went through Nest's Logger, under its own context, as readable lines.
    const sent = logs.lines.filter((l) => l.message.startsWith('touchpoint sent'))
    expect(sent).toHaveLength(3)
    expect(sent[0]).toMatchObject({ level: 'debug', context: 'Transactionale' })
    expect(sent[0]?.message).toMatch(/^touchpoint sent \{.*"orderId":"n-\d"/)
    // Nothing to warn about: neither the route hint nor Nest (the module's default forRoutes is valid in Nest 10 and 11).
    expect(logs.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([])
  })

  test('app.close() (what SIGTERM runs with enableShutdownHooks()) delivers what was pending', async () => {
    fake.setLoad({ latencyMs: 300 })
    const nest = await start()
    const server = nest.getHttpServer()
    await request(server).post('/api/orders/checkout').send({ id: 'c-1', email: 'c-1@example.org' }).expect(201)
    await request(server).post('/api/orders/checkout').send({ id: 'c-2', email: 'c-2@example.org' }).expect(201)
    const touchpoint = nest.get<TransactionaleTouchpoint>(TRANSACTIONALE_TOUCHPOINT)
    expect(touchpoint.stats().sent).toBe(0)
    await nest.close()
    app = undefined
    expect(touchpoint.stats()).toMatchObject({ received: 2, sent: 2 })
    expect(fake.requests).toHaveLength(2)
  })

  test('SIGTERM to a Nest process with enableShutdownHooks(): the pending touchpoints are delivered before it exits', async () => {
    // A slow API: at SIGTERM both touchpoints are in flight, and the process must wait for them.
    fake.setLoad({ latencyMs: 1500 })
    let replies = 0
    fake.events.on('reply', () => replies++)
    const shop = await startChildShop('test/fixtures/nest-shop.ts', {
      TRANSACTIONALE_API_KEY: 'nest-key',
      TRANSACTIONALE_ENDPOINT: fake.endpoint,
    })
    const url = `http://127.0.0.1:${shop.port}`
    await request(url).post('/api/orders/checkout').send({ id: 's-1', email: 's-1@example.org' }).expect(201)
    await request(url).post('/api/orders/checkout').send({ id: 's-2', email: 's-2@example.org' }).expect(201)
    const repliedAtSigterm = replies
    let repliedAtExit = -1
    void shop.exited.then(() => (repliedAtExit = replies))
    await shop.stop()
    expect(repliedAtSigterm).toBeLessThan(2)
    // The process exited only after the API had answered both: close() ran in onApplicationShutdown.
    expect(repliedAtExit).toBe(2)
    expect(fake.requests.map((r) => (r.body as { email: string }).email).sort()).toEqual([
      's-1@example.org',
      's-2@example.org',
    ])
  }, 60_000)

  test('the plain middleware under a Nest global prefix says which route it meant', async () => {
    const nest = await createNestShop(
      { TRANSACTIONALE_API_KEY: 'nest-key', TRANSACTIONALE_ENDPOINT: fake.endpoint },
      logs,
    )
    app = nest
    // A new user's first try: the route as the controller writes it, the global prefix forgotten.
    const plain = transactionaleTouchpoint({
      apiKey: 'nest-key',
      route: '/orders/checkout',
      endpoint: fake.endpoint,
      logger: loggerFrom(new Logger('Plain')),
      mapper: (_req, _res, body) => (body as Order).customer,
    })
    nest.use(plain)
    await nest.listen(0, '127.0.0.1')
    const server = nest.getHttpServer()
    await request(server).post('/api/orders/checkout').send({ id: 'p-1', email: 'p-1@example.org' }).expect(201)
    await request(server).post('/api/orders/checkout').send({ id: 'p-2', email: 'p-2@example.org' }).expect(201)
    await plain.close()
    const hints = logs.lines.filter((l) => l.message.startsWith('touchpoint route never matched'))
    expect(hints).toHaveLength(1)
    expect(hints[0]).toMatchObject({ level: 'warn', context: 'Plain' })
    expect(hints[0]?.message).toContain("route: '/api/orders/checkout'")
    expect(plain.stats()).toMatchObject({ received: 0 })
    // The module's own middleware, on the same app, matched them all.
    await nest.get<TransactionaleTouchpoint>(TRANSACTIONALE_TOUCHPOINT).flush()
    expect(fake.requests).toHaveLength(2)
  })
})
