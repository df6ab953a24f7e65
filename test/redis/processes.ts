// Real processes for the Redis tests: shops and workers as children (ts-node, transpile only), a load
// generator that posts orders at a fixed rate and records when each response arrived, and readers
// of what the fake API received.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import path from 'node:path'
import readline from 'node:readline'
import type { FakeTransactionaleApi } from '../../src/testing/fake-api'

const root = path.resolve(__dirname, '..', '..')

export interface Child {
  readonly child: ChildProcess
  readonly port: number
  /** JSON lines (pino logs, the close summary) printed after the ready line. */
  readonly lines: Record<string, unknown>[]
  readonly exited: Promise<number | NodeJS.Signals | null>
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>
  /** SIGTERM (a clean close), and wait for the exit. */
  stop(): Promise<void>
}

/** Spawns `fixtures/<name>.ts` with `env`; resolves once it prints its ready line `{"port": n}`. */
export function startChild(name: 'redis-shop' | 'redis-worker', env: Record<string, string>): Promise<Child> {
  const script = path.join(__dirname, 'fixtures', `${name}.ts`)
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script], {
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
      if (port === undefined) reject(new Error(`${name} exited (${String(code)}) before it was ready`))
    })
  })
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

/** One order; resolves with the status (0 on a network error) and the body text. */
export function postOrder(port: number, id: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const data = JSON.stringify({ id })
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/checkout',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', () => resolve({ status: 0, body }))
      },
    )
    req.on('error', () => resolve({ status: 0, body: '' }))
    req.end(data)
  })
}

export function getJson<T>(port: number, urlPath: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve(JSON.parse(body) as T))
      })
      .on('error', reject)
  })
}

/** One order of a load run: where it went and when its response arrived. */
export interface Sent {
  readonly id: string
  readonly target: string
  readonly status: number
  readonly answeredAt: number
}

/**
 * Posts `count` orders at `perSecond`, each to the port `route(i)` gives (`undefined`: skipped, no
 * shop there now), calling `at(i)` before each (to kill or stop things mid-run). Resolves with every
 * order and its response time once all have answered.
 */
export async function runLoad(options: {
  readonly count: number
  readonly perSecond: number
  readonly prefix: string
  readonly route: (i: number) => { port: number; target: string } | undefined
  readonly at?: (i: number) => void | Promise<void>
}): Promise<Sent[]> {
  const started = Date.now()
  const pending: Promise<Sent | undefined>[] = []
  for (let i = 0; i < options.count; i++) {
    const due = started + (i * 1000) / options.perSecond
    const wait = due - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    await options.at?.(i)
    const to = options.route(i)
    if (to === undefined) continue
    const id = `${options.prefix}-${i}`
    pending.push(
      postOrder(to.port, id).then(({ status }) => ({ id, target: to.target, status, answeredAt: Date.now() })),
    )
  }
  return (await Promise.all(pending)).filter((s): s is Sent => s !== undefined)
}

/** Order ids the fake API answered with a 2xx, with how many times each. */
export function deliveredIds(api: FakeTransactionaleApi, ok: ReadonlySet<unknown>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of api.requests) {
    if (!ok.has(r)) continue
    const email = (r.body as { email?: unknown } | undefined)?.email
    if (typeof email !== 'string') continue
    const id = email.slice(0, email.indexOf('@'))
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Records which requests the fake API answered with a 2xx (a reply to a dead client counts too). */
export function trackReplies(api: FakeTransactionaleApi): Set<unknown> {
  const ok = new Set<unknown>()
  api.events.on('reply', (request: unknown, status: number) => {
    if (status >= 200 && status < 300) ok.add(request)
  })
  return ok
}

/** Waits until `condition` holds, checking every 50 ms; fails with `what` after `limitMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 60_000,
): Promise<void> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > limitMs) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
