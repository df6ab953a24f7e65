/** Messages between the benchmark orchestrator and its child processes (node IPC). */
export type ToChild =
  | { type: 'measure-start' }
  | { type: 'measure-stop' }
  | { type: 'mode'; mode: 'healthy' | 'slow' | 'down' }
  | { type: 'report-arrivals' }
  | { type: 'sample-memory'; everyMs: number }
  | { type: 'load'; port: number; rate: number; seconds: number; path: string; prefix: string }
  /** Load generator: send no more orders (answers to those sent are still awaited). */
  | { type: 'load-stop' }
  /** Shop: sample stats() (limit, in flight, queued, state) every `everyMs`. */
  | { type: 'sample-delivery'; everyMs: number }
  | { type: 'report-delivery' }
  /** Adaptive fake API: refuse connections (down) or listen again (up). */
  | { type: 'api'; action: 'down' | 'up' }
  | { type: 'report-touchpoints' }
  | { type: 'exit' }

/** One stats() sample of the shop, at monotonic µs `t`. */
export interface DeliverySample {
  t: number
  limit: number
  inFlight: number
  queued: number
  state: string
}

/** One answered request at the adaptive fake API: [order index, order confirmed µs, arrival µs, status]. */
export type ApiRecord = [index: number, confirmedUs: number, arrivalUs: number, status: number]

export type FromChild =
  | { type: 'ready'; port: number; endpoint?: string }
  | { type: 'measured'; cpuMicros: number; requests: number; wallMs: number }
  | { type: 'arrivals'; arrivals: Record<string, number> }
  | { type: 'finishes'; finishes: Record<string, number> }
  | { type: 'memory'; samples: { t: number; rss: number; heapUsed: number; queued: number }[] }
  | { type: 'load-done'; latenciesMs: number[]; errors: number; sent: number }
  | {
      type: 'delivery'
      samples: DeliverySample[]
      /** 'concurrency limit changed' debug lines: [monotonic µs, limit, reason]. */
      changes: [number, number, string][]
      /** BENCH_STAMP: when the shop confirmed each order (monotonic µs), by the order's index. */
      stamps: number[]
      counts: {
        received: number
        sent: number
        failed: number
        dropped: number
        retried: number
        queued: number
        inFlight: number
        limit: number
        state: string
      }
    }
  | { type: 'touchpoints'; records: ApiRecord[]; maxInFlightSeen: number }
  | { type: 'ack' }

/** Monotonic nanoseconds, comparable across processes on one machine (CLOCK_MONOTONIC). */
export const nowNs = (): bigint => process.hrtime.bigint()
/** Monotonic microseconds as a number (exact for ~285 years of uptime). */
export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

export function send(message: FromChild): void {
  process.send?.(message)
}
