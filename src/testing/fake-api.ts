/**
 * A local fake of the Transactionale touchpoint API for tests and demos: a real HTTP server on
 * loopback that records every request and answers as scripted (statuses, delays, hangs, resets,
 * refused connections while stopped). Exported as `express-transactionale/testing`.
 */
import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** One request the fake received. */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The parsed JSON body, or `undefined` when the body was not JSON. */
  readonly body: unknown
  /** The raw body text. */
  readonly rawBody: string
  /** The client's port: requests on one keep-alive connection share it. */
  readonly remotePort: number | undefined
  /** `Date.now()` when the body had been read. */
  readonly receivedAt: number
}

/** How the fake answers one request. */
export interface FakeReply {
  /** Status code. Defaults to `200`. */
  readonly status?: number
  /** Extra response headers, e.g. `{ 'Retry-After': '2' }`. */
  readonly headers?: Readonly<Record<string, string>>
  /** Wait this long before answering (a slow API). */
  readonly delayMs?: number
  /** Never answer (until the fake is stopped). */
  readonly hang?: boolean
  /** Destroy the connection instead of answering (a reset). */
  readonly reset?: boolean
}

/** Options of {@link startFakeTransactionaleApi}. */
export interface FakeApiOptions {
  /** Port to listen on. Defaults to `0` (an ephemeral port). */
  readonly port?: number
  /** When set, requests without this `X-Authorization` get a 401. */
  readonly apiKey?: string
  /** Answer for requests that no scripted reply is left for. Defaults to `{ status: 200 }`. */
  readonly defaultReply?: FakeReply
  /**
   * Every answer (scripted or default) waits this long first, on top of its own `delayMs`: an API
   * that is healthy but slow. Defaults to `0`.
   */
  readonly latencyMs?: number
  /**
   * Requests in flight the fake serves at once; above it, a request is answered at once with 429 and
   * `Retry-After: <retryAfterSeconds>` (an API that rate-limits by concurrency). Defaults to none.
   */
  readonly maxInFlight?: number
  /** The `Retry-After` (seconds) of the 429s of `maxInFlight`. Defaults to `1`. */
  readonly retryAfterSeconds?: number
}

/** A running fake; see {@link startFakeTransactionaleApi}. */
export interface FakeTransactionaleApi {
  /** The endpoint to pass as the middleware's `endpoint` option. */
  readonly endpoint: string
  readonly port: number
  /** Every request received, in order of arrival. */
  readonly requests: readonly RecordedRequest[]
  /**
   * Emits `'request'` with each {@link RecordedRequest} once its body is read, and `'reply'` with the
   * request and the status once the fake has answered it.
   */
  readonly events: EventEmitter
  /** Replies to use, in order, for the next requests; then `defaultReply` applies again. */
  script(...replies: FakeReply[]): void
  /** Changes the reply for requests no script covers. */
  setDefaultReply(reply: FakeReply): void
  /** Changes `latencyMs` and `maxInFlight` while running (`undefined` for `maxInFlight` lifts the cap). */
  setLoad(load: { readonly latencyMs?: number; readonly maxInFlight?: number | undefined }): void
  /** Requests being answered now (received, not yet answered). */
  readonly inFlight: number
  /** The most requests it has had in flight at once since it started. */
  readonly maxInFlightSeen: number
  /** Resolves once at least `count` requests have been received. */
  waitForRequests(count: number): Promise<readonly RecordedRequest[]>
  /** Stops listening (connections are then refused) and drops open connections; `start()` resumes on the same port. */
  stop(): Promise<void>
  /** Listens again on the same port after `stop()`. */
  start(): Promise<void>
  /** Stops for good. */
  close(): Promise<void>
}

/** Starts a fake Transactionale API on 127.0.0.1. */
export async function startFakeTransactionaleApi(options: FakeApiOptions = {}): Promise<FakeTransactionaleApi> {
  const requests: RecordedRequest[] = []
  const events = new EventEmitter()
  const scripted: FakeReply[] = []
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let defaultReply: FakeReply = options.defaultReply ?? { status: 200 }
  let latencyMs = options.latencyMs ?? 0
  let maxInFlight = options.maxInFlight
  const retryAfter = String(options.retryAfterSeconds ?? 1)
  let inFlight = 0
  let maxInFlightSeen = 0

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try {
        body = JSON.parse(rawBody) as unknown
      } catch {
        body = undefined
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        body,
        rawBody,
        remotePort: req.socket.remotePort,
        receivedAt: Date.now(),
      }
      requests.push(recorded)
      const overloaded = maxInFlight !== undefined && inFlight >= maxInFlight
      const reply: FakeReply =
        options.apiKey !== undefined && req.headers['x-authorization'] !== options.apiKey
          ? { status: 401 }
          : overloaded
            ? { status: 429, headers: { 'Retry-After': retryAfter } }
            : (scripted.shift() ?? defaultReply)
      events.emit('request', recorded)
      if (overloaded) return answer(res, reply, recorded)
      inFlight++
      maxInFlightSeen = Math.max(maxInFlightSeen, inFlight)
      let counted = true
      const release = (): void => {
        if (counted) inFlight--
        counted = false
      }
      res.once('finish', release)
      res.once('close', release)
      answer(res, latencyMs > 0 ? { ...reply, delayMs: (reply.delayMs ?? 0) + latencyMs } : reply, recorded)
    })
  })
  server.keepAliveTimeout = 30_000
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  const answer = (res: http.ServerResponse, reply: FakeReply, recorded: RecordedRequest): void => {
    if (reply.hang) return
    if (reply.reset) {
      res.socket?.destroy()
      return
    }
    const write = (): void => {
      res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json', ...reply.headers })
      res.end(JSON.stringify({ status: (reply.status ?? 200) < 300 ? 'ok' : 'error' }))
      events.emit('reply', recorded, reply.status ?? 200)
    }
    if (reply.delayMs === undefined) return write()
    const timer = setTimeout(() => {
      timers.delete(timer)
      write()
    }, reply.delayMs)
    timers.add(timer)
  }

  let port = options.port ?? 0
  const listen = async (): Promise<void> => {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()
    for (const socket of sockets) socket.destroy()
    await closed
  }
  await listen()

  return {
    get endpoint() {
      return `http://127.0.0.1:${port}/api/v1/transaction`
    },
    get port() {
      return port
    },
    requests,
    events,
    script: (...replies) => void scripted.push(...replies),
    setDefaultReply: (reply) => {
      defaultReply = reply
    },
    setLoad: (load) => {
      if (load.latencyMs !== undefined) latencyMs = load.latencyMs
      if ('maxInFlight' in load) maxInFlight = load.maxInFlight
    },
    get inFlight() {
      return inFlight
    },
    get maxInFlightSeen() {
      return maxInFlightSeen
    },
    waitForRequests: (count) =>
      new Promise((resolve) => {
        if (requests.length >= count) return resolve(requests)
        const onRequest = (): void => {
          if (requests.length < count) return
          events.off('request', onRequest)
          resolve(requests)
        }
        events.on('request', onRequest)
      }),
    stop,
    start: listen,
    close: stop,
  }
}
