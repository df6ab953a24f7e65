// The program as a whole: a `bin` that runs as an executable, `--help` on every command (exit 0,
// on stdout), `--version`, and usage errors (no command, an unknown one) exiting 2 on stderr.
import { execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import path from 'node:path'
import { PACKAGE_VERSION } from '../../src/version'
import { buildCli, cliPath, finished, outDir, removeCli, root, runCli } from './cli-binary'

beforeAll(() => buildCli(), 120_000)
afterAll(removeCli)

const COMMANDS: Record<string, readonly string[]> = {
  send: [
    '--email <address>',
    '--first-name <name>',
    '--country <country>',
    '--zip-code <zip>',
    '--endpoint <url>',
    '--dry-run',
    '--json',
  ],
  'fake-api': ['--port <port>', '--api-key <key>', '--latency-ms <ms>', '--status <code>', '--json'],
  outbox: ['<store>', '<action>', '--failed', '--all', '--limit <n>', '--json', 'retry --all', 'purge --failed'],
  worker: ['--redis <url>', '--json'],
}

test('package.json names dist/cli.js as the bin, built from src/cli/index.ts with the library (shared chunks), its unused ESM and type files left out of the package', () => {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    bin: Record<string, string>
    files: string[]
    tsup: { entry: Record<string, string>; format: string[]; splitting?: boolean }[]
  }
  expect(manifest.bin).toEqual({ 'express-transactionale': './dist/cli.js' })
  const cli = manifest.tsup.find((config) => config.entry.cli !== undefined)
  expect(cli).toMatchObject({ entry: { cli: 'src/cli/index.ts' }, splitting: true })
  expect(cli?.format).toContain('cjs')
  expect(manifest.files).toEqual(expect.arrayContaining(['dist', '!dist/cli.mjs', '!dist/cli.d.ts', '!dist/cli.d.mts']))
})

test("the library's entry points load neither commander nor cli-progress", () => {
  const entries = ['index.js', 'index.mjs', 'sqlite.js', 'testing/fake-api.js'].map((file) => path.join(outDir, file))
  const probe = `Promise.all(${JSON.stringify(entries)}.map((f) => import(f))).then(() => {
    const loaded = Object.keys(require.cache).filter((f) => /node_modules[\\/](commander|cli-progress)[\\/]/.test(f))
    console.log(JSON.stringify(loaded))
  })`
  const loaded = execFileSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' })
  expect(JSON.parse(loaded)).toEqual([])
})

test('the built file is an executable with a node shebang', async () => {
  expect(readFileSync(cliPath, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
  accessSync(cliPath, constants.X_OK)
  const result = await finished(spawn(cliPath, ['--version'], { env: process.env }))
  expect(result).toMatchObject({ code: 0, stdout: `${PACKAGE_VERSION}\n` })
})

test('--help lists every command and the exit codes', async () => {
  const result = await runCli(['--help'])
  expect(result.code).toBe(0)
  expect(result.stderr).toBe('')
  for (const command of Object.keys(COMMANDS)) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
  expect(result.stdout).toContain('Exit codes: 0 done, 1 the operation failed')
})

test.each(Object.entries(COMMANDS))('%s --help: usage and every flag, exit 0', async (command, flags) => {
  const result = await runCli([command, '--help'])
  expect(result.code).toBe(0)
  expect(result.stderr).toBe('')
  expect(result.stdout.startsWith(`Usage: express-transactionale ${command} `)).toBe(true)
  for (const flag of flags) expect(result.stdout).toContain(flag)
  // `help <command>` says the same.
  expect((await runCli(['help', command])).stdout).toBe(result.stdout)
})

test('no command, or an unknown one: exit 2 on stderr', async () => {
  const none = await runCli([])
  expect(none.code).toBe(2)
  expect(none.stdout).toBe('')
  expect(none.stderr).toContain('Usage: express-transactionale [options] [command]')

  const unknown = await runCli(['sned'])
  expect(unknown.code).toBe(2)
  expect(unknown.stderr).toContain("error: unknown command 'sned'")
  expect(unknown.stderr).toContain('(Did you mean send?)')
})
