/**
 * The fake Transactionale API (startFakeTransactionaleApi) as its own process. It keeps, per
 * touchpoint, its arrival (monotonic µs) and the confirmation stamp the shop put into the email,
 * and on `expect` reports once `count` touchpoints have arrived since the last `reset`.
 */
import { startFakeTransactionaleApi, type RecordedRequest } from '../../src/testing/fake-api'
import { nowUs, send, type Message } from './messages'

void (async () => {
  const api = await startFakeTransactionaleApi()
  let arrivals: number[] = []
  let latenciesUs: number[] = []
  let expected = Infinity
  // Latencies count only for orders confirmed from the measured window's start (after the warm-up).
  let fromUs = 0
  const onRequest = (request: RecordedRequest): void => {
    const t = nowUs()
    arrivals.push(t)
    const email = (request.body as { email?: string } | undefined)?.email ?? ''
    const stamp = Number(/-(\d+)@/.exec(email)?.[1])
    if (stamp > 0 && stamp >= fromUs) latenciesUs.push(t - stamp)
    if (arrivals.length === expected) {
      expected = Infinity
      send({ type: 'reached', first: arrivals[0], last: t })
    }
  }
  api.events.on('request', onRequest)
  process.on('message', (message: Message) => {
    if (message.type === 'reset') {
      arrivals = []
      latenciesUs = []
      fromUs = 0
      // The fake keeps every request; the bench has no use for them.
      ;(api.requests as RecordedRequest[]).length = 0
      send({ type: 'ack' })
    } else if (message.type === 'window') {
      fromUs = message.fromUs as number
      send({ type: 'ack' })
    } else if (message.type === 'expect') {
      expected = message.count as number
      if (arrivals.length >= expected) {
        expected = Infinity
        send({ type: 'reached', first: arrivals[0], last: arrivals[arrivals.length - 1] })
      }
    } else if (message.type === 'report') {
      send({ type: 'report', count: arrivals.length, first: arrivals[0] ?? 0, latenciesUs })
    } else if (message.type === 'exit') {
      void api.close().then(() => process.exit(0))
    }
  })
  send({ type: 'ready', endpoint: api.endpoint })
})()
