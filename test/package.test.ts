// Packs the real tarball and loads it the way a shop would, with require and with import, and
// compiles a shop's TypeScript against its types.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../src/version'

const root = path.resolve(__dirname, '..')
// Inside the repo, so the packed package finds its dependencies in the repo's node_modules.
const sandbox = path.join(root, '.pack-test')
const installed = path.join(sandbox, 'node_modules', PACKAGE_NAME)

const run = (args: string[]): string => execFileSync(process.execPath, args, { cwd: sandbox, encoding: 'utf8' })

const probe = `
  const { transactionaleTouchpoint, normalizeCountry, TouchpointConfigError, WIRE_NAMES } = m;
  const { startFakeTransactionaleApi } = t;
  let code;
  try { transactionaleTouchpoint({ apiKey: '' , route: '/x' }) } catch (e) { code = e instanceof TouchpointConfigError && e.code }
  const mw = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' });
  const out = JSON.stringify({ fn: typeof mw, close: typeof mw.close, de: normalizeCountry('Germania'), code,
    wire: WIRE_NAMES.firstName, fake: typeof startFakeTransactionaleApi });
  mw.close().then(() => console.log(out));
`
const expected = {
  fn: 'function',
  close: 'function',
  de: 'DE',
  code: 'ERR_TOUCHPOINT_API_KEY',
  wire: 'first_name',
  fake: 'function',
}

beforeAll(() => {
  rmSync(sandbox, { recursive: true, force: true })
  mkdirSync(installed, { recursive: true })
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  execFileSync(npm, ['run', 'build'], { cwd: root, stdio: 'ignore' })
  const packed = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', sandbox], {
      cwd: root,
      encoding: 'utf8',
    }),
  ) as { filename: string; files: { path: string }[] }[]
  const tarball = path.join(sandbox, packed[0]?.filename ?? '')
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'])
}, 120_000)

afterAll(() => rmSync(sandbox, { recursive: true, force: true }))

test('the tarball holds only dist and the package files, with the right version', () => {
  const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string }
  expect(manifest.version).toBe(PACKAGE_VERSION)
  const top = execFileSync('ls', [installed], { encoding: 'utf8' }).trim().split('\n').sort()
  expect(top).toEqual(['LICENSE', 'README.md', 'dist', 'package.json'].sort())
})

test('loads with require (CJS)', () => {
  const out = run([
    '-e',
    `const m = require('${PACKAGE_NAME}'); const t = require('${PACKAGE_NAME}/testing'); ${probe}`,
  ])
  expect(JSON.parse(out)).toEqual(expected)
})

test('loads with import (ESM)', () => {
  const out = run([
    '--input-type=module',
    '-e',
    `import * as m from '${PACKAGE_NAME}'; import * as t from '${PACKAGE_NAME}/testing'; ${probe}`,
  ])
  expect(JSON.parse(out)).toEqual(expected)
})

// prom-client is an optional peer: neither entry loads it until registerMetrics() is called, in both builds.
const metricsProbe = `
  const loaded = () => Object.keys(req.cache).some((k) => k.includes('/node_modules/prom-client/'));
  const before = loaded();
  const mw = m.transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' });
  const handle = x.registerMetrics(mw);
  const register = req('prom-client').register;
  register.metrics().then(async (text) => {
    handle.unregister();
    await mw.close();
    console.log(JSON.stringify({ before, after: loaded(), left: register.getMetricsAsArray().length,
      counter: text.includes('# TYPE transactionale_touchpoints_total counter') }));
  });
`
test.each([
  [
    'require (CJS)',
    `const req = require; const m = require('${PACKAGE_NAME}'); const x = require('${PACKAGE_NAME}/metrics');`,
  ],
  [
    'import (ESM)',
    `import { createRequire } from 'node:module'; import * as m from '${PACKAGE_NAME}'; import * as x from '${PACKAGE_NAME}/metrics'; const req = createRequire(import.meta.url);`,
  ],
])('express-transactionale/metrics loads prom-client only when called, with %s', (how, load) => {
  const out = run([...(how.includes('ESM') ? ['--input-type=module'] : []), '-e', `${load} ${metricsProbe}`])
  expect(JSON.parse(out)).toEqual({ before: false, after: true, left: 0, counter: true })
})

