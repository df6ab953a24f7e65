/**
 * The response hook: for a matched request, notices when the response is over (sent and closed,
 * or abandoned by the client and then ended by the handler) and hands over its status and, when a
 * mapper wants it, the body the handler sent. Nothing here runs on the response path beyond one
 * 'close' listener, shared by all responses (and two method wrappers when the body is captured).
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
 * Builds, once per middleware, the hook it puts on each matched response: `onOver(res, finished)` is
 * called once, synchronously, when the response is over (see {@link hookResponse}). Without
 * `captureBody` one 'close' listener, shared by every response (it finds the response as `this`),
 * is all a request costs: no closure, no once() wrapper.
 */
export function createResponseHook(
  captureBody: boolean,
  onOver: (res: Response, finished: FinishedResponse) => void,
): (res: Response) => void {
  if (captureBody) return (res) => hookResponse(res, true, (finished) => onOver(res, finished))
  const over = (res: Response): void => onOver(res, { statusCode: res.statusCode, body: undefined })
  function onClose(this: Response): void {
    // A response emits 'close' once; the listener leaves anyway, as once() would have it.
    this.removeListener('close', onClose)
    if (this.writableEnded) over(this)
    else afterEnd(this, over)
  }
  return (res) => void res.on('close', onClose)
}

/**
 * Calls `onOver` once, synchronously, when the response is over: when it has been sent and closed,
 * or — if the client went away before the handler answered — when the handler finally ends it.
 * Never calls it if the handler never ends the response. With `captureBody`, `res.json` and
 * `res.send` are wrapped to remember what the handler sent.
 */
export function hookResponse(res: Response, captureBody: boolean, onOver: (finished: FinishedResponse) => void): void {
  let captured: unknown
  let hasBody = false
  const over = (): void =>
    onOver({ statusCode: res.statusCode, body: captureBody ? readBody(res, captured) : undefined })

  if (captureBody) {
    // The originals are called with the response as `this`, exactly as Express would call them.
    const { json, send } = res
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
  }

  // Since Node 18 a ServerResponse emits 'close' once it has been sent, or when the connection went
  // away first: one listener covers both, with less work per request than on-finished.
  res.once('close', () => {
    if (res.writableEnded) return over()
    afterEnd(res, over)
  })
}

/**
 * The client left before the handler answered; the order may still complete: `then(res)` runs
 * right after the handler's end().
 */
function afterEnd(res: Response, then: (res: Response) => void): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const { end } = res
  res.end = function endHook(this: Response, ...args: unknown[]) {
    res.end = end
    const result = (end as (...a: unknown[]) => Response).apply(this, args)
    then(res)
    return result
  } as Response['end']
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
