/**
 * The HTTP client: one lean axios instance per middleware, built once, that POSTs an already
 * serialised body over keep-alive connections and reports what happened without throwing.
 *
 * Only the status line and `Retry-After` matter, so the status decides the result as soon as the
 * headers arrive; the body is then read and thrown away, up to a small cap, only so that the
 * keep-alive socket can be reused. `timeoutMs` is a wall-clock deadline for the whole attempt
 * (connect, headers and body), so a slow or endless body cannot hold a delivery slot or a socket.
 */
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type {
  AxiosInstance,
  AxiosResponse,
  AxiosStatic,
  GenericAbortSignal,
  InternalAxiosRequestConfig,
  RawAxiosHeaders,
} from 'axios'
import { loadDependency } from './load-dependency'

/** What one HTTP attempt produced. Never contains the API key. */
export type HttpResult =
  | {
      readonly kind: 'response'
      readonly status: number
      /** The `Retry-After` header, verbatim, when the API sent one. */
      readonly retryAfter?: string
    }
  | {
      readonly kind: 'network'
      /** Node or axios error code: `ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`, `ETIMEDOUT`, `ERR_CANCELED` … */
      readonly code: string
    }

/** Sends one JSON body; resolves with the outcome, never rejects. */
export type HttpClient = (body: string) => Promise<HttpResult>

/** The HTTP client's settings. */
export interface HttpClientOptions {
  readonly endpoint: string
  readonly apiKey: string
  /** Wall-clock deadline of one attempt: connect, headers and reading the response body. */
  readonly timeoutMs: number
  readonly userAgent: string
  readonly maxSockets: number
}

/**
 * Response body bytes read (and discarded) so the socket can go back to the keep-alive pool. The API
 * answers with a few bytes of JSON; anything bigger is not worth reading, and dropping that one
 * socket is cheaper than buffering or draining it.
 */
export const RESPONSE_BODY_CAP = 4096

/** Axios's Node adapter, named: no per-request probing of environments (and the one the prepared config is for). */
const ADAPTER = 'http'

/** The TCP keep-alive delay axios's Node adapter sets on each request's socket (`setKeepAlive(true, 60_000)`). */
const AXIOS_KEEP_ALIVE_MS = 60_000

/**
 * Creates the client and the agents it owns; `destroy()` closes every socket, which also ends the
 * requests still in flight (those still waiting for headers resolve as network errors).
 */
/** The headers of every request, in order (the CLI shows them with the key masked). */
export function requestHeaders(apiKey: string, userAgent: string): Record<string, string> {
  return {
    'X-Authorization': apiKey,
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'User-Agent': userAgent,
  }
}

