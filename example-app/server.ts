/**
 * Starts the example shop. Without TRANSACTIONALE_API_KEY it also starts an embedded fake
 * Transactionale API on loopback and prints every touchpoint it receives; with the key it talks
 * to the real endpoint. Run it with `npm start`.
 */
import type { Server } from 'node:http'
import { transactionaleTouchpoint } from 'express-transactionale'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from 'express-transactionale/testing'
import { createShopApp } from './app'

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  const realKey = process.env.TRANSACTIONALE_API_KEY
  let fake: FakeTransactionaleApi | undefined

  if (realKey === undefined || realKey === '') {
    fake = await startFakeTransactionaleApi({ apiKey: 'demo-key' })
    fake.events.on('request', (request: { body: unknown }) => {
      console.log('[fake Transactionale API] touchpoint received:', JSON.stringify(request.body))
    })
    console.log(`No TRANSACTIONALE_API_KEY set: using an embedded fake API at ${fake.endpoint}`)
  }

  const touchpoint = transactionaleTouchpoint({
    apiKey: realKey || 'demo-key',
    route: '/checkout',
    ...(fake ? { endpoint: fake.endpoint } : {}),
  })
  const { app } = createShopApp(touchpoint)
  const server: Server = app.listen(port, () => {
    console.log(`Example shop on http://localhost:${port}/ — place an order to send a touchpoint`)
  })

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: finishing requests and pending touchpoints…`)
    // The checkouts in progress are answered first (and get their touchpoints), then the middleware
    // sends what is pending, within its 10 s default deadline.
    server.close(() => {
      void touchpoint
        .close()
        .then(async (summary) => {
          console.log('touchpoints:', summary)
          await fake?.close()
        })
        .finally(() => process.exit(0))
    })
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
