/**
 * The fake Transactionale API of the adaptive-concurrency scenarios, as its own process: the
 * package's own fake (`express-transactionale/testing`) with `latencyMs`, `maxInFlight` and
 * `retryAfterSeconds` from the environment, taken down and brought back on request. For every
 * answered touchpoint it records the order's index and when the shop confirmed it (both carried in
 * the email), when the request arrived (monotonic µs) and the status it got.
 */
import { startFakeTransactionaleApi, type RecordedRequest } from '../src/testing/fake-api'
import { nowUs, send, type ApiRecord, type ToChild } from './ipc'

const number = (name: string): number | undefined =>
  process.env[name] === undefined ? undefined : Number(process.env[name])

async function main(): Promise<void> {
  const latencyMs = number('BENCH_LATENCY_MS')
  const maxInFlight = number('BENCH_MAX_IN_FLIGHT')
  const retryAfterSeconds = number('BENCH_RETRY_AFTER_S')
  const fake = await startFakeTransactionaleApi({
    apiKey: 'bench-key',
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  })
  const arrivals = new WeakMap<RecordedRequest, number>()
  let records: ApiRecord[] = []
  let received = 0
  fake.events.on('request', (request: RecordedRequest) => {
    arrivals.set(request, nowUs())
    // The fake keeps every request for tests; here only the records below are needed.
    if (++received % 1000 === 0) (fake.requests as unknown[]).length = 0
  })
  fake.events.on('reply', (request: RecordedRequest, status: number) => {
    const email = (request.body as { email?: string } | undefined)?.email ?? ''
    // `<prefix>-<index>-<confirmed µs>@example.org`
    const match = /-(\d+)-(\d+)@/.exec(email)
    if (match === null) return
    records.push([Number(match[1]), Number(match[2]), arrivals.get(request) ?? NaN, status])
  })

  process.on('message', (message: ToChild) => {
    void (async () => {
      if (message.type === 'api') {
        if (message.action === 'down') await fake.stop()
        else await fake.start()
        send({ type: 'ack' })
      } else if (message.type === 'report-touchpoints') {
        send({ type: 'touchpoints', records, maxInFlightSeen: fake.maxInFlightSeen })
        records = []
      } else if (message.type === 'exit') {
        await fake.close()
        process.exit(0)
      }
    })()
  })
  send({ type: 'ready', port: fake.port, endpoint: fake.endpoint })
}

void main()
