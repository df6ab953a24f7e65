/**
 * Starts the example shop. Without TRANSACTIONALE_API_KEY it also starts an embedded fake
 * Transactionale API on loopback and prints every touchpoint it receives; with the key it talks
 * to the real endpoint. Run it with `npm start`; the browser tests start it with `startShop()`.
 */
import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import {
  transactionaleTouchpoint,
  type CloseSummary,
  type TouchpointLogger,
  type TouchpointMiddleware,
} from 'express-transactionale'
import { registerMetrics } from 'express-transactionale/metrics'
import {
  startFakeTransactionaleApi,
  type FakeTransactionaleApi,
  type RecordedRequest,
} from 'express-transactionale/testing'
import { createShopApp, type Order } from './app'

/** The key the embedded fake API expects (and the middleware sends) when no real key is set. */
export const FAKE_API_KEY = 'demo-key'

export interface ShopServerOptions {
  /** Port to listen on; `0` picks a free one. Defaults to `3000`. */
  readonly port?: number
  /** Host to listen on. Defaults to all interfaces, as `app.listen(port)` does. */
  readonly host?: string
  /** The real Transactionale API key; empty or absent starts an embedded fake API instead. */
  readonly apiKey?: string | undefined
  /** The middleware's logger. Defaults to the package's (pino on stdout). */
  readonly logger?: TouchpointLogger
  /** Print each touchpoint the fake receives (`npm start` does). Defaults to `false`. */
  readonly printTouchpoints?: boolean
}

export interface RunningShop {
  /** `http://HOST:PORT` (`localhost` when listening on all interfaces) */
  readonly url: string
  readonly server: Server
  readonly touchpoint: TouchpointMiddleware
  /** The embedded fake API, when no real key was given. */
  readonly fake: FakeTransactionaleApi | undefined
  readonly orders: readonly Order[]
  /** Stops the HTTP server, then closes the middleware (sending what is pending) and the fake. */
  close(): Promise<CloseSummary>
}

/**
 * The shop's middleware. The checkout answers a placed order with `303 See Other` (Post/Redirect/Get),
 * so `isSuccess` counts redirects as completed orders — the README's PRG recipe. Validation errors
 * answer 4xx and send nothing.
 */
export function shopTouchpoint(options: {
  apiKey: string
  endpoint?: string | undefined
  logger?: TouchpointLogger | undefined
}): TouchpointMiddleware {
  return transactionaleTouchpoint({
    apiKey: options.apiKey,
    route: '/checkout',
    isSuccess: (status) => status >= 200 && status < 400, // 303 See Other after a placed order
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  })
}

/** Starts the shop (and, without a real key, the fake API it sends to); resolves once it listens. */
export async function startShop(options: ShopServerOptions = {}): Promise<RunningShop> {
  const realKey = options.apiKey
  let fake: FakeTransactionaleApi | undefined
  if (realKey === undefined || realKey === '') {
    fake = await startFakeTransactionaleApi({ apiKey: FAKE_API_KEY })
    if (options.printTouchpoints === true)
      fake.events.on('request', (request: RecordedRequest) => {
        console.log('[fake Transactionale API] touchpoint received:', JSON.stringify(request.body))
      })
  }

  const touchpoint = shopTouchpoint({
    apiKey: realKey || FAKE_API_KEY,
    endpoint: fake?.endpoint,
    logger: options.logger,
  })
  // The shop's own registry (not prom-client's global one), so two shops in one process never collide.
  const register = new Registry()
  registerMetrics(touchpoint, { register })
  const { app, orders } = createShopApp(touchpoint, { metrics: register, ...(fake ? { fakeApi: fake } : {}) })

  let stopping = false
  const server = http.createServer((req, res) => {
    // Once stopping, every answer ends its connection: an open admin page polls every second on a
    // keep-alive connection that would otherwise hold server.close() open for ever.
    if (stopping) res.setHeader('Connection', 'close')
    app(req, res)
  })
  server.listen({ port: options.port ?? 3000, ...(options.host !== undefined ? { host: options.host } : {}) })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  } catch (error) {
    await touchpoint.close({ timeoutMs: 0 })
    await fake?.close()
    throw error
  }

  let closing: Promise<CloseSummary> | undefined
  return {
    url: `http://${urlHost(options.host)}:${(server.address() as AddressInfo).port}`,
    server,
    touchpoint,
    fake,
    orders,
    close: () =>
      (closing ??= (async () => {
        // The checkouts in progress are answered first (and get their touchpoints), then the middleware
        // sends what is pending, within its 10 s default deadline.
        stopping = true
        await new Promise<void>((resolve) => server.close(() => resolve()))
        const summary = await touchpoint.close()
        await fake?.close()
        return summary
      })()),
  }
}

const urlHost = (host: string | undefined): string =>
  host === undefined ? 'localhost' : host.includes(':') ? `[${host}]` : host

async function main(): Promise<void> {
  const shop = await startShop({
    port: Number(process.env.PORT ?? 3000),
    apiKey: process.env.TRANSACTIONALE_API_KEY,
    printTouchpoints: true,
  })
  if (shop.fake) console.log(`No TRANSACTIONALE_API_KEY set: using an embedded fake API at ${shop.fake.endpoint}`)
  console.log(`Example shop on ${shop.url}/ — place an order to send a touchpoint`)
  console.log(`Admin (live stats and touchpoints): ${shop.url}/admin · Prometheus metrics: ${shop.url}/metrics`)

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: finishing requests and pending touchpoints…`)
    void shop
      .close()
      .then((summary) => console.log('touchpoints:', summary))
      .finally(() => process.exit(0))
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
