/**
 * Open-model load generator: one POST /checkout every 1/rate s, whatever the answers, over
 * keep-alive connections, for `seconds`; reports errors and answered count when all are answered.
 */
import http from 'node:http'
import { send, type Message } from './messages'

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 })

function run(port: number, rate: number, seconds: number, prefix: string): void {
  const total = Math.max(1, Math.round(rate * seconds))
  let errors = 0
  let done = 0
  const finish = (): void => {
    if (++done === total) send({ type: 'load-done', sent: total, errors })
  }
  const fire = (i: number): void => {
    const body = JSON.stringify({ id: `${prefix}-${i}` })
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        path: '/checkout',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume()
        res.on('end', finish)
      },
    )
    req.on('error', () => {
      errors++
      finish()
    })
    req.end(body)
  }
  const started = process.hrtime.bigint()
  const intervalNs = BigInt(Math.round(1e9 / rate))
  let next = 0
  const tick = (): void => {
    const elapsed = process.hrtime.bigint() - started
    while (next < total && BigInt(next) * intervalNs <= elapsed) fire(next++)
    if (next < total) setTimeout(tick, 1)
  }
  tick()
}

process.on('message', (message: Message) => {
  if (message.type === 'load') {
    run(message.port as number, message.rate as number, message.seconds as number, message.prefix as string)
  } else if (message.type === 'exit') {
    agent.destroy()
    process.exit(0)
  }
})
send({ type: 'ready' })