export function createHttpClient(options: HttpClientOptions): { send: HttpClient; destroy: () => void } {
  // keepAliveMsecs as axios sets it on every request's socket (60 s): with Node's default of 1 s the
  // agent and axios reset it in turn, two setsockopt() calls per request; equal, both are no-ops.
  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: AXIOS_KEEP_ALIVE_MS,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
  }
  const httpAgent = new http.Agent(agentOptions)
  const httpsAgent = new https.Agent(agentOptions)
  const axios = loadDependency<AxiosStatic>('axios')
  const instance: AxiosInstance = axios.create({
    headers: requestHeaders(options.apiKey, options.userAgent),
    // Lean: the body is a ready string, statuses are ours to judge, no redirects (an API key must not
    // follow one). The answer is a stream that drain() reads under a cap, not a buffer axios fills
    // without limit; undecompressed, so the cap counts bytes off the wire.
    responseType: 'stream',
    transformRequest: [],
    transformResponse: [],
    validateStatus: null,
    maxRedirects: 0,
    decompress: false,
    adapter: ADAPTER,
    // No axios `timeout`: it only covers the wait for headers. Each attempt has its own deadline.
    // Axios looks up proxy environment variables on every request; do it once, here.
    ...(proxyConfigured() ? {} : { proxy: false as const }),
    httpAgent,
    httpsAgent,
  })
  const { endpoint, timeoutMs } = options
  const dispatch = preparedDispatch(axios, instance, endpoint)

  const send: HttpClient = async (body) => {
    const attempt = new Attempt(timeoutMs)
    let response: AxiosResponse<IncomingMessage>
    try {
      response = await dispatch(body, attempt)
    } catch (error) {
      clearTimeout(attempt.timer)
      // Only the code leaves this function: axios errors carry the request config, key included.
      return { kind: 'network', code: attempt.aborted ? 'ETIMEDOUT' : errorCode(axios, error) }
    }
    const retryAfter: unknown = response.headers['retry-after']
    const result: HttpResult =
      typeof retryAfter === 'string'
        ? { kind: 'response', status: response.status, retryAfter }
        : { kind: 'response', status: response.status }
    return drain(response.data, attempt, result)
  }

  return {
    send,
    destroy: () => {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}

type Dispatch = (body: string, signal: GenericAbortSignal) => Promise<AxiosResponse<IncomingMessage>>

/**
 * How each POST reaches axios's Node adapter, through axios's documented adapter contract.
 * `instance.request()` merges the instance's defaults into a new config, normalises its headers
 * and runs the interceptor and transform chains (none here) on every request, and all of that
 * gives the same config for every touchpoint. So axios prepares it once, here, for a custom adapter
 * (the `adapter` option) that keeps the config it is handed; each POST then hands the Node adapter
 * (`axios.getAdapter('http')`) a copy of that config with its own body, signal and headers (the
 * adapter adds Content-Length to them). Should a future axios not hand the config over
 * synchronously, every POST goes through `request()`. Why and what it saves:
 * docs/decisions/0001-keep-axios.md.
 */
function preparedDispatch(axios: AxiosStatic, instance: AxiosInstance, endpoint: string): Dispatch {
  let prepared: InternalAxiosRequestConfig | undefined
  instance
    .request({
      method: 'post',
      url: endpoint,
      adapter: (config) => {
        prepared = config
        return Promise.reject(new Error('prepared'))
      },
    })
    .catch(ignore)
  if (prepared === undefined) {
    return (body, signal) => instance.request<IncomingMessage>({ method: 'post', url: endpoint, data: body, signal })
  }
  const adapter = axios.getAdapter(ADAPTER)
  const template: InternalAxiosRequestConfig = { ...prepared, adapter: ADAPTER }
  const headers = prepared.headers.toJSON() as RawAxiosHeaders
  return (body, signal) => {
    const config: InternalAxiosRequestConfig = {
      ...template,
      headers: new axios.AxiosHeaders(headers),
      data: body,
      signal,
    }
    return adapter(config) as Promise<AxiosResponse<IncomingMessage>>
  }
}

/**
 * One attempt's deadline, and the abort signal axios listens to. It implements axios's
 * `GenericAbortSignal` itself because `new AbortController()` plus an `'abort'` listener costs several
 * µs per request on Node 20 (EventTarget), more than all the rest of our per-request work; one
 * listener slot is all axios uses. A class with a shared timer callback, not closures: this runs for
 * every touchpoint.
 */
class Attempt implements GenericAbortSignal {
  /** Set when the deadline has passed. */
  aborted = false
  readonly timer: NodeJS.Timeout
  /** The response body being drained, once the headers are in. */
  body: IncomingMessage | undefined = undefined
  private onAbort: (() => void) | undefined = undefined

  constructor(timeoutMs: number) {
    this.timer = setTimeout(onDeadline, timeoutMs, this)
    // The socket keeps the process alive while the attempt runs; the deadline need not.
    this.timer.unref()
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.onAbort = listener
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.onAbort === listener) this.onAbort = undefined
  }

  abort(): void {
    this.aborted = true
    // Before the headers axios owns the request and turns the abort into a rejection; after them the
    // body is ours, and destroying it (the socket too, as the body is unfinished) ends drain().
    if (this.body === undefined) this.onAbort?.()
    else this.body.destroy()
  }
}

function onDeadline(attempt: Attempt): void {
  attempt.abort()
}

/**
 * Reads and discards the body so the socket returns to the pool, then resolves with `result`
 * whatever happens to the body: the status line has already decided the outcome, and a delivered
 * touchpoint must not turn into a retry (a duplicate email) because the connection broke afterwards.
 */
function drain(body: IncomingMessage, attempt: Attempt, result: HttpResult): HttpResult | Promise<HttpResult> {
  // Nothing to read when the deadline has passed, when the body was cut before this ran (a closed
  // stream emits no more events to wait for) or when it declares more than the cap: drop it unread.
  const declared = body.headers['content-length']
  if (attempt.aborted || body.closed || (declared !== undefined && Number(declared) > RESPONSE_BODY_CAP)) {
    clearTimeout(attempt.timer)
    body.on('error', ignore).destroy()
    return result
  }
  attempt.body = body
  return new Promise((resolve) => {
    let bytes = 0
    body.on('data', (chunk: Buffer) => {
      // Counted, never kept. One socket read (up to 64 KiB) can pass before the cap trips.
      bytes += chunk.length
      if (bytes > RESPONSE_BODY_CAP) body.destroy()
    })
    // A reset mid-body is reported on the stream; the status already stands.
    body.on('error', ignore)
    // 'close' follows both the end of the body (by then the socket is back in the pool) and its
    // destruction (reset, cap, deadline, destroy()): one listener settles every case.
    body.on('close', () => {
      clearTimeout(attempt.timer)
      resolve(result)
    })
  })
}

function ignore(): void {}

function proxyConfigured(): boolean {
  const env = process.env
  return Boolean(
    env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy || env.ALL_PROXY || env.all_proxy,
  )
}

function errorCode(axios: AxiosStatic, error: unknown): string {
  if (axios.isAxiosError(error)) return error.code ?? 'ERR_NETWORK'
  return 'ERR_UNKNOWN'
}
