// The AWS Lambda recipe (docs/guide/serverless.md): serverless-http 4 around the shop, the handler
// invoked directly with API Gateway v1 (REST) and v2 (HTTP API) events. The handler awaits
// flush({ timeoutMs }) after the response: the touchpoint is at the API before the handler resolves,
// and an API that is down or hangs never holds the function past the deadline.
import express from 'express'
import serverless from 'serverless-http'
import { transactionaleTouchpoint, type Customer, type TouchpointMiddleware } from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs } from './helpers/log-capture'
import { ManualClock } from './helpers/manual-clock'
import type { Clock } from '../src/types'

const FLUSH_TIMEOUT_MS = 2000

interface LambdaResult {
  statusCode: number
  body: string
}
interface LambdaContext {
  awsRequestId: string
  getRemainingTimeInMillis(): number
}

/** The recipe: the shop, its touchpoint, and a handler that flushes before it returns. */
function lambdaShop(endpoint: string, clock?: Clock) {
  const touchpoint: TouchpointMiddleware = transactionaleTouchpoint(
    {
      apiKey: 'lambda-key',
      route: '/checkout',
      endpoint,
      logger: captureLogs().logger,
      mapper: (_req, _res, body) => (body as { customer: Customer }).customer,
    },
    clock === undefined ? {} : { clock },
  )
  const app = express()
  app.use(touchpoint)
  app.use(express.json())
  app.post('/checkout', (req, res) => {
    const { id, email } = req.body as { id: string; email: string }
    res.status(201).json({ id, customer: { email, firstName: 'Luca', country: 'IT', orderId: id } })
  })
  const serve = serverless(app)
  const handler = async (event: object, context: LambdaContext): Promise<LambdaResult> => {
    const result = (await serve(event, context)) as LambdaResult
    // The function is frozen once the handler returns: deliver now, within a deadline.
    await touchpoint.flush({ timeoutMs: Math.min(FLUSH_TIMEOUT_MS, context.getRemainingTimeInMillis() - 500) })
    return result
  }
  return { touchpoint, handler }
}

const context: LambdaContext = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30_000 }
const order = (id: string): string => JSON.stringify({ id, email: `${id}@example.org` })

/** API Gateway REST API (payload format 1.0). */
const v1Event = (id: string): object => ({
  resource: '/{proxy+}',
  path: '/checkout',
  httpMethod: 'POST',
  headers: { 'Content-Type': 'application/json', Host: 'shop.example.com' },
  multiValueHeaders: { 'Content-Type': ['application/json'], Host: ['shop.example.com'] },
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: { proxy: 'checkout' },
  stageVariables: null,
  requestContext: {
    resourcePath: '/{proxy+}',
    httpMethod: 'POST',
    path: '/prod/checkout',
    stage: 'prod',
    requestId: `v1-${id}`,
    identity: { sourceIp: '203.0.113.7', userAgent: 'test' },
  },
  body: order(id),
  isBase64Encoded: false,
})

/** API Gateway HTTP API (payload format 2.0). */
const v2Event = (id: string): object => ({
  version: '2.0',
  routeKey: '$default',
  rawPath: '/checkout',
  rawQueryString: '',
  headers: { 'content-type': 'application/json', host: 'shop.example.com' },
  requestContext: {
    http: { method: 'POST', path: '/checkout', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
    requestId: `v2-${id}`,
    routeKey: '$default',
    stage: '$default',
  },
  body: order(id),
  isBase64Encoded: false,
})

describe.each([
  ['API Gateway v1 (REST API)', v1Event],
  ['API Gateway v2 (HTTP API)', v2Event],
])('AWS Lambda through serverless-http 4, %s', (_name, event) => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware | undefined
  let clock: ManualClock | undefined
  beforeEach(async () => {
    fake = await startFakeTransactionaleApi({ apiKey: 'lambda-key' })
  })
  afterEach(async () => {
    const closing = touchpoint?.close({ timeoutMs: 0 })
    clock?.advance(0)
    await closing
    touchpoint = undefined
    clock = undefined
    await fake.close()
  })

  test('the touchpoint is at the API before the handler resolves', async () => {
    const shop = lambdaShop(fake.endpoint)
    touchpoint = shop.touchpoint
    for (const id of ['l-1', 'l-2']) {
      const result = await shop.handler(event(id), context)
      expect(result.statusCode).toBe(201)
      expect(JSON.parse(result.body)).toMatchObject({ id })
      // Resolved: this order's touchpoint has been delivered, nothing waits in the background.
      expect(fake.requests.at(-1)?.body).toEqual({ email: `${id}@example.org`, first_name: 'Luca', country: 'IT' })
      expect(touchpoint.stats()).toMatchObject({ mapping: 0, queued: 0, inFlight: 0 })
    }
    expect(touchpoint.stats()).toMatchObject({ received: 2, sent: 2 })
  })

  test.each([
    ['hangs', { hang: true }],
    ['answers 503', { status: 503 }],
  ] as const)(
    'an API that %s: the handler resolves at the flush deadline, the touchpoint still counted',
    async (_how, reply) => {
      fake.setDefaultReply(reply)
      clock = new ManualClock()
      const shop = lambdaShop(fake.endpoint, clock)
      touchpoint = shop.touchpoint
      let result: LambdaResult | undefined
      const invocation = shop.handler(event('d-1'), context).then((r) => (result = r))
      await fake.waitForRequests(1)
      // Everything but the deadline has happened: the handler still waits for the API.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
      expect(result).toBeUndefined()
      clock.advance(FLUSH_TIMEOUT_MS)
      await invocation
      expect(result?.statusCode).toBe(201)
      expect(touchpoint.stats()).toMatchObject({ received: 1, sent: 0, failed: 0 })
      const { mapping, queued, inFlight } = touchpoint.stats()
      expect(mapping + queued + inFlight).toBe(1)
    },
  )
})
