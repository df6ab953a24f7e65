// Packs the real tarball and loads it the way a shop would, with require and with import.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
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
