/**
 * Waits with a deadline: for the callers that must answer by a time whatever the API does
 * (`flush({ timeoutMs })`, the promise handed to `waitUntil`), and for calls to a server that must
 * fail rather than hang when it stops answering (Redis).
 */
import { clampDelay, type Clock } from './types'

/**
 * Resolves when `work` settles or `timeoutMs` passes, whichever is first; never rejects. With
 * `unref`, the deadline's timer does not keep the process alive on its own.
 */
export async function raceDeadline(
  work: Promise<unknown>,
  timeoutMs: number,
  clock: Clock,
  unref = false,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<void>((resolve) => {
    timer = clock.setTimeout(resolve, clampDelay(timeoutMs))
    if (unref) timer?.unref?.()
  })
  try {
    await Promise.race([work.then(noop, noop), expired])
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer)
  }
}

const noop = (): void => undefined

/** `work`, or a rejection with `message` once `ms` have passed first. */
export function rejectAfter<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms).unref()
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}
