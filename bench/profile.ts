/**
 * `npm run bench:profile -- <variant> <healthy|slow|down> [rate] [seconds]`: runs one shop variant
 * under load with --cpu-prof and prints where its CPU time goes, by package and by function, to see
 * what limits a benchmark figure. The .cpuprofile stays in bench/results/ for Chrome DevTools.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ask, buildChildren, next, start } from './children'
import type { ToChild } from './ipc'

const [variant = 'ours', mode = 'healthy', rate = '1000', seconds = '5'] = process.argv.slice(2)
const dir = path.join(__dirname, 'results')

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

function where(url: string): string {
  if (url === '') return '(native)'
  if (url.includes('node_modules/')) return url.split('node_modules/')[1]?.split('/')[0] ?? url
  if (url.startsWith('node:')) return url
  return url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '')
}

function top(title: string, counts: Map<string, number>, total: number, n: number): void {
  console.log(`\n${title}`)
  for (const [key, count] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(5)} %  ${key}`)
  }
}

async function main(): Promise<void> {
  buildChildren()
  const api = start('fake-api-process')
  const { endpoint = '' } = await next(api, 'ready')
  await ask(api, { type: 'mode', mode: mode as 'healthy' | 'slow' | 'down' }, 'ack')
  const before = new Set(readdirSync(dir))
  const shop = start('shop-process', { BENCH_VARIANT: variant, BENCH_ENDPOINT: endpoint }, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ])
  const { port } = await next(shop, 'ready')
  const load = start('load-process')
  await next(load, 'ready')
  await ask(
    load,
    { type: 'load', port, rate: Number(rate), seconds: Number(seconds), path: '/checkout', prefix: 'p' },
    'load-done',
  )
  for (const child of [load, shop, api]) child.send({ type: 'exit' } satisfies ToChild)
  await new Promise((resolve) => shop.once('exit', resolve))
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && !before.has(f))
  if (file === undefined) throw new Error('no profile written')
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[] }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const byPackage = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    const pkg = where(frame.url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + 1)
    const fn = `${frame.functionName || '(anonymous)'} ${pkg}:${frame.lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1)
  }
  const total = profile.samples.length
  console.log(`${variant}, API ${mode}, ${rate}/s for ${seconds} s: ${total} samples (${file})`)
  top('self time by package', byPackage, total, 20)
  top('self time by function', byFunction, total, 25)
}

void main()
