// Liveness of our engine (the pump over the memory store), end to end: a shop takes orders while the
// API refuses connections, the API comes back, and every order is delivered promptly; throughout,
// delivery is never paused or probing with nothing in flight while touchpoints wait (beyond its
// pause plus one probe interval).
import express from 'express'
import http from 'node:http'
import { transactionaleTouchpoint, type TouchpointMiddleware } from '../../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../../src/testing/fake-api'
import { postJson } from '../helpers/child-shop'
import { captureLogs } from '../helpers/log-capture'
import { watchOrphans } from '../helpers/orphan-watch'

const RETRY = { maxAttempts: 100, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 1000 }

describe('liveness: the API down, then back', () => {
  let fake: FakeTransactionaleApi
  let touchpoint: TouchpointMiddleware
  let server: http.Server
  afterEach(async () => {
    await touchpoint.close({ timeoutMs: 1000 })
    await new Promise((resolve) => server.close(resolve))
    await fake.close()
  })

  test.each([['auto' as const], [4]])(
    'concurrency %s: every order delivered once after the API returns, no orphaned state',
    async (concurrency) => {
      fake = await startFakeTransactionaleApi()
      await fake.stop()
      touchpoint = transactionaleTouchpoint({
        apiKey: 'k',
        route: '/checkout',
        endpoint: fake.endpoint,
        logger: captureLogs().logger,
        retry: RETRY,
        queue: { concurrency },
      })
      const app = express()
      app.use(express.json())
      app.use(touchpoint)
      app.post('/checkout', (req, res) => {
        const n = (req.body as { n: number }).n
        res.locals.transactionale = { email: `l${n}@example.org`, firstName: 'L', country: 'IT', orderId: `l-${n}` }
        res.json({ ok: true })
      })
      server = await new Promise<http.Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s))
      })
      const port = (server.address() as { port: number }).port
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
      const order = async (n: number): Promise<void> => {
        const reply = await postJson(port, '/checkout', { n }, agent)
        if (reply.status === 0) throw new Error(`order ${n}: the shop did not answer`)
      }

      // Pause ≤ maxDelayMs, and a probe that cannot connect re-pauses at most as long.
      const watch = watchOrphans(() => {
        const s = touchpoint.stats()
        return {
          state: s.state,
          inFlight: s.inFlight,
          waiting: s.queued + s.store.waiting,
          attempts: s.sent + s.failed + s.retried,
        }
      }, 2 * RETRY.maxDelayMs)
      const ORDERS = 300
      for (let n = 0; n < ORDERS; n++) {
        await order(n)
        if (n % 30 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(touchpoint.stats().sent).toBe(0)
      await fake.start()
      const back = Date.now()
      await touchpoint.flush()
      const tookMs = Date.now() - back
      const report = watch.stop()
      agent.destroy()

      expect(touchpoint.stats()).toMatchObject({ received: ORDERS, sent: ORDERS, failed: 0, queued: 0, inFlight: 0 })
      expect(new Set(fake.requests.map((r) => (r.body as { email: string }).email)).size).toBe(ORDERS)
      expect(fake.requests).toHaveLength(ORDERS)
      expect(tookMs).toBeLessThan(10_000)
      expect(report.samples).toBeGreaterThan(10)
      expect(report.worstMs).toBeLessThanOrEqual(report.allowedMs)
    },
    30_000,
  )
})
