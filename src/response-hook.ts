/**
 * The response hook: for a matched request, remembers the body the handler sends and calls back
 * once the response is over and the handler has ended it, never on the response path itself.
 */
import type { Response } from 'express'

/** What the hook hands over once the shop's response is done. */
export interface FinishedResponse {
  /** The status code the shop answered with. */
  readonly statusCode: number
  /** The object given to `res.json()` / `res.send(object)`, or parsed JSON text; `undefined` otherwise. */
  readonly body: unknown
}

/**
 * Hooks `res.json`, `res.send` and `res.end` of one response. `onEnd` runs synchronously when the
 * handler ends the response (so the caller can count the order as pending at once) and returns the
 * callback that runs, from a later tick, once the response is over. If the client went away before
 * the handler answered, both run when the handler finally does; neither runs if the handler never
 * ends the response.
 */
export function hookResponse(res: Response, onEnd: () => (finished: FinishedResponse) => void): void {
  let captured: unknown
  let hasBody = false
  let closed = false
  let done: ((finished: FinishedResponse) => void) | undefined

  const fire = (): void => {
    if (done === undefined || !closed) return
    const callback = done
    done = undefined
    setImmediate(() => callback({ statusCode: res.statusCode, body: readBody(res, captured) }))
  }

  // The originals are called with the response as `this`, exactly as Express would call them.
  /* eslint-disable @typescript-eslint/unbound-method */
  const { json, send, end } = res
  /* eslint-enable @typescript-eslint/unbound-method */
  res.json = function jsonHook(this: Response, value?: unknown) {
    if (!hasBody) {
      hasBody = true
      captured = value
    }
    return json.call(this, value)
  }
  res.send = function sendHook(this: Response, value?: unknown) {
    if (!hasBody) {
      hasBody = true
      captured = value
    }
    return send.call(this, value)
  }
  res.end = function endHook(this: Response, ...args: unknown[]) {
    done ??= onEnd()
    const result = (end as (...a: unknown[]) => Response).apply(this, args)
    fire()
    return result
  } as Response['end']

  // Since Node 18 a ServerResponse emits 'close' once it has finished, or when the connection went
  // away first: one listener covers both, with less work per request than on-finished.
  res.once('close', () => {
    closed = true
    fire()
  })
}

function readBody(res: Response, captured: unknown): unknown {
  if (typeof captured === 'string' || Buffer.isBuffer(captured)) {
    const type = res.getHeader('content-type')
    if (typeof type !== 'string' || !/[/+]json\b/i.test(type)) return undefined
    try {
      return JSON.parse(captured.toString()) as unknown
    } catch {
      return undefined
    }
  }
  return captured !== null && typeof captured === 'object' ? captured : undefined
}
