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
 * Hooks `res.json`, `res.send` and `res.end` of one response. `onEnd` runs synchronously when the
 * handler ends the response (so the caller can count the order as pending at once) and returns the
 * callback that runs, from a later tick, once the response has also finished. If the client went
 * away before the handler answered, both run when the handler finally does; neither runs if the
 * handler never ends the response.
 */
export function hookResponse(res: Response, onEnd: () => (finished: FinishedResponse) => void): void {
  let captured: unknown
  let hasBody = false
  let ended = false
  let finished = false
  let done: ((finished: FinishedResponse) => void) | undefined

  const fire = (): void => {
    if (done === undefined || !finished) return
    const callback = done
    done = undefined
    setImmediate(() => callback({ statusCode: res.statusCode, body: readBody(res, captured) }))
  }

  // Own copies of the methods this response had; they are called with the response as `this`.
  const json = res.json.bind(res)
  const send = res.send.bind(res)
  const end = res.end.bind(res) as (...args: unknown[]) => Response
  res.json = function jsonHook(value?: unknown) {
    if (!hasBody) {
      hasBody = true
      captured = value
    }
    return json(value)
  }
  res.send = function sendHook(value?: unknown) {
    if (!hasBody) {
      hasBody = true
      captured = value
    }
    return send(value)
  }
  res.end = function endHook(...args: unknown[]) {
    if (!ended) {
      ended = true
      done = onEnd()
    }
    const result = end(...args)
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
