// Issue 18: the command line shows no secrets and prints nothing that acts on the terminal. A parse
// error never echoes an option's value (an unknown `--api-key=…` shows its name only; a refused
// value is not repeated), and whatever the CLI prints from its arguments has its control, format and
// separator characters escaped, so an `--endpoint` with CR/LF cannot forge output lines. `send`
// validates as the middleware does, Unicode rule included. Run in process: `main()` with streams of
// its own.
import { Writable } from 'node:stream'
import { main } from '../../src/cli/program'
import { printable } from '../../src/cli/output'

const SECRET = 'SeCrEt-7c1d55e0a9b44f3'

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
}

async function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(['node', 'express-transactionale', ...args], { stdout: sink(out), stderr: sink(err), env })
  return { code, stdout: out.join(''), stderr: err.join('') }
}

const customer = ['--email', 'anna@example.com', '--first-name', 'Anna', '--country', 'IT']

/** No C0/C1 control (but the line feeds that end lines), DEL, format character or separator. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/u

describe('parse errors never echo an option value (issue 18)', () => {
  test.each([
    [['send', `--api-key=${SECRET}`], "error: unknown option '--api-key'"],
    [['send', `--apikey=${SECRET}`, ...customer], "error: unknown option '--apikey'"],
    [['send', `-k${SECRET}`], "error: unknown option '-k'"],
    [['send', `-k=${SECRET}`], "error: unknown option '-k'"],
    [['fake-api', `--api-key=${SECRET}`, '--port', `${SECRET}`], "error: option '--port <port>' argument is invalid."],
    [['send', `--timeout-ms=${SECRET}`], "error: option '--timeout-ms <ms>' argument is invalid."],
    [['send', '--timeout-ms', SECRET], "error: option '--timeout-ms <ms>' argument is invalid."],
  ])('%j: exit 2, "%s", the value nowhere', async (args, expected) => {
    const result = await run(args)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(expected)
    expect(result.stdout + result.stderr).not.toContain(SECRET)
    expect(result.stdout + result.stderr).not.toContain(SECRET.slice(0, 8))
  })

  test('the reason of a refused value is kept, and a suggestion of our own flags too', async () => {
    const timeout = await run(['send', '--timeout-ms', 'soon'])
    expect(timeout.stderr).toContain(
      "error: option '--timeout-ms <ms>' argument is invalid. must be a whole number from 0 to 9007199254740991.",
    )
    const typo = await run(['send', '--emial', 'anna@example.com'])
    expect(typo.stderr).toContain("error: unknown option '--emial'\n(Did you mean --email?)\n")
    expect(typo.stderr).not.toContain('anna@example.com')
    // Commander looks for a suggestion before the value is cut off, and finds none: the name remains.
    const withValue = await run(['send', '--emial=anna@example.com'])
    expect(withValue.stderr).toContain("error: unknown option '--emial'\n")
    expect(withValue.stderr).not.toContain('anna@example.com')
  })

  test('an unknown command with control characters is printed escaped, on one line', async () => {
    const result = await run(['se\u001b[2Jnd\r\nerror: forged line'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("error: unknown command 'se\\x1B[2Jnd\\r\\nerror: forged line'")
    expect(result.stderr).not.toMatch(UNPRINTABLE)
    expect(result.stderr.split('\n').filter((line) => line.startsWith('error:'))).toHaveLength(1)
  })
})

describe('what the CLI prints from its arguments is escaped (issue 18)', () => {
  const endpoint = 'http://127.0.0.1:9/touchpoints\r\n\u2190 200 OK in 3 ms\u202e'

  test('an --endpoint with CR/LF and a bidi override cannot forge output lines', async () => {
    const result = await run(['send', ...customer, '--endpoint', endpoint, '--dry-run'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('→ POST http://127.0.0.1:9/touchpoints\\r\\n\u2190 200 OK in 3 ms\\u202E\n')
    expect(result.stdout).not.toMatch(UNPRINTABLE)
    expect(result.stdout.split('\n').filter((line) => line.startsWith('\u2190'))).toEqual([])
  })

  test('with --json: the same value, escaped so that it is still the same JSON', async () => {
    const result = await run(['send', ...customer, '--endpoint', `${endpoint}\u0085\u2028`, '--dry-run', '--json'])
    expect(result.code).toBe(0)
    expect(result.stdout).not.toMatch(UNPRINTABLE)
    const document = JSON.parse(result.stdout) as { request: { url: string } }
    expect(document.request.url).toBe(`${endpoint}\u0085\u2028`)
  })

  test('a usage error quoting an argument is escaped too', async () => {
    const result = await run(['send', ...customer, '--endpoint', 'not a url\u001b[31m', '--dry-run'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('not a url\\x1B[31m')
    expect(result.stderr).not.toMatch(UNPRINTABLE)
  })

  test.each([
    ['CR LF', 'a\r\nb', 'a\\r\\nb'],
    ['ESC and DEL', '\u001b[0m\u007f', '\\x1B[0m\\x7F'],
    ['a C1 control', 'a\u009bb', 'a\\x9Bb'],
    ['bidi override and zero width', '\u202eab\u200b', '\\u202Eab\\u200B'],
    ['line and paragraph separators', 'a\u2028b\u2029', 'a\\u2028b\\u2029'],
    ['a tag character', 'a\u{e0041}', 'a\\u{E0041}'],
    ['a lone surrogate', 'a\ud800', 'a\\uD800'],
    ['letters of any script', 'Zoë 山田 пример', 'Zoë 山田 пример'],
  ])('printable: %s', (_what, text, shown) => {
    expect(printable(text)).toBe(shown)
  })
})

describe('send validates as the middleware does (issue 18)', () => {
  test.each([
    ['--email', 'anna\u202e@example.com', '--email: format characters'],
    ['--email', 'pаypal@example.com', '--email: local part mixes scripts'],
    ['--email', 'a@example\u3002com', '--email: non-ascii dot'],
    ['--first-name', '\u3164', '--first-name: no visible letter'],
    ['--first-name', 'An\u2028na', '--first-name: line or paragraph separators'],
    ['--last-name', 'Ro\u200bssi', '--last-name: not valid (the middleware would leave it out of the touchpoint)'],
  ])('%s %j is refused: "%s", nothing sent', async (flag, value, problem) => {
    const args = [...customer]
    const at = args.indexOf(flag)
    if (at === -1) args.push(flag, value)
    else args[at + 1] = value
    const result = await run(['send', ...args, '--dry-run'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`  - ${problem}\n`)
    expect(result.stdout).not.toContain('→ POST')
    expect(result.stderr).not.toContain(value)
  })

  test('a one-script IDN address is sent as typed', async () => {
    const args = ['--email', 'mario@università.it', '--first-name', 'Mario', '--country', 'IT', '--dry-run', '--json']
    const result = await run(['send', ...args])
    expect(result.code).toBe(0)
    expect((JSON.parse(result.stdout) as { request: { body: { email: string } } }).request.body.email).toBe(
      'mario@università.it',
    )
  })
})
