import net from 'node:net'
import request from 'supertest'
import { transactionaleTouchpoint, type FailedEvent } from '../../src'
import { backoffDelay, pauseDelay, classify, parseRetryAfter } from '../../src/delivery/retry-policy'
import { captureLogs } from '../helpers/log-capture'
import { createShop, EXPRESS_VERSIONS } from '../helpers/shop'

const settings = { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 }
const now = Date.parse('2026-11-27T10:00:00Z')

/** Issue 18, in the describe it is called from: a status outside 100-599 is final, never retried. */
function testOutOfRangeStatusIsFinal(): void {
  test.each([600, 999, 1000, 99, 0, -1, 550.5, NaN])(
    'issue 18: %p is outside 100-599: a final failure (a broken server, not a busy one), not retried',
    (status) => {
      expect(classify({ kind: 'response', status, retryAfter: '1' }, settings, now)).toEqual({
        kind: 'final',
        status,
        keyRejected: false,
      })
    },
  )
}

describe('classify', () => {
  test.each([200, 201, 204, 299])('%i is delivered', (status) => {
    expect(classify({ kind: 'response', status }, settings, now)).toEqual({ kind: 'delivered', status })
  })
  test.each([408, 425, 429, 500, 502, 503, 504, 599])('%i is retried', (status) => {
    expect(classify({ kind: 'response', status }, settings, now)).toEqual({ kind: 'retry', status })
  })
  test.each([300, 301, 400, 401, 403, 404, 409, 422, 501, 505])('%i is final', (status) => {
    expect(classify({ kind: 'response', status }, settings, now)).toEqual({
      kind: 'final',
      status,
      keyRejected: status === 401 || status === 403,
    })
  })
  testOutOfRangeStatusIsFinal()
  test.each(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT'])('network %s is retried', (code) => {
    expect(classify({ kind: 'network', code }, settings, now)).toEqual({ kind: 'retry', error: code })
  })
  test('Retry-After counts on 429 and 503 only, capped at maxRetryAfterMs', () => {
    expect(classify({ kind: 'response', status: 429, retryAfter: '2' }, settings, now)).toEqual({
      kind: 'retry',
      status: 429,
      retryAfterMs: 2000,
    })
    expect(classify({ kind: 'response', status: 503, retryAfter: '3600' }, settings, now)).toMatchObject({
      retryAfterMs: 300_000,
    })
    expect(classify({ kind: 'response', status: 500, retryAfter: '2' }, settings, now)).toEqual({
      kind: 'retry',
      status: 500,
    })
    expect(classify({ kind: 'response', status: 429, retryAfter: 'soon' }, settings, now)).toEqual({
      kind: 'retry',
      status: 429,
    })
  })
})

describe('parseRetryAfter', () => {
  test('delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('0', now)).toBe(0)
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000)
    expect(parseRetryAfter('Fri, 27 Nov 2026 10:00:05 GMT', now)).toBe(5000)
    expect(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('-1', now)).toBeUndefined()
    expect(parseRetryAfter('later', now)).toBeUndefined()
  })
})

describe('pauseDelay (item 5: limits that wrap)', () => {
  test('Retry-After: 0 and a zero jitter both pause at least baseDelayMs', () => {
    const retryAfterZero = classify({ kind: 'response', status: 429, retryAfter: '0' }, settings, now)
    if (retryAfterZero.kind !== 'retry') throw new Error('429 must be retried')
    expect(pauseDelay(retryAfterZero, 1, settings, () => 0.5)).toBe(settings.baseDelayMs)
    expect(pauseDelay({ kind: 'retry', status: 500 }, 1, settings, () => 0)).toBe(settings.baseDelayMs)
    expect(pauseDelay({ kind: 'retry', status: 503, retryAfterMs: 7000 }, 1, settings, () => 0)).toBe(7000)
  })
})

describe('pauseDelay: a failure to connect pauses at most 5 s, an answer the full backoff', () => {
  testOutOfRangeStatusIsFinal()
  test.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])('%s: at most 5 s', (error) => {
    expect(pauseDelay({ kind: 'retry', error }, 20, settings, () => 0.999)).toBe(4995)
  })
  test.each([{ status: 500 }, { status: 429 }, { error: 'ETIMEDOUT' }, { error: 'ECONNRESET' }])(
    '%p: up to maxDelayMs',
    (verdict) => {
      expect(pauseDelay({ kind: 'retry', ...verdict }, 20, settings, () => 0.999)).toBe(29_970)
    },
  )
  test('a Retry-After still wins, and the pause never drops below baseDelayMs', () => {
    expect(pauseDelay({ kind: 'retry', error: 'ECONNREFUSED', retryAfterMs: 9000 }, 20, settings, () => 0.5)).toBe(9000)
    expect(pauseDelay({ kind: 'retry', error: 'ECONNREFUSED' }, 20, { ...settings, baseDelayMs: 8000 }, () => 0)).toBe(
      8000,
    )
  })
})

describe('backoffDelay', () => {
  test('full jitter below base·2^(n-1), capped at maxDelayMs', () => {
    expect(backoffDelay(1, settings, () => 0.999)).toBe(499)
    expect(backoffDelay(3, settings, () => 0.5)).toBe(1000)
    expect(backoffDelay(20, settings, () => 0.999)).toBe(29_970)
    expect(backoffDelay(2000, settings, () => 0.5)).toBe(15_000)
    expect(backoffDelay(4, settings, () => 0)).toBe(0)
  })
})

/**
 * A server that answers every request with `HTTP/1.1 <statusLine>`: Node's http server refuses to
 * write a status outside 100-999, so the status line is written by hand.
 */
async function rawStatusServer(
  statusLine: string,
): Promise<{ endpoint: string; requests: () => number; close: () => void }> {
  let requests = 0
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      // One request per chunk is enough here: the client sends each small POST in one write.
      if (!chunk.toString('latin1').startsWith('POST ')) return
      requests++
      socket.write(`HTTP/1.1 ${statusLine}\r\nContent-Length: 0\r\n\r\n`)
    })
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return { endpoint: `http://127.0.0.1:${port}/api`, requests: () => requests, close: () => server.close() }
}

describe.each(EXPRESS_VERSIONS)('issue 18: an API answering status 600, through %s', (_version, expressFactory) => {
  test('the touchpoint fails for good after one attempt (rejected, status 600), counted, not retried', async () => {
    const api = await rawStatusServer('600 Broken')
    const logs = captureLogs()
    const failed: FailedEvent[] = []
    const touchpoint = transactionaleTouchpoint({
      apiKey: 'trx-key-600',
      route: '/checkout',
      endpoint: api.endpoint,
      logger: logs.logger,
      // Were 600 retried, three attempts would be made within a few milliseconds.
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      hooks: { onFailed: (event) => void failed.push(event) },
    })
    try {
      const customer = { email: 'bea@example.org', firstName: 'Bea', country: 'FR', orderId: 'S-600' }
      await request(createShop(expressFactory, touchpoint)).post('/checkout').send({ customer }).expect(201)
      await touchpoint.flush()
      expect(touchpoint.stats()).toMatchObject({ received: 1, failed: 1, sent: 0 })
      expect(api.requests()).toBe(1)
      expect(failed).toEqual([
        expect.objectContaining({ orderId: 'S-600', reason: 'rejected', status: 600, attempts: 1 }),
      ])
    } finally {
      await touchpoint.close({ timeoutMs: 0 })
      api.close()
    }
  })
})
