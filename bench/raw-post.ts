/**
 * The floor the benchmarks compare against: one POST per order, fire-and-forget, with plain
 * node:http over keep-alive sockets (no queue, retry, deadline or accounting). Used by the shop
 * variant `minimal` (bench/shop-process.ts) and the stores bench's `raw` shop (bench/stores/shop.ts).
 */
import http from 'node:http'

export function rawPoster(endpoint: string, apiKey: string): (json: string) => void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const url = new URL(endpoint)
  return (json) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      agent,
      headers: { 'X-Authorization': apiKey, 'Content-Type': 'application/json', Accept: 'application/json' },
    })
    req.on('response', (res) => res.resume())
    req.on('error', () => undefined)
    req.end(json)
  }
}
