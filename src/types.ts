/**
 * The shared vocabulary: the clock every timer goes through, and the limits Node's timers can hold.
 */

/** The clock and timers the package uses; injected so tests can drive time. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): NodeJS.Timeout
  clearTimeout(timer: NodeJS.Timeout): void
}

/**
 * The longest delay Node's timers hold: past 2^31 − 1 ms, `setTimeout` fires after 1 ms instead
 * (with a TimeoutOverflowWarning), so every delay goes through {@link clampDelay}.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A delay Node can hold: a finite number from 0 to {@link MAX_TIMER_MS}. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms
}

/** The global clock, read at call time (so test fake timers apply); every delay is clamped. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, clampDelay(ms)),
  clearTimeout: (timer) => clearTimeout(timer),
}
