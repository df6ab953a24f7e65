// Starts a shop script as a real child process (ts-node, transpile only) and talks to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import path from 'node:path'
import readline from 'node:readline'

const root = path.resolve(__dirname, '..', '..')

export interface ChildShop {
  readonly child: ChildProcess
  readonly port: number
  /** JSON lines the child printed after its port line. */
  readonly lines: Record<string, unknown>[]
  /** Resolves with the exit code (or the signal) when the child ends. */
  readonly exited: Promise<number | NodeJS.Signals | null>
}

/** Spawns `script` (relative to the repo) with `env`, and resolves once it prints its port. */
export function startChildShop(script: string, env: Record<string, string>): Promise<ChildShop> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(root, script)], {
    cwd: root,
    env: { ...process.env, ...env, TS_NODE_TRANSPILE_ONLY: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  )
  const lines: Record<string, unknown>[] = []
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
        resolve({ child, port, lines, exited })
      } else {
        lines.push(parsed)
      }
    })
    void exited.then((code) => {
      if (port === undefined) reject(new Error(`${script} exited (${String(code)}) before listening`))
    })
  })
}

/** One POST with a JSON body over a fresh connection; resolves with the status (0 on a network error). */
export function postJson(port: number, urlPath: string, body: unknown): Promise<number> {
  return new Promise((resolve) => {
    const data = JSON.stringify(body)
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: urlPath,
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
        res.on('error', () => resolve(0))
      },
    )
    req.on('error', () => resolve(0))
    req.end(data)
  })
}

/** One GET of a JSON document over a fresh connection. */
export function getJson(port: number, urlPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>))
      })
      .on('error', reject)
  })
}