// A light start (issue 19): importing the package loads none of its heavier dependencies; the
// factory loads them, so the first checkout pays for none of them.
const HEAVY = ['joi', 'axios', 'pino', 'path-to-regexp', 'i18n-iso-countries']
const startProbe = `
  const heavy = ${JSON.stringify(HEAVY)};
  const loaded = () => heavy.filter((d) => Object.keys(req.cache).some((k) => k.includes('/node_modules/' + d + '/')));
  const atImport = loaded();
  const mw = m.transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' });
  const atFactory = loaded();
  mw.close().then(() => console.log(JSON.stringify({ atImport, atFactory })));
`
test.each([
  ['require (CJS)', `const req = require; const m = require('${PACKAGE_NAME}');`],
  [
    'import (ESM)',
    `import { createRequire } from 'node:module'; import * as m from '${PACKAGE_NAME}'; const req = createRequire(import.meta.url);`,
  ],
])('a light start with %s: the heavier dependencies load with the factory, not at import', (how, load) => {
  const out = run([...(how.includes('ESM') ? ['--input-type=module'] : []), '-e', `${load} ${startProbe}`])
  expect(JSON.parse(out)).toEqual({ atImport: [], atFactory: HEAVY })
})

// A shop's TypeScript, compiled with the repo's tsc against the packed .d.ts / .d.mts files.
const consumer = path.join(sandbox, 'consumer')
const usesPackage = `
import express from 'express'
import express4 from 'express4'
import { transactionaleTouchpoint, type Customer } from '${PACKAGE_NAME}'
import { startFakeTransactionaleApi, type FakeApiOptions } from '${PACKAGE_NAME}/testing'

const fakeOptions: FakeApiOptions = { port: 4599, apiKey: 'k' }
export const fake = startFakeTransactionaleApi(fakeOptions)
const app = express()
app.use(transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' }))
app.post('/checkout', (_req, res) => {
  res.locals.transactionale = { email: 'a@b.it', firstName: 'A', country: 'IT' }
  const customer: Customer | null | undefined = res.locals.transactionale
  res.json(customer)
})
express4().post('/checkout', (_req, res) => {
  res.locals.transactionale = null
  res.locals.other = 'any other local stays untyped'
  res.end()
})
`
const wrongLocals = (expressModule: string): string => `
import express from '${expressModule}'
import '${PACKAGE_NAME}'

express().post('/checkout', (_req, res) => {
  res.locals.transactionale = { email: 1 }
  res.end()
})
`
const WRONG_LINE = 6

/** Runs tsc on `files` (in the consumer folder); returns its errors as `file(line): TSxxxx`. */
const compile = (options: string[], files: string[]): string[] => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const common = ['--noEmit', '--pretty', 'false', '--strict', '--esModuleInterop', '--types', 'node']
  const result = spawnSync(process.execPath, [tsc, ...common, ...options, ...files], {
    cwd: consumer,
    encoding: 'utf8',
  })
  expect(result.error).toBeUndefined()
  const errors = [...result.stdout.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)].map(
    ([, file, line, code]) => `${file}(${line}): ${code}`,
  )
  // A failure without a parsable error (a crash, a bad flag) must not pass as "no errors".
  if (errors.length === 0)
    expect({ status: result.status, out: result.stdout + result.stderr }).toEqual({ status: 0, out: '' })
  return errors
}

describe('a TypeScript consumer', () => {
  beforeAll(() => {
    mkdirSync(consumer, { recursive: true })
    writeFileSync(path.join(consumer, 'uses.ts'), usesPackage)
    writeFileSync(path.join(consumer, 'uses.mts'), usesPackage)
    writeFileSync(path.join(consumer, 'wrong-locals.ts'), wrongLocals('express'))
    writeFileSync(path.join(consumer, 'wrong-locals4.mts'), wrongLocals('express4'))
  })

  test('item 12: compiles with moduleResolution "node" (node10): typesVersions maps /testing', () => {
    // Resolution is what this checks; the node16 run checks the declaration files themselves (slower).
    expect(compile(['--module', 'commonjs', '--moduleResolution', 'node', '--skipLibCheck'], ['uses.ts'])).toEqual([])
  }, 60_000)

  test('compiles with moduleResolution "node16", from CJS and from ESM', () => {
    expect(compile(['--module', 'node16', '--moduleResolution', 'node16'], ['uses.ts', 'uses.mts'])).toEqual([])
  }, 60_000)

  test('item 13: gets a type error for a res.locals.transactionale that is not a Customer (Express 4 and 5)', () => {
    const errors = compile(
      ['--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck'],
      ['wrong-locals.ts', 'wrong-locals4.mts'],
    )
    expect(errors).toEqual([`wrong-locals.ts(${WRONG_LINE}): TS2322`, `wrong-locals4.mts(${WRONG_LINE}): TS2322`])
  }, 60_000)
})
