// Runs the real `express-transactionale` binary as a child process. It is built once per test file
// with the package's own tsup configuration, into a directory of its own under node_modules/.cache
// (so that other builds of dist/ running at the same time cannot remove it mid-test; under
// node_modules so that the bundle resolves its dependencies as it does from dist/).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'

export const root = path.resolve(__dirname, '..', '..')
/** Where the package is built for these tests: the files of dist/. */
export const outDir = path.join(root, 'node_modules', '.cache', 'express-transactionale-cli-test', String(process.pid))
/** The built binary, as `dist/cli.js` is built. */
export const cliPath = path.join(outDir, 'cli.js')

/** Builds the package (without type declarations) into this test process's own directory. */
export async function buildCli(): Promise<void> {
  const script = `require('tsup').build({ outDir: ${JSON.stringify(outDir)}, dts: false, silent: true }).catch((e) => { console.error(e); process.exit(1) })`
  const child = spawn(process.execPath, ['-e', script], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0 || !existsSync(cliPath)) throw new Error(`building the CLI failed (${code}): ${stderr}`)
}

/** Removes this test process's build. */
export function removeCli(): void {
  rmSync(outDir, { recursive: true, force: true })
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>
  readonly cwd?: string
}

/** The environment the binary runs with: no API key unless a test gives one. */
function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TRANSACTIONALE_API_KEY: undefined, FORCE_COLOR: '0', ...extra }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  return env
}

/** Runs `node cli.js …args` to its end. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, options)
  return finished(child)
}

/** Starts `node cli.js …args` (for commands that run until a signal). */
export function startCli(args: readonly string[], options: RunOptions = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd ?? root, env: environment(options.env) })
}

/** Collects a child's output until it exits. */
export async function finished(child: ChildProcessWithoutNullStreams): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
  return { code, signal, stdout, stderr }
}

/** Resolves with the first line of the child's stdout that `match` accepts (and every line before it). */
export function waitForLine(
  child: ChildProcessWithoutNullStreams,
  match: (line: string) => boolean,
): Promise<{ line: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const lines: string[] = []
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString()
      let newline: number
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        lines.push(line)
        if (match(line)) {
          cleanup()
          resolve({ line, lines })
          return
        }
      }
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(
        new Error(
          `the CLI exited (${code}) before printing the expected line; it printed:\n${lines.join('\n')}${buffer}`,
        ),
      )
    }
    const cleanup = (): void => {
      child.stdout.off('data', onData)
      child.off('exit', onExit)
    }
    child.stdout.on('data', onData)
    child.on('exit', onExit)
  })
}

/** `expect.stringMatching`, typed `unknown` (jest types its asymmetric matchers `any`). */
export const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern)

/** `expect.any(Number)`, typed `unknown`. */
export const anyNumber = (): unknown => expect.any(Number)
