/**
 * In-process measures, each against a baseline in the same run, interleaved over rounds:
 * - the cost of the middleware for a request it does not match (ns per call);
 * - delivery throughput of the dispatcher + HTTP client vs a raw node:http keep-alive client;
 * - bytes per queued touchpoint (needs --expose-gc).
 */
import http from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import pino from 'pino'
import { transactionaleTouchpoint } from '../src'
import { createDelivery } from '../test/helpers/delivery'
import { ManualClock } from '../test/helpers/manual-clock'
import { createHttpClient } from '../src/http-client'
import { toWirePayload, validateCustomer } from '../src/payload'
import { median } from './stats'

const silent = pino({ level: 'silent' })

/** ns per call of a non-matching request: ours vs a no-op middleware. */
export function nonMatchingCost(rounds: number, iterations: number): { baseline: number[]; ours: number[] } {
  const touchpoint = transactionaleTouchpoint({
    apiKey: 'k',
    route: ['/checkout', '/orders/:id/complete'],
    logger: silent,
  })
  const noop = (_req: Request, _res: Response, next: NextFunction): void => next()
  const requests = [
    { method: 'GET', originalUrl: '/products?page=2', url: '/products?page=2' },
    { method: 'POST', originalUrl: '/cart/items', url: '/cart/items' },
    { method: 'GET', originalUrl: '/checkout', url: '/checkout' },
    { method: 'GET', originalUrl: '/static/app.js', url: '/static/app.js' },
  ] as unknown as Request[]
  const res = {} as Response
  let calls = 0
  const next = (): void => {
    calls++
  }
  const time = (fn: (req: Request, res: Response, next: NextFunction) => void): number => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) fn(requests[i & 3] as Request, res, next)
    return Number(process.hrtime.bigint() - start) / iterations
  }
  time(noop)
  time(touchpoint) // warm up both
  const baseline: number[] = []
  const ours: number[] = []
  for (let r = 0; r < rounds; r++) {
    baseline.push(time(noop))
    ours.push(time(touchpoint))
  }
  if (calls === 0) throw new Error('next() never called')
  void touchpoint.close({ timeoutMs: 0 })
  return { baseline, ours }
}

const body = (i: number): string =>
  JSON.stringify({ country: 'IT', email: `t${i}@example.org`, first_name: 'Bench', zip_code: '00100' })

/** Touchpoints/s: the package's dispatcher + axios client vs raw node:http, both 8 in flight. */
export async function deliveryThroughput(
  endpoint: string,
  rounds: number,
  count: number,
): Promise<{ baseline: number[]; ours: number[] }> {
  const url = new URL(endpoint)
  const raw = async (): Promise<number> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < count) {
        const json = body(next++)
        await new Promise<void>((resolve) => {
          const req = http.request(
            {
              host: url.hostname,
              port: url.port,
              path: url.pathname,
              method: 'POST',
              agent,
              headers: {
                'X-Authorization': 'bench-key',
                'Content-Type': 'application/json',
                Accept: 'application/json',
              },
            },
            (res) => {
              res.resume()
              res.on('end', resolve)
            },
          )
          req.on('error', () => resolve())
          req.end(json)
        })
      }
    }
    const start = process.hrtime.bigint()
    await Promise.all(Array.from({ length: 8 }, worker))
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    agent.destroy()
    return count / seconds
  }
  const ours = async (): Promise<number> => {
    const client = createHttpClient({
      endpoint,
      apiKey: 'bench-key',
      timeoutMs: 10_000,
      userAgent: 'bench',
      maxSockets: 8,
    })
    const dispatcher = createDelivery(
      {
        concurrency: 8,
        maxConcurrency: 128,
        maxSize: count,
        retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
        dedupe: { windowMs: 86_400_000, maxEntries: 100_000 },
        logPersonalData: false,
      },
      { send: client.send, logger: silent, clock: new ManualClock() },
    )
    const start = process.hrtime.bigint()
    for (let i = 0; i < count; i++) void dispatcher.submit({ body: body(i), orderId: `t-${i}-${start}` })
    await dispatcher.flush()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    if (dispatcher.stats().sent !== count) throw new Error(`sent ${dispatcher.stats().sent} of ${count}`)
    client.destroy()
    return count / seconds
  }
  await raw()
  await ours() // warm up
  const result = { baseline: [] as number[], ours: [] as number[] }
  for (let r = 0; r < rounds; r++) {
    result.baseline.push(await raw())
    result.ours.push(await ours())
  }
  return result
}

/** Heap bytes per queued touchpoint, built exactly as the middleware builds them. */
export async function bytesPerQueuedTouchpoint(count: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  const dispatcher = createDelivery(
    {
      concurrency: 1,
      maxConcurrency: 128,
      maxSize: count,
      retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
      dedupe: { windowMs: 86_400_000, maxEntries: count * 2 },
      logPersonalData: false,
    },
    { send: () => new Promise(() => undefined), logger: silent, clock: new ManualClock() },
  )
  await dispatcher.submit({ body: body(-1), orderId: 'in-flight' }) // occupies the one slot
  await new Promise((resolve) => setImmediate(resolve))
  const make = (i: number): { body: string; orderId: string | undefined } => {
    const result = validateCustomer({
      orderId: `order-${i}`,
      email: `customer.${i}@example.org`,
      firstName: 'Giulia',
      country: 'Italia',
      zipCode: '20121',
      transactionValue: 34.5,
      transactionCurrency: 'EUR',
    })
    if (!result.ok) throw new Error('invalid')
    return {
      body: JSON.stringify(toWirePayload(result.customer)),
      orderId: result.customer.orderId,
    }
  }
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) void dispatcher.submit(make(i))
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  const after = process.memoryUsage().heapUsed
  if (dispatcher.stats().queued !== count) throw new Error('not all queued')
  await dispatcher.stop()
  return (after - before) / count
}

export { median }
