/** IPC between bench/stores.ts and its children: one loose message shape, and a monotonic clock. */
export interface Message {
  readonly type: string
  readonly [field: string]: unknown
}

/** Monotonic µs, comparable across processes on one machine (CLOCK_MONOTONIC). */
export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

export function send(message: Message): void {
  process.send?.(message)
}

/** The wire body of bench order `i`, its confirmation time (monotonic µs) stamped into the email. */
export const wireBody = (id: string, confirmedUs: number): string =>
  JSON.stringify({ country: 'IT', email: `${id}-${confirmedUs}@example.org`, first_name: 'Bench', zip_code: '00100' })
