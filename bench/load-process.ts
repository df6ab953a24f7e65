/**
 * Open-model load generator, a long-lived process: for each `load` message it sends one request
 * every 1/rate seconds, whatever the answers, over keep-alive connections, and reports every
 * request's latency once all have been answered. `load-stop` ends a run early (the adaptive
 * scenarios run until the backlog has drained).
 */
import http from 'node:http'
import { send, type ToChild } from './ipc'

const agent = new http.Agent({ keepAlive: true, maxSockets: 2048 })
let stop: (() => void) | undefined

function run(port: number, rate: number, seconds: number, path: string, prefix: string): void {
  let total = Math.max(1, Math.round(rate * seconds))
  const isGet = path !== '/checkout'
  const latenciesMs: number[] = []
  let errors = 0
  let done = 0
  const started = process.hrtime.bigint()
  const intervalNs = BigInt(Math.round(1e9 / rate))

  const report = (): void => {
    stop = undefined
    send({ type: 'load-done', latenciesMs, errors, sent: total })
  }
  const finish = (): void => {
    if (++done === total) report()
  }
  const fire = (i: number): void => {
    const t0 = process.hrtime.bigint()
    const body = isGet ? undefined : JSON.stringify({ id: `${prefix}-${i}` })
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        path,
        method: isGet ? 'GET' : 'POST',
        agent,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        res.resume()
        res.on('end', () => {
          latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6)
          finish()
        })
      },
    )
    req.on('error', () => {
      errors++
      finish()
    })
    req.end(body)
  }
  let next = 0
  const tick = (): void => {
    const elapsed = process.hrtime.bigint() - started
    while (next < total && BigInt(next) * intervalNs <= elapsed) fire(next++)
    if (next < total) setTimeout(tick, 1)
  }
  stop = () => {
    // No more orders; the run ends once those already sent are answered.
    total = next
    if (done === total) report()
  }
  tick()
}

process.on('message', (message: ToChild) => {
  if (message.type === 'load') run(message.port, message.rate, message.seconds, message.path, message.prefix)
  else if (message.type === 'load-stop') stop?.()
  else if (message.type === 'exit') {
    agent.destroy()
    process.exit(0)
  }
})
send({ type: 'ready', port: 0 })
