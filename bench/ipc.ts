/** Messages between the benchmark orchestrator and its child processes (node IPC). */
export type ToChild =
  | { type: 'measure-start' }
  | { type: 'measure-stop' }
  | { type: 'mode'; mode: 'healthy' | 'slow' | 'down' }
  | { type: 'report-arrivals' }
  | { type: 'sample-memory'; everyMs: number }
  | { type: 'load'; port: number; rate: number; seconds: number; path: string; prefix: string }
  | { type: 'exit' }

export type FromChild =
  | { type: 'ready'; port: number; endpoint?: string }
  | { type: 'measured'; cpuMicros: number; requests: number; wallMs: number }
  | { type: 'arrivals'; arrivals: Record<string, number> }
  | { type: 'finishes'; finishes: Record<string, number> }
  | { type: 'memory'; samples: { t: number; rss: number; heapUsed: number; queued: number }[] }
  | { type: 'load-done'; latenciesMs: number[]; errors: number; sent: number }
  | { type: 'ack' }

/** Monotonic nanoseconds, comparable across processes on one machine (CLOCK_MONOTONIC). */
export const nowNs = (): bigint => process.hrtime.bigint()

export function send(message: FromChild): void {
  process.send?.(message)
}
