/**
 * `npm run bench:start`: what importing the package costs a shop at start-up, beside the analytics
 * SDKs a shop would otherwise use (posthog-node, @segment/analytics-node), measured side by side in
 * one run. Each figure is the CPU time (user + system) of `require()` / `import()` of the package in
 * a fresh Node process that has already loaded express, median of 10 processes per variant, the
 * variants interleaved; the spread is ± half the range, as a share of the median. Needs `npm run build`.
 * Also prints the files loaded and the install size of express + each package (a scratch
 * `npm install`, when `--size` is given: it needs the npm registry).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { median } from './stats'

const ROOT = path.join(__dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10)

const PROBE = `
const [target, mode] = process.argv.slice(1)
require('express')
const before = new Set(Object.keys(require.cache))
const t0 = process.cpuUsage()
const done = () => {
  const u = process.cpuUsage(t0)
  const files = Object.keys(require.cache).filter((f) => !before.has(f)).length
  process.stdout.write(JSON.stringify({ ms: (u.user + u.system) / 1000, files }))
}
if (mode === 'esm') import(target).then(done)
else { require(target); done() }
`

interface Variant {
  readonly name: string
  readonly target: string
  readonly mode: 'cjs' | 'esm'
}

const VARIANTS: Variant[] = [
  { name: 'express-transactionale (CJS)', target: path.join(ROOT, 'dist/index.js'), mode: 'cjs' },
  { name: 'express-transactionale (ESM)', target: path.join(ROOT, 'dist/index.mjs'), mode: 'esm' },
  { name: 'posthog-node (CJS)', target: 'posthog-node', mode: 'cjs' },
  { name: 'posthog-node (ESM)', target: 'posthog-node', mode: 'esm' },
  { name: '@segment/analytics-node (CJS)', target: '@segment/analytics-node', mode: 'cjs' },
  { name: '@segment/analytics-node (ESM)', target: '@segment/analytics-node', mode: 'esm' },
]

function available(v: Variant): boolean {
  try {
    require.resolve(v.target, { paths: [ROOT] })
    return true
  } catch {
    return false
  }
}

function measure(v: Variant): { ms: number; files: number } {
  const out = execFileSync(process.execPath, ['-e', PROBE, v.target, v.mode], { cwd: ROOT, encoding: 'utf8' })
  return JSON.parse(out) as { ms: number; files: number }
}

function main(): void {
  const variants = VARIANTS.filter(available)
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]))
  const files = new Map<string, number>()
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round, so no variant always runs right after another.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length] as Variant
      const m = measure(v)
      samples.get(v.name)?.push(m.ms)
      files.set(v.name, m.files)
    }
  }
  const result: Record<string, { medianMs: number; spreadPct: number; files: number }> = {}
  for (const v of variants) {
    const s = samples.get(v.name) ?? []
    const med = median(s)
    const spreadPct = (100 * (Math.max(...s) - Math.min(...s))) / 2 / med
    result[v.name] = { medianMs: med, spreadPct, files: files.get(v.name) ?? 0 }
    console.log(
      `${v.name.padEnd(34)} ${med.toFixed(1).padStart(6)} ms CPU ±${spreadPct.toFixed(0)} %  (${files.get(v.name)} files)`,
    )
  }
  const ours = result['express-transactionale (CJS)']
  const oursEsm = result['express-transactionale (ESM)']
  const posthog = result['posthog-node (CJS)']
  if (ours && oursEsm)
    console.log(`ESM import ÷ CJS require: ${(oursEsm.medianMs / ours.medianMs).toFixed(2)} (target ≤ 1.1)`)
  if (ours && posthog)
    console.log(`CJS require ÷ posthog-node's: ${(ours.medianMs / posthog.medianMs).toFixed(2)} (target ≤ 1.1)`)
  if (process.argv.includes('--size')) installSizes()
  writeFileSync(
    path.join(ROOT, 'bench/results/cold-start.json'),
    `${JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, result }, null, 2)}\n`,
  )
}

/** node_modules of express + each package, installed in a scratch directory (ours from `npm pack`). */
function installSizes(): void {
  const tarball =
    execFileSync('npm', ['pack', '--silent', '--pack-destination', os.tmpdir()], { cwd: ROOT, encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop() ?? ''
  for (const pkg of [path.join(os.tmpdir(), tarball), 'posthog-node', '@segment/analytics-node', null]) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'size-'))
    try {
      execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' })
      execFileSync('npm', ['install', '--no-audit', '--no-fund', 'express', ...(pkg ? [pkg] : [])], {
        cwd: dir,
        stdio: 'ignore',
      })
      const kb = Number(execFileSync('du', ['-sk', 'node_modules'], { cwd: dir, encoding: 'utf8' }).split('\t')[0])
      console.log(`express + ${pkg ? path.basename(pkg) : '(nothing)'}: ${(kb / 1024).toFixed(1)} MB of node_modules`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

main()
