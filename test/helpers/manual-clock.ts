// A clock that moves only when the test says so, injected into the dispatcher (real sockets keep
// running on the real event loop; only the package's own pauses and deadlines wait for advance()).
import type { Clock } from '../../src/types'

interface Timer {
  at: number
  callback: () => void
  cancelled: boolean
  unref(): Timer
  ref(): Timer
}

export class ManualClock implements Clock {
  private time = 1_700_000_000_000
  private timers: Timer[] = []

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): NodeJS.Timeout {
    const timer: Timer = {
      at: this.time + ms,
      callback,
      cancelled: false,
      unref: () => timer,
      ref: () => timer,
    }
    this.timers.push(timer)
    return timer as unknown as NodeJS.Timeout
  }

  clearTimeout(timer: NodeJS.Timeout): void {
    ;(timer as unknown as Timer).cancelled = true
  }

  /** Timers still waiting, and when the next one is due (ms from now). */
  pending(): { count: number; nextInMs: number | undefined } {
    const live = this.timers.filter((t) => !t.cancelled)
    const next = live.length > 0 ? Math.min(...live.map((t) => t.at)) - this.time : undefined
    return { count: live.length, nextInMs: next }
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.time + ms
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      due.cancelled = true
      this.time = due.at
      due.callback()
    }
    this.timers = this.timers.filter((t) => !t.cancelled)
    this.time = target
  }
}

/** Waits until `condition` holds, checking after each turn of the real event loop (bounded). */
export async function until(condition: () => boolean, what = 'condition', limitMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}
