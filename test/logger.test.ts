// Issue 18: every problem with the `logger` option is a TouchpointConfigError naming that option,
// including loggers that throw when they are inspected: a Proxy whose every property read throws, a
// revoked Proxy, a getter that throws, a child() that throws or gives something that is no logger.
import pino from 'pino'
import { CONFIG_ERROR_CODES, transactionaleTouchpoint, TouchpointConfigError } from '../src'
import { isPinoCompatible } from '../src/logger'

const noop = (): void => undefined

/** A logger with pino's shape whose child() is `child`. */
const pinoLike = (child: () => unknown): Record<string, unknown> => ({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child,
  levels: { values: { debug: 20, info: 30, warn: 40, error: 50 } },
})

const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const HOSTILE_LOGGERS: ReadonlyArray<[string, () => unknown]> = [
  [
    'a Proxy whose every property read throws',
    () =>
      new Proxy(
        {},
        {
          get() {
            throw new Error('boom')
          },
        },
      ),
  ],
  ['a revoked Proxy', revoked],
  [
    'a logger whose `levels` getter throws',
    () =>
      Object.defineProperty(
        pinoLike(() => pino()),
        'levels',
        {
          get() {
            throw new Error('boom')
          },
        },
      ),
  ],
  [
    'a logger whose child() throws',
    () =>
      pinoLike(() => {
        throw new Error('boom')
      }),
  ],
  ['a logger whose child() returns undefined', () => pinoLike(() => undefined)],
  ['a logger whose child() returns something without the level methods', () => pinoLike(() => ({ info: noop }))],
  ['a logger whose child() returns a throwing Proxy', () => pinoLike(revoked)],
]

describe('the logger option', () => {
  test.each(HOSTILE_LOGGERS)(
    'issue 18: %s is a TouchpointConfigError naming the logger option, not a raw error',
    (_what, logger) => {
      let thrown: unknown
      try {
        transactionaleTouchpoint({ apiKey: 'trx-key-logger', route: '/checkout', logger: logger() as never })
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(TouchpointConfigError)
      const error = thrown as TouchpointConfigError
      expect(error.code).toBe(CONFIG_ERROR_CODES.logger)
      expect(error.problems.map((p) => p.option)).toEqual(['logger'])
      expect(error.message).toContain('(logger)')
    },
  )

  test('isPinoCompatible never throws, and accepts a real pino logger (calling its child() once)', () => {
    for (const [, logger] of HOSTILE_LOGGERS) expect(isPinoCompatible(logger())).toBe(false)
    const logger = pino({ enabled: false })
    const child = jest.spyOn(logger, 'child')
    expect(isPinoCompatible(logger)).toBe(true)
    expect(child).toHaveBeenCalledTimes(1)
  })

  test('a working pino logger is still accepted by the factory', async () => {
    const touchpoint = transactionaleTouchpoint({
      apiKey: 'trx-key-logger',
      route: '/checkout',
      logger: pino({ enabled: false }),
    })
    await touchpoint.close({ timeoutMs: 0 })
  })
})
