// Issue 18: an error's `name` and `code` are shown only when they look like identifiers, unless
// `logPersonalData` is on: a shop's error can carry customer data in its code
// (`e.code = 'E_DUP anna@x.it'`) as easily as in its message. Checked on describeError itself and
// end to end, in the log lines and the hook payloads of a real Express app.
import request from 'supertest'
import { transactionaleTouchpoint, type InvalidEvent } from '../src'
import { describeError } from '../src/hooks'
import { captureLogs } from './helpers/log-capture'
import { createShop, EXPRESS_VERSIONS } from './helpers/shop'

const withCode = (code: unknown, name?: string): Error => {
  const error = new Error('duplicate anna@x.it') as Error & { code?: unknown }
  error.code = code
  if (name !== undefined) error.name = name
  return error
}

describe('describeError', () => {
  test.each([
    ['E_DUP anna@x.it', 'Error (code withheld)'],
    ['anna@x.it', 'Error (code withheld)'],
    ['ER_DUP_ENTRY', 'Error (ER_DUP_ENTRY)'],
    ['P2002', 'Error (P2002)'],
    ['auth.token-expired', 'Error (auth.token-expired)'],
    ['x'.repeat(40), `Error (${'x'.repeat(40)})`],
    ['x'.repeat(41), 'Error (code withheld)'],
    ['', 'Error (code withheld)'],
    ['E\u202eX', 'Error (code withheld)'],
    ['E\nX', 'Error (code withheld)'],
    [42, 'Error'],
  ])('issue 18: without logPersonalData, code %j is described as %j', (code, described) => {
    expect(describeError(withCode(code), false)).toBe(described)
  })

  test('issue 18: without logPersonalData, a name that is not an identifier is withheld', () => {
    expect(describeError(withCode('E_DUP', 'Duplicate for anna@x.it'), false)).toBe('(name withheld) (E_DUP)')
    expect(describeError(withCode(undefined, 'DbError'), false)).toBe('DbError')
    class Named extends Error {}
    Object.defineProperty(Named, 'name', { value: 'Named anna@x.it' })
    expect(describeError(new Named('x'), false)).toBe('(name withheld)')
  })

  test('issue 18: with logPersonalData, the name, code and message are shown as they are', () => {
    expect(describeError(withCode('E_DUP anna@x.it'), true)).toBe('Error (E_DUP anna@x.it): duplicate anna@x.it')
  })
})

describe.each(EXPRESS_VERSIONS)('issue 18: error codes in logs and hooks, through %s', (_version, expressFactory) => {
  const customer = { email: 'bea@example.org', firstName: 'Bea', country: 'FR', orderId: 'C-1' }

  async function run(logPersonalData: boolean): Promise<{ log: string; invalid: InvalidEvent[]; hookLog: string }> {
    const logs = captureLogs()
    const invalid: InvalidEvent[] = []
    const touchpoint = transactionaleTouchpoint({
      apiKey: 'trx-key-codes',
      route: '/checkout',
      endpoint: 'http://127.0.0.1:9/never-reached',
      logger: logs.logger,
      logPersonalData,
      mapper: () => {
        throw withCode('E_DUP anna@x.it', 'Duplicate anna@x.it')
      },
      hooks: {
        onInvalid: (event) => {
          invalid.push(event)
          // A hook that throws such an error: its line never has the personal data either.
          throw withCode('E_HOOK anna@x.it')
        },
      },
    })
    try {
      await request(createShop(expressFactory, touchpoint)).post('/checkout').send({ customer }).expect(201)
      await touchpoint.flush()
      const hookLine = await logs.waitFor('a touchpoint hook threw')
      return { log: logs.text(), invalid, hookLog: JSON.stringify(hookLine) }
    } finally {
      await touchpoint.close({ timeoutMs: 0 })
    }
  }

  test('without logPersonalData: "(code withheld)" in the log line and the onInvalid payload, never the code', async () => {
    const { log, invalid, hookLog } = await run(false)
    expect(invalid.map((e) => e.reasons)).toEqual([['mapper: (name withheld) (code withheld)']])
    expect(log).toContain('mapper: (name withheld) (code withheld)')
    expect(hookLog).toContain('Error (code withheld)')
    expect(log).not.toContain('anna@x.it')
  })

  test('with logPersonalData: the code and message are logged (the shop asked for them)', async () => {
    const { invalid } = await run(true)
    expect(invalid.map((e) => e.reasons)).toEqual([
      ['mapper: Duplicate anna@x.it (E_DUP anna@x.it): duplicate anna@x.it'],
    ])
  })
})
