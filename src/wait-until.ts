/**
 * The hand-over to a serverless host's `waitUntil`: each order's work, bounded by
 * `waitUntilTimeoutMs` so an API that is down never holds a function past it, and a warning (once)
 * when the host did not take it — it threw, or it never subscribed to the promise (as
 * `@vercel/functions`' `waitUntil` does outside a request: a silent no-op).
 */
import { raceDeadline } from './deadline'
import { describeError } from './hooks'
import type { Log } from './logger'
import type { Clock } from './types'

/** Hands one order's work to the host; never throws. */
export type HandOver = (work: Promise<unknown>) => void

/**
 * The promise given to the host. A host that keeps the function alive until a promise settles must
 * subscribe to it first — `then`, `catch`, `finally`, `await`, `Promise.all` all call `then` on it
 * (for `await`, because its constructor is not `Promise`) — so one that settled with no call to
 * `then` was not waited for by anyone.
 */
class HandedOver extends Promise<void> {
  // Promises derived from this one (then/catch/finally) are plain promises.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise
  }

  taken = false

  override then<A = void, B = never>(
    onFulfilled?: ((value: void) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.taken = true
    return super.then(onFulfilled, onRejected)
  }
}

export function createHandOver(
  waitUntil: (promise: Promise<void>) => void,
  timeoutMs: number,
  deps: { readonly clock: Clock; readonly log: Log },
): HandOver {
  let warned = false
  const warn = (fields: Record<string, unknown>): void => {
    if (warned) return
    warned = true
    deps.log.write('waitUntilIgnored', {
      ...fields,
      fix: "pass the host's waitUntil and call it inside a request (Vercel: waitUntil from @vercel/functions); on AWS Lambda await touchpoint.flush({ timeoutMs }) before the handler returns",
    })
  }

  return (work) => {
    let release!: () => void
    const handed = new HandedOver((resolve) => (release = resolve))
    // The deadline's timer must not keep a plain Node process alive: the host holds the function.
    void raceDeadline(work, timeoutMs, deps.clock, true).then(() => {
      release()
      if (warned) return
      // A host that waits for the promise has subscribed by now; give a late subscriber one more turn.
      setImmediate(() => {
        if (!handed.taken) warn({ reason: 'the promise handed to waitUntil was never awaited' })
      })
    })
    try {
      waitUntil(handed)
    } catch (error) {
      warn({ reason: 'waitUntil threw', error: describeError(error, true) })
    }
  }
}
