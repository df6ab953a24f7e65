/**
 * The fake Transactionale API as its own process: answers at once (healthy), after 2 s (slow), or
 * refuses connections (down), and records when each touchpoint arrived (monotonic clock).
 */
import { startFakeTransactionaleApi } from '../src/testing/fake-api'
import { nowNs, send, type ToChild } from './ipc'

async function main(): Promise<void> {
  const fake = await startFakeTransactionaleApi({ apiKey: 'bench-key' })
  let arrivals: Record<string, number> = {}
  let recorded = 0
  fake.events.on('request', (request: { body: { email?: string } | undefined }) => {
    const email = request.body?.email
    if (email !== undefined) arrivals[email] = Number(nowNs() / 1000n) // microseconds
    // The fake keeps every request for tests; a benchmark only needs the arrival times.
    if (++recorded % 1000 === 0) (fake.requests as unknown[]).length = 0
  })
  process.on('message', (message: ToChild) => {
    void (async () => {
      if (message.type === 'mode') {
        if (message.mode === 'down') await fake.stop()
        else {
          await fake.start().catch(() => undefined)
          fake.setDefaultReply(message.mode === 'slow' ? { delayMs: 2000 } : { status: 200 })
        }
        send({ type: 'ack' })
      } else if (message.type === 'report-arrivals') {
        send({ type: 'arrivals', arrivals })
        arrivals = {}
      } else if (message.type === 'exit') {
        await fake.close()
        process.exit(0)
      }
    })()
  })
  send({ type: 'ready', port: fake.port, endpoint: fake.endpoint })
}

void main()
