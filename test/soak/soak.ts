/**
 * Soak test (`npm run soak`, not part of `npm test`): 10,000 orders through a real Express app
 * while the fake API alternates between healthy, answering 500 and down (connections refused) for
 * seconds at a time. At the end every order with a unique id must have been delivered exactly once
 * and stats() must add up. Exits non-zero if not.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import pino from 'pino'
import { transactionaleTouchpoint, type TouchpointStats } from '../../src'
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'

const ORDERS = Number(process.env.SOAK_ORDERS ?? 10_000)
const RATE = Number(process.env.SOAK_RATE ?? 400) // orders per second
const DUPLICATE_EVERY = 50 // every 50th order is submitted twice (a double click)
const PHASES: { name: string; ms: number }[] = [
  { name: 'healthy', ms: 3000 },
  { name: '500s', ms: 4000 },
  { name: 'healthy', ms: 2000 },
  { name: 'down', ms: 5000 },
  { name: 'healthy', ms: 3000 },
  { name: '500s', ms: 2000 },
  { name: 'down', ms: 3000 },
]

async function main(): Promise<void> {
  const fake = await startFakeTransactionaleApi({ apiKey: 'soak-key' })
  const delivered = new Map<string, number>()
  let attempts = 0
  fake.events.on('request', () => attempts++)
  fake.events.on('reply', (request: { body: { email: string } }, status: number) => {
    if (status >= 200 && status < 300) delivered.set(request.body.email, (delivered.get(request.body.email) ?? 0) + 1)
  })

  const touchpoint = transactionaleTouchpoint({
    apiKey: 'soak-key',
    route: '/checkout',
    endpoint: fake.endpoint,
    logger: pino({ level: 'error' }, pino.destination('/dev/null')),
    retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 1000 },
    timeoutMs: 2000,
  })
  const app = express()
  app.use(touchpoint)
  app.use(express.json())
  app.post('/checkout', (req, res) => {
    const { id } = req.body as { id: string }
    res.locals.transactionale = { orderId: id, email: `${id}@example.org`, firstName: 'Soak', country: 'IT' }
    res.status(201).json({ id })
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo

  // The API's weather: cycles through the phases until every order has been sent.
  let phaseIndex = 0
  let raining = true
  const weather = async (): Promise<void> => {
    while (raining) {
      const phase = PHASES[phaseIndex++ % PHASES.length] ?? { name: 'healthy', ms: 1000 }
      if (phase.name === 'down') await fake.stop()
      else {
        await fake.start().catch(() => undefined) // already listening: fine
        fake.setDefaultReply(phase.name === '500s' ? { status: 500 } : { status: 200 })
      }
      process.stdout.write(`[${new Date().toISOString()}] API ${phase.name} for ${phase.ms} ms\n`)
      await new Promise((resolve) => setTimeout(resolve, phase.ms))
    }
  }
  const weatherDone = weather()

  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
  const post = (id: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ id })
      const req = http.request(
        { port, method: 'POST', path: '/checkout', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end(body)
    })

  const started = Date.now()
  const responses: Promise<number>[] = []
  let maxRss = 0
  for (let i = 0; i < ORDERS; i++) {
    const id = `order-${i}`
    responses.push(post(id))
    if (i % DUPLICATE_EVERY === 0) responses.push(post(id))
    // Open-model pacing: the i-th order leaves at i / RATE seconds, whatever the answers.
    const due = started + ((i + 1) * 1000) / RATE
    const wait = due - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    if (i % 500 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss)
  }
  const statuses = await Promise.all(responses)
  const sentAt = Date.now()

  // Let the weather finish its current phase, then a healthy API for the drain.
  raining = false
  await weatherDone
  await fake.start().catch(() => undefined)
  fake.setDefaultReply({ status: 200 })
  await touchpoint.flush()
  const drained = Date.now()
  const stats: TouchpointStats = touchpoint.stats()
  const summary = await touchpoint.close()
  server.close()
  agent.destroy()
  await fake.close()

  const missing = Array.from({ length: ORDERS }, (_, i) => `order-${i}@example.org`).filter((e) => !delivered.has(e))
  const duplicates = [...delivered.values()].filter((n) => n > 1).length
  const accounted =
    stats.mapping +
    stats.skipped.total +
    stats.invalid +
    stats.deduped +
    stats.queued +
    stats.inFlight +
    stats.sent +
    stats.failed +
    stats.dropped.total
  const report = {
    orders: ORDERS,
    checkoutRequests: statuses.length,
    checkoutNon201: statuses.filter((s) => s !== 201).length,
    uniqueDelivered: delivered.size,
    missing: missing.length,
    deliveredMoreThanOnce: duplicates,
    apiRequests: attempts,
    sendSeconds: (sentAt - started) / 1000,
    drainSeconds: (drained - sentAt) / 1000,
    maxRssMiB: Math.round(maxRss / 2 ** 20),
    stats,
    statsAddUp: accounted === stats.received,
    closeSummary: summary,
  }
  console.log(JSON.stringify(report, null, 2))
  const ok =
    report.checkoutNon201 === 0 &&
    missing.length === 0 &&
    duplicates === 0 &&
    report.statsAddUp &&
    stats.received === statuses.length &&
    stats.sent === ORDERS &&
    stats.deduped === statuses.length - ORDERS
  console.log(ok ? 'SOAK PASSED' : 'SOAK FAILED')
  process.exit(ok ? 0 : 1)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
