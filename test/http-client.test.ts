import { createHttpClient } from '../src/http-client'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'

describe('createHttpClient', () => {
  let fake: FakeTransactionaleApi
  let client: ReturnType<typeof createHttpClient>

  beforeEach(async () => {
    fake = await startFakeTransactionaleApi()
    client = createHttpClient({
      endpoint: fake.endpoint,
      apiKey: 'k-1',
      timeoutMs: 200,
      userAgent: 'ua/1',
      maxSockets: 2,
    })
  })
  afterEach(async () => {
    client.destroy()
    await fake.close()
  })

  test('POSTs the body verbatim with the headers, and reports the status', async () => {
    const result = await client.send('{"email":"a@b.it"}')
    expect(result).toEqual({ kind: 'response', status: 200 })
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      rawBody: '{"email":"a@b.it"}',
      headers: expect.objectContaining({
        'x-authorization': 'k-1',
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': 'ua/1',
      }) as unknown,
    })
  })

  test('reuses keep-alive connections', async () => {
    for (let i = 0; i < 5; i++) await client.send('{}')
    expect(fake.requests.map((r) => r.headers.connection)).toEqual(Array(5).fill('keep-alive'))
    expect(new Set(fake.requests.map((r) => r.remotePort)).size).toBe(1)
  })

  test('reports error statuses and Retry-After without throwing', async () => {
    fake.script({ status: 503, headers: { 'Retry-After': '2' } }, { status: 400 })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 503, retryAfter: '2' })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 400 })
  })

  test('reports refused connections, resets and timeouts as codes', async () => {
    fake.script({ reset: true }, { hang: true })
    expect(await client.send('{}')).toEqual({ kind: 'network', code: 'ECONNRESET' })
    expect(await client.send('{}')).toEqual({ kind: 'network', code: 'ETIMEDOUT' })
    await fake.stop()
    expect(await client.send('{}')).toEqual({ kind: 'network', code: 'ECONNREFUSED' })
  })

  test('destroy() ends a request in flight as a network error', async () => {
    fake.script({ hang: true })
    const pending = client.send('{}')
    await fake.waitForRequests(1)
    client.destroy()
    expect(await pending).toMatchObject({ kind: 'network' })
  })
})
