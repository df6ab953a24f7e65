/**
 * The response hook: for a matched request, remembers the body the handler sends and calls back
 * once the response is over and the handler has ended it, never on the response path itself.
 */
import type { Response } from 'express'
import onFinished from 'on-finished'

/** What the hook hands over once the shop's response is done. */
export interface FinishedResponse {
  /** The status code the shop answered with. */
  readonly statusCode: number
  /** The object given to `res.json()` / `res.send(object)`, or parsed JSON text; `undefined` otherwise. */
  readonly body: unknown
}

/**
 * Hooks `res.json`, `res.send` and `res.end` of one response. `done` runs (from a later tick) when
 * the response has finished and the handler has ended it; if the client went away before the
 * handler answered, it runs when the handler finally does. It never runs if the handler never ends
 * the response.
 */
export function hookResponse(res: Response, done: (finished: FinishedResponse) => void): void {
  let captured: unknown
  let hasBody = false
  let ended = false
  let finished = false
  let fired = false

  const fire = (): void => {
    if (fired || !ended || !finished) return
    fired = true
    setImmediate(() => done({ statusCode: res.statusCode, body: readBody(res, captured) }))
  }

  const { json, send, end } = res
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
    ended = true
    const result = (end as (...a: unknown[]) => Response).apply(this, args)
    fire()
    return result
  } as Response['end']

  onFinished(res, () => {
    finished = true
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
