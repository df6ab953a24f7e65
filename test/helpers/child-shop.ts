// Starts a shop (or worker) script as a real child process (ts-node, transpile only) and talks to it
// over HTTP. The SQLite durability tests and the Redis tests both run their children through this.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import path from 'node:path'
import readline from 'node:readline'

const root = path.resolve(__dirname, '..', '..')

export interface ChildShop {
  readonly child: ChildProcess
  readonly port: number
  /** JSON lines (pino logs, the close summary) the child printed after its ready line. */
  readonly lines: Record<string, unknown>[]
  /** Resolves with the exit code (or the signal) when the child ends. */
  readonly exited: Promise<number | NodeJS.Signals | null>
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>
  /** SIGTERM (a clean close), and wait for the exit. */
  stop(): Promise<void>
}

/**
 * Spawns `script` (relative to the repo, or absolute) with `env`, and resolves once it prints its
 * ready line `{"port": n}`.
 */
export function startChildShop(script: string, env: Record<string, string>): Promise<ChildShop> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.resolve(root, script)], {
    cwd: root,
    env: { ...process.env, ...env, TS_NODE_TRANSPILE_ONLY: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  )
  const lines: Record<string, unknown>[] = []
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })
    let port: number | undefined
    rl.on('line', (line) => {
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      if (port === undefined && typeof parsed.port === 'number') {
        port = parsed.port
        resolve({ child, port, lines, exited, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') })
      } else {
        lines.push(parsed)
      }
    })
    void exited.then((code) => {
      if (port === undefined) reject(new Error(`${script} exited (${String(code)}) before it was ready`))
    })
  })
}

/** A response: the status (0 on a network error) and the body text. */
export interface Reply {
  readonly status: number
  readonly body: string
}

/** One POST with a JSON body, over a fresh connection unless `agent` is given. */
export function postJson(
  port: number,
  urlPath: string,
  body: unknown,
  agent: http.Agent | false = false,
): Promise<Reply> {
  return new Promise((resolve) => {
    const data = JSON.stringify(body)
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: urlPath,
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on('error', () => resolve({ status: 0, body: text }))
      },
    )
    req.on('error', () => resolve({ status: 0, body: '' }))
    req.end(data)
  })
}

/** One GET of a JSON document, over a fresh connection unless `agent` is given. */
export function getJson<T = Record<string, unknown>>(
  port: number,
  urlPath: string,
  agent: http.Agent | false = false,
): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve(JSON.parse(text) as T))
      })
      .on('error', reject)
  })
}
