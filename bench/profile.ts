/**
 * `npm run bench:profile -- <variant> <healthy|slow|down> [rate] [seconds]`: runs one shop variant
 * under load with --cpu-prof and prints where its CPU time goes, by package and by function, to see
 * what limits a benchmark figure: self time by package and function (the package's own functions
 * mapped to their source files through the bundle's source map), and for each function of ours the
 * time it spends itself and in the libraries it calls. Percentages are of busy (non-idle) samples.
 * The .cpuprofile stays in bench/results/ for Chrome DevTools; `--analyse <file>` reads it again.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import path from 'node:path'
import { ask, buildChildren, next, start } from './children'
import type { ToChild } from './ipc'

const [variant = 'ours', mode = 'healthy', rate = '1000', seconds = '5'] = process.argv.slice(2)
// `--analyse <file.cpuprofile>` reads an earlier profile again instead of recording one.
const analyseIndex = process.argv.indexOf('--analyse')
const dir = path.join(__dirname, 'results')

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  children?: number[]
}

/** The shop runs as one esbuild bundle: its source map gives each function's source file and line. */
function sourceOf(): (line: number, column: number) => { file: string; line: number } | undefined {
  const map = new SourceMap(
    JSON.parse(readFileSync(path.join(__dirname, '.build', 'shop-process.js.map'), 'utf8')) as SourceMapPayload,
  )
  return (line, column) => {
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number }
    if (entry.originalSource === undefined || entry.originalLine === undefined) return undefined
    return { file: entry.originalSource.replace(/^(\.\.\/)+/, ''), line: entry.originalLine + 1 }
  }
}

/** V8's pseudo-frames: not code anyone called. */
const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)'])

/** Packages whose frames are the shop's work: what runs under them is not the middleware's. */
const SHOP = new Set(['express', 'router', 'body-parser', 'finalhandler'])

function where(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
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

async function record(): Promise<void> {
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
  analyse(file)
}

/** Prints where a profile's busy time went (the bundle in bench/.build must be the one it ran). */
function analyse(file: string): void {
  const profile = JSON.parse(readFileSync(path.resolve(dir, file), 'utf8')) as {
    nodes: ProfileNode[]
    samples: number[]
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const source = sourceOf()
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const names = new Map<number, { pkg: string; fn: string }>()
  const nameOf = (id: number): { pkg: string; fn: string } => {
    let name = names.get(id)
    if (name === undefined) {
      const frame = byId.get(id)?.callFrame ?? { functionName: '?', url: '', lineNumber: 0, columnNumber: 0 }
      const original = frame.url.endsWith('shop-process.js') ? source(frame.lineNumber, frame.columnNumber) : undefined
      const pkg = original?.file ?? where(frame.url, frame.functionName)
      name = { pkg, fn: `${frame.functionName || '(anonymous)'} ${pkg}:${original?.line ?? frame.lineNumber + 1}` }
      names.set(id, name)
    }
    return name
  }
  const add = (counts: Map<string, number>, key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1)
  const byPackage = new Map<string, number>()
  const byFunction = new Map<string, number>()
  const ours = new Map<string, number>()
  // Self time plus what it spends in libraries and Node (up to the next function of ours).
  const oursWithLibraries = new Map<string, number>()
  // Inclusive: every sample with the function on its stack, counted once.
  const oursInclusive = new Map<string, number>()
  for (const id of profile.samples) {
    const { pkg, fn } = nameOf(id)
    add(byPackage, pkg)
    add(byFunction, fn)
    if (pkg.startsWith('src/')) add(ours, fn)
    // Walk up the stack. The shop's own frames (Express's router, the bench shop) are a boundary:
    // what runs under our middleware's `next()` is the shop's work, not ours.
    const seen = new Set<string>()
    let innermost: string | undefined
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = nameOf(at)
      if (SHOP.has(frame.pkg) || frame.pkg.startsWith('bench/')) break
      if (!frame.pkg.startsWith('src/')) continue
      innermost ??= frame.fn
      if (!seen.has(frame.fn)) add(oursInclusive, frame.fn)
      seen.add(frame.fn)
    }
    if (innermost !== undefined && !SPECIAL.has(pkg)) add(oursWithLibraries, innermost)
  }
  // Percentages of the samples where the process was busy: (idle) is time waiting for the next request.
  const idle = byPackage.get('(idle)') ?? 0
  const total = profile.samples.length - idle
  byPackage.delete('(idle)')
  for (const key of [...byFunction.keys()]) if (key.startsWith('(idle)')) byFunction.delete(key)
  const oursTotal = [...ours.values()].reduce((a, b) => a + b, 0)
  console.log(
    `${analyseIndex > 0 ? '' : `${variant}, API ${mode}, ${rate}/s for ${seconds} s: `}${total} busy samples, ${idle} idle (${file}); percentages of busy samples`,
  )
  top('self time by package (our code by file)', byPackage, total, 25)
  top('self time by function', byFunction, total, 25)
  top(`self time by function in src/** (${((100 * oursTotal) / total).toFixed(1)} % in all)`, ours, total, 20)
  top(
    'src/** functions: self time + the library and Node code they call (innermost function of ours)',
    oursWithLibraries,
    total,
    20,
  )
  top('src/** functions: inclusive time (on the stack)', oursInclusive, total, 20)
}

if (analyseIndex > 0) analyse(process.argv[analyseIndex + 1] ?? '')
else void record()
