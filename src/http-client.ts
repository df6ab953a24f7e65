/**
 * The HTTP client: one lean axios instance per middleware, built once, that POSTs an already
 * serialised body over keep-alive connections and reports what happened without throwing.
 */
import http from 'node:http'
import https from 'node:https'
import axios, { type AxiosInstance } from 'axios'

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
  readonly timeoutMs: number
  readonly userAgent: string
  readonly maxSockets: number
}

/**
 * Creates the client and the agents it owns; `destroy()` closes every socket, which also ends the
 * requests still in flight (they resolve as network errors).
 */
export function createHttpClient(options: HttpClientOptions): { send: HttpClient; destroy: () => void } {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets }
  const httpAgent = new http.Agent(agentOptions)
  const httpsAgent = new https.Agent(agentOptions)
  const instance: AxiosInstance = axios.create({
    timeout: options.timeoutMs,
    headers: {
      'X-Authorization': options.apiKey,
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'User-Agent': options.userAgent,
    },
    // Lean: the body is a ready string, the answer is not parsed or decompressed, statuses are ours
    // to judge, no redirects (an API key must not follow one).
    responseType: 'text',
    transformRequest: [],
    transformResponse: [],
    validateStatus: null,
    maxRedirects: 0,
    decompress: false,
    adapter: 'http',
    // Axios looks up proxy environment variables on every request; do it once, here.
    ...(proxyConfigured() ? {} : { proxy: false as const }),
    httpAgent,
    httpsAgent,
  })

  const send: HttpClient = async (body) => {
    try {
      // request() with a plain config merges once; post() would merge twice.
      const response = await instance.request({ method: 'post', url: options.endpoint, data: body })
      const retryAfter: unknown = response.headers['retry-after']
      return typeof retryAfter === 'string'
        ? { kind: 'response', status: response.status, retryAfter }
        : { kind: 'response', status: response.status }
    } catch (error) {
      // Only the code leaves this function: axios errors carry the request config, key included.
      return { kind: 'network', code: errorCode(error) }
    }
  }

  return {
    send,
    destroy: () => {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}

function proxyConfigured(): boolean {
  const env = process.env
  return Boolean(
    env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy || env.ALL_PROXY || env.all_proxy,
  )
}

function errorCode(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.code === 'ECONNABORTED' && /timeout/i.test(error.message)) return 'ETIMEDOUT'
    return error.code ?? 'ERR_NETWORK'
  }
  return 'ERR_UNKNOWN'
}
