/** Starting and talking to the benchmark's child processes (shop, fake APIs, load generator). */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { buildSync } from 'esbuild'
import type { FromChild, ToChild } from './ipc'

const buildDir = path.join(__dirname, '.build')

/** Child processes run pre-built JavaScript (same source, bundled once) so each starts in ~0.1 s. */
export function buildChildren(): void {
  buildSync({
    entryPoints: ['fake-api-process.ts', 'adaptive-api-process.ts', 'shop-process.ts', 'load-process.ts'].map((f) =>
      path.join(__dirname, f),
    ),
    outdir: buildDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    logLevel: 'warning',
    // For bench/profile.ts, which maps the bundle's functions back to their source files.
    sourcemap: true,
  })
}

export function start(
  script: 'fake-api-process' | 'adaptive-api-process' | 'shop-process' | 'load-process',
  env: Record<string, string> = {},
  execArgv: string[] = [],
): ChildProcess {
  return fork(path.join(buildDir, `${script}.js`), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

export function next<T extends FromChild['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromChild): void => {
      if (message.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message as Extract<FromChild, { type: T }>)
    }
    const onExit = (code: number | null): void => reject(new Error(`child exited (${code}) before ${type}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

export async function ask<T extends FromChild['type']>(
  child: ChildProcess,
  message: ToChild,
  type: T,
): Promise<Extract<FromChild, { type: T }>> {
  const reply = next(child, type)
  child.send(message)
  return reply
}
