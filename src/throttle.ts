/** Throttled lines: a failure that repeats for every touchpoint is logged once per interval, with a count. */

/** Runs `write` at most once per interval per key, telling it how many calls it swallowed since. */
export function throttle(
  now: () => number,
): (key: string, intervalMs: number, write: (suppressed: number) => void) => void {
  const last = new Map<string, { at: number; suppressed: number }>()
  return (key, intervalMs, write) => {
    const at = now()
    const entry = last.get(key)
    if (entry !== undefined && at - entry.at < intervalMs) {
      entry.suppressed++
      return
    }
    write(entry?.suppressed ?? 0)
    last.set(key, { at, suppressed: 0 })
  }
}
