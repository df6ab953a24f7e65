// The fake API's load options: a latency on every answer, and a cap on requests in flight answered
// with 429 + Retry-After — what users rehearse slow and rate-limiting APIs with.
import http from 'node:http'
import { startFakeTransactionaleApi } from '../../src/testing/fake-api'

const post = (endpoint: string, agent: http.Agent): Promise<{ status: number; retryAfter?: string; ms: number }> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const req = http.request(
      endpoint,
      { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        res.resume()
        res.on('end', () => {
          const retryAfter = res.headers['retry-after']
          resolve({
            status: res.statusCode ?? 0,
            ms: Date.now() - started,
            ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
          })
        })
      },
    )
    req.on('error', reject)
    req.end('{}')
  })

test('latencyMs delays every answer; maxInFlight answers 429 with Retry-After above the cap', async () => {
  const fake = await startFakeTransactionaleApi({ latencyMs: 300, maxInFlight: 2, retryAfterSeconds: 3 })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 })
  try {
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(fake.endpoint, agent)))
    const ok = answers.filter((a) => a.status === 200)
    const limited = answers.filter((a) => a.status === 429)
    expect(ok).toHaveLength(2)
    expect(limited).toHaveLength(3)
    expect(limited.every((a) => a.retryAfter === '3')).toBe(true)
    expect(Math.min(...ok.map((a) => a.ms))).toBeGreaterThanOrEqual(290)
    expect(fake.maxInFlightSeen).toBe(2)
    expect(fake.inFlight).toBe(0)
    fake.setLoad({ maxInFlight: undefined, latencyMs: 0 })
    const after = await Promise.all(Array.from({ length: 5 }, () => post(fake.endpoint, agent)))
    expect(after.every((a) => a.status === 200)).toBe(true)
  } finally {
    agent.destroy()
    await fake.close()
  }
})
