/** Starting and talking to the benchmark's child processes (shop, fake APIs, load generator). */
import { fork, type ChildProcess, type Serializable } from 'node:child_process'
import path from 'node:path'
import { buildSync } from 'esbuild'
import type { FromChild, ToChild } from './ipc'

const buildDir = path.join(__dirname, '.build')

/**
 * Bundles each entry point into `outdir` as one CommonJS file (dependencies left external), so a
 * child process runs pre-built JavaScript and starts in ~0.1 s. Shared with bench/stores.ts.
 */
export function bundle(entryPoints: readonly string[], outdir: string, sourcemap = false): void {
  buildSync({
    entryPoints: [...entryPoints],
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    logLevel: 'warning',
    sourcemap,
  })
}

/** Forks a bundle with an IPC channel; by default not this process's ts-node and --expose-gc. */
export function forkBundle(file: string, env: Record<string, string> = {}, execArgv: string[] = []): ChildProcess {
  return fork(file, [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

/** The next message from `child` of `type`; rejects if the child exits first. */
export function nextMessage<M extends { readonly type: string }>(child: ChildProcess, type: string): Promise<M> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: M): void => {
      if (message.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message)
    }
    const onExit = (code: number | null): void => reject(new Error(`child exited (${code}) before ${type}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Sends `message` to `child` and resolves with its next message of `type`. */
export async function askMessage<M extends { readonly type: string }>(
  child: ChildProcess,
  message: Serializable,
  type: string,
): Promise<M> {
  const reply = nextMessage<M>(child, type)
  child.send(message)
  return reply
}

/** This benchmark's children: the same source, bundled once. */
export function buildChildren(): void {
  bundle(
    ['fake-api-process.ts', 'adaptive-api-process.ts', 'shop-process.ts', 'load-process.ts'].map((f) =>
      path.join(__dirname, f),
    ),
    buildDir,
    // For bench/profile.ts, which maps the bundle's functions back to their source files.
    true,
  )
}

export function start(
  script: 'fake-api-process' | 'adaptive-api-process' | 'shop-process' | 'load-process',
  env: Record<string, string> = {},
  execArgv: string[] = [],
): ChildProcess {
  return forkBundle(path.join(buildDir, `${script}.js`), env, execArgv)
}

export function next<T extends FromChild['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<FromChild, { type: T }>> {
  return nextMessage<Extract<FromChild, { type: T }>>(child, type)
}

export function ask<T extends FromChild['type']>(
  child: ChildProcess,
  message: ToChild,
  type: T,
): Promise<Extract<FromChild, { type: T }>> {
  return askMessage<Extract<FromChild, { type: T }>>(child, message, type)
}
