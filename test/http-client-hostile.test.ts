/**
 * The HTTP client against a hostile or broken API (issue 8, item 4): bodies that drip, never end,
 * are huge, or are cut after the status line. A raw node:http server on loopback plays the API, so
 * every case runs over real sockets; the status line must decide the result and `timeoutMs` must
 * bound the whole attempt.
 */
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { createHttpClient, RESPONSE_BODY_CAP, type HttpResult } from '../src/http-client'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

interface HostileApi {
  readonly endpoint: string
  /** The client port of each request, in order: equal ports mean a reused keep-alive socket. */
  readonly remotePorts: (number | undefined)[]
  /** Resolves when the server side of the connection that carried request `index` has closed. */
  closed(index: number): Promise<void>
  handle(handler: Handler): void
  close(): Promise<void>
}

async function startHostileApi(): Promise<HostileApi> {
  let handler: Handler = (_req, res) => res.end()
  const remotePorts: (number | undefined)[] = []
  const requestSockets: Socket[] = []
  const server = http.createServer((req, res) => {
    remotePorts.push(req.socket.remotePort)
    requestSockets.push(req.socket)
    // The hostile part starts once the request is fully read, as a real API would answer.
    req.resume()
    req.on('end', () => handler(req, res))
  })
  server.keepAliveTimeout = 30_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/touchpoint`,
    remotePorts,
    closed: async (index) => {
      const socket = requestSockets[index]
      if (socket === undefined) throw new Error(`no request ${index}`)
      // Not events.once: a client that drops a flooding connection resets it, and that 'error' is
      // expected here.
      if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve))
    },
    handle: (next) => {
      handler = next
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Writes one byte every `everyMs` until the connection closes (or `bytes` are written, then ends). */
function drip(res: http.ServerResponse, everyMs: number, bytes = Infinity): void {
  let written = 0
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer)
    res.write('x')
    if (++written >= bytes) {
      clearInterval(timer)
      res.end()
    }
  }, everyMs)
  res.on('close', () => clearInterval(timer))
}

/** Writes 64 KiB chunks as fast as the socket takes them, until the connection closes. */
function flood(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 'x')
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
  }
  res.on('drain', pump)
  pump()
}

async function timed(pending: Promise<HttpResult>): Promise<{ result: HttpResult; ms: number }> {
  const start = performance.now()
  const result = await pending
  return { result, ms: performance.now() - start }
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error('run jest with node --expose-gc')
  collect()
}

describe('createHttpClient against a hostile API (issue 8, item 4)', () => {
  let api: HostileApi
  let client: ReturnType<typeof createHttpClient>
  const connect = (timeoutMs: number): void => {
    client = createHttpClient({
      endpoint: api.endpoint,
      apiKey: 'secret-key-1',
      timeoutMs,
      userAgent: 'ua/1',
      maxSockets: 2,
    })
  }

  beforeEach(async () => {
    api = await startHostileApi()
  })
  afterEach(async () => {
    client.destroy()
    await api.close()
  })

  test('item 4: a 200 whose body drips a byte every 50 ms is delivered, and the attempt ends at the deadline', async () => {
    connect(500)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '200' })
      drip(res, 50, 200) // would take 10 s to finish
    })
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'response', status: 200 })
    expect(ms).toBeLessThan(1500)
    // The unfinished socket was dropped, not left to the drip.
    await api.closed(0)
  })

  test('item 4: an endless chunked drip does not hold the call or the socket beyond the deadline', async () => {
    connect(500)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      drip(res, 50)
    })
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'response', status: 200 })
    expect(ms).toBeLessThan(1500)
    await api.closed(0)
    // The client is still usable: the next attempt gets a fresh socket and its own deadline.
    api.handle((_req, res) => res.writeHead(204).end())
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 204 })
    expect(api.remotePorts[1]).not.toBe(api.remotePorts[0])
  })

  test('item 4: a body that claims Content-Length 2 GB and floods is neither read nor buffered', async () => {
    connect(10_000)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(2 * 1024 ** 3) })
      flood(res)
    })
    gc()
    const before = process.memoryUsage()
    const { result, ms } = await timed(client.send('{}'))
    await api.closed(0)
    const after = process.memoryUsage()
    expect(result).toEqual({ kind: 'response', status: 200 })
    // Dropped at once, not at the 10 s deadline.
    expect(ms).toBeLessThan(5000)
    expect(after.rss - before.rss).toBeLessThan(50 * 1024 ** 2)
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(50 * 1024 ** 2)
  })

  test('item 4: an endless flood without Content-Length is cut at the cap', async () => {
    connect(10_000)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      flood(res)
    })
    gc()
    const before = process.memoryUsage()
    const { result, ms } = await timed(client.send('{}'))
    await api.closed(0)
    const after = process.memoryUsage()
    expect(result).toEqual({ kind: 'response', status: 200 })
    expect(ms).toBeLessThan(5000)
    expect(after.rss - before.rss).toBeLessThan(50 * 1024 ** 2)
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(50 * 1024 ** 2)
  })

  test('item 4: a connection closed right after a 200 status line and headers still counts as delivered', async () => {
    connect(2000)
    api.handle((req) => {
      // Raw bytes so the headers are surely on the wire before the connection goes.
      req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n', () =>
        req.socket.destroy(),
      )
    })
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'response', status: 200 })
    // Ended by the close, not by the deadline.
    expect(ms).toBeLessThan(2000)
  })

  test('item 4: a TCP reset mid-body keeps the status and Retry-After of a 503', async () => {
    connect(5000)
    api.handle((req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': '100', 'Retry-After': '7' })
      res.write('{"status":', () => req.socket.resetAndDestroy())
    })
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'response', status: 503, retryAfter: '7' })
    expect(ms).toBeLessThan(5000)
  })

  test('item 4: headers that never come time out as ETIMEDOUT at about timeoutMs, without the API key', async () => {
    connect(300)
    api.handle(() => undefined)
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'network', code: 'ETIMEDOUT' })
    expect(ms).toBeGreaterThanOrEqual(250)
    expect(ms).toBeLessThan(900)
    expect(JSON.stringify(result)).not.toContain('secret-key-1')
  })

  test('item 4: a status line dripped byte by byte times out as ETIMEDOUT, the deadline covers the wait for headers', async () => {
    connect(300)
    api.handle((req) => {
      const head = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
      let i = 0
      const timer = setInterval(() => {
        if (req.socket.destroyed || i >= head.length) return clearInterval(timer)
        req.socket.write(head[i++] ?? '')
      }, 100)
      req.socket.on('close', () => clearInterval(timer))
    })
    const { result, ms } = await timed(client.send('{}'))
    expect(result).toEqual({ kind: 'network', code: 'ETIMEDOUT' })
    expect(ms).toBeLessThan(900)
  })

  test('item 4: Retry-After is reported with a normal body', async () => {
    connect(2000)
    api.handle((_req, res) => {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '120' })
      res.end('{"status":"error"}')
    })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 429, retryAfter: '120' })
  })

  test('item 4: a small body, sized or chunked, is drained and its socket reused by the next request', async () => {
    connect(2000)
    let chunked = false
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      if (chunked) res.write('{"status":')
      res.end(chunked ? '"ok"}' : '{"status":"ok"}')
    })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 200 })
    chunked = true
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 200 })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 200 })
    expect(api.remotePorts).toHaveLength(3)
    expect(new Set(api.remotePorts).size).toBe(1)
  })

  test('item 4: a chunked body over the cap is not drained: its socket is dropped', async () => {
    connect(2000)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end('x'.repeat(RESPONSE_BODY_CAP * 4))
    })
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 200 })
    await api.closed(0)
    expect(await client.send('{}')).toEqual({ kind: 'response', status: 200 })
    expect(api.remotePorts[1]).not.toBe(api.remotePorts[0])
  })

  test('item 4: destroy() while a body drips resolves with the status already received', async () => {
    connect(10_000)
    api.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      drip(res, 50)
    })
    // Node publishes this once the client has parsed the response headers: the moment to pull the plug.
    const onHeaders = (): void => {
      setImmediate(() => client.destroy())
    }
    diagnostics.subscribe('http.client.response.finish', onHeaders)
    try {
      const { result, ms } = await timed(client.send('{}'))
      expect(result).toEqual({ kind: 'response', status: 200 })
      expect(ms).toBeLessThan(5000)
    } finally {
      diagnostics.unsubscribe('http.client.response.finish', onHeaders)
    }
  })
})
