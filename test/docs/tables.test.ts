// The docs' tables that list what the code defines hold exactly what the code defines, in both
// directions: options and their defaults, fields, error codes, log lines and their levels, stats()
// fields, metrics, hooks, the Redis store's options, CLI commands, flags and exit codes. Each test
// fails as soon as one side changes alone.
import { Command } from 'commander'
import { Registry } from 'prom-client'
import { CONFIG_ERROR_CODES, LOG_MESSAGES, transactionaleTouchpoint, WIRE_NAMES } from '../../src'
import { HOOK_NAMES } from '../../src/hooks'
import { OPTION_TABLE } from '../../src/options'
import { registerMetrics } from '../../src/metrics'
import { REDIS_OPTION_TABLE } from '../../src/redis/options'
import { fakeApiCommand } from '../../src/cli/fake-api'
import { outboxCommand } from '../../src/cli/outbox'
import { EXIT, type Io, type Run } from '../../src/cli/output'
import { main } from '../../src/cli/program'
import { sendCommand } from '../../src/cli/send'
import { workerCommand } from '../../src/cli/worker'
import { codeIn, headings, readDoc, tableAfter, tablesIn, unquote } from './markdown'

const sorted = (values: Iterable<string>): string[] => [...values].sort()

/** Every leaf of an object, as dotted paths: `{ a: { b: 1 } }` → `['a.b']`. */
function leaves(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, inner]) =>
    typeof inner === 'object' && inner !== null ? leaves(inner as object, `${prefix}${key}.`) : [`${prefix}${key}`],
  )
}

describe('options', () => {
  const codeDefaults = Object.fromEntries(Object.entries(OPTION_TABLE).map(([name, spec]) => [name, spec.default]))

  test('docs/reference/options.md lists every option with its default, and nothing else', () => {
    const rows = tableAfter(readDoc('docs/reference/options.md'), '## All options')
    expect(Object.fromEntries(rows.map((r) => [codeIn(r[0] ?? ''), r[1]]))).toEqual(codeDefaults)
  })

  test('docs/reference/options.md has a section for every option, and for nothing else', () => {
    const sections = headings(readDoc('docs/reference/options.md'), 2).filter((h) => h.startsWith('`'))
    expect(sorted(sections.map(unquote))).toEqual(sorted(Object.keys(OPTION_TABLE)))
  })

  test("the README's options are options, with their defaults", () => {
    const rows = tableAfter(readDoc('README.md'), '## The five options most shops set')
    expect(rows).toHaveLength(5)
    for (const [name = '', defaultText] of rows)
      expect([unquote(name), defaultText]).toEqual([unquote(name), codeDefaults[unquote(name)]])
  })
})

test('docs/reference/fields.md lists every field with its wire name, and nothing else', () => {
  const rows = tableAfter(readDoc('docs/reference/fields.md'), '## All fields')
  const documented = Object.fromEntries(rows.map((r) => [unquote(r[0] ?? ''), codeIn(r[1] ?? '') ?? r[1]]))
  expect(documented).toEqual({ ...WIRE_NAMES, orderId: '— (never sent)' })
})

test('docs/reference/errors.md has a section for every configuration error code, and nothing else', () => {
  const sections = headings(readDoc('docs/reference/errors.md'), 2).filter((h) => h.startsWith('ERR_'))
  expect(sorted(sections)).toEqual(sorted(Object.values(CONFIG_ERROR_CODES)))
})

test('docs/reference/log-lines.md lists every message the package writes, at its level, and nothing else', () => {
  const rows = tableAfter(readDoc('docs/reference/log-lines.md'), '## All log lines')
  const documented = rows.map((r) => `${r[0]} ${codeIn(r[1] ?? '') ?? ''}`)
  const written = Object.values(LOG_MESSAGES).map(([level, message]) => `${level} ${message}`)
  expect(sorted(documented)).toEqual(sorted(written))
  expect(documented).toHaveLength(written.length) // no message twice
})

test('docs/reference/stats.md lists every field of stats(), and nothing else', async () => {
  const touchpoint = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' })
  try {
    const rows = tableAfter(readDoc('docs/reference/stats.md'), '## Fields')
    expect(sorted(rows.map((r) => unquote(r[0] ?? '')))).toEqual(sorted(leaves(touchpoint.stats())))
  } finally {
    await touchpoint.close()
  }
})

test('docs/reference/metrics.md lists every metric with its type and labels, and nothing else', async () => {
  const touchpoint = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout' })
  const register = new Registry()
  const metrics = registerMetrics(touchpoint, { register })
  try {
    const registered = (await register.getMetricsAsJSON()).map((metric) => {
      const labels = new Set(metric.values.flatMap((v) => Object.keys(v.labels)).filter((l) => l !== 'le'))
      // A histogram without observations has no values yet: its labels come from the metric itself.
      const declared = (register.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? []
      for (const label of declared) labels.add(label)
      const name = labels.size === 0 ? metric.name : `${metric.name}{${sorted(labels).join(',')}}`
      return `${name} ${metric.type}`
    })
    const rows = tableAfter(readDoc('docs/reference/metrics.md'), '## All metrics')
    expect(sorted(rows.map((r) => `${unquote(r[0] ?? '')} ${r[1]}`))).toEqual(sorted(registered))
  } finally {
    metrics.unregister()
    await touchpoint.close()
  }
})

test('docs/reference/hooks.md has a section for every hook, and nothing else', () => {
  const sections = headings(readDoc('docs/reference/hooks.md'), 2).map(unquote)
  expect(sorted(sections)).toEqual(sorted(HOOK_NAMES))
})

test('docs/stores/redis.md lists every option of redisStore(), and nothing else', () => {
  const rows = tableAfter(readDoc('docs/stores/redis.md'), '## Options')
  expect(sorted(rows.map((r) => unquote(r[0] ?? '')))).toEqual(sorted(Object.keys(REDIS_OPTION_TABLE)))
})

describe('the command line', () => {
  const cli = readDoc('docs/reference/cli.md')
  const run: Run = async () => {}
  const commands: Record<string, Command> = Object.fromEntries(
    [sendCommand(run), fakeApiCommand(run), outboxCommand(run), workerCommand(run)].map((c) => [c.name(), c]),
  )

  test('docs/reference/cli.md lists every command of the program, and nothing else', async () => {
    let help = ''
    const io = { stdout: { write: (text: string) => void (help += text) }, stderr: { write: () => true }, env: {} }
    await main(['node', 'express-transactionale', '--help'], io as unknown as Io)
    const programCommands = [...help.split('Commands:')[1]!.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1] ?? '')
    const listed = programCommands.filter((name) => name !== 'help')
    expect(sorted(listed)).toEqual(sorted(Object.keys(commands)))
    const rows = tableAfter(cli, '## Commands')
    expect(sorted(rows.map((r) => codeIn(r[0] ?? '') ?? ''))).toEqual(sorted(listed))
    expect(
      sorted(
        headings(cli, 2)
          .filter((h) => h.startsWith('`'))
          .map(unquote)
          .filter((h) => h in commands),
      ),
    ).toEqual(sorted(listed))
  })

  test.each(['send', 'fake-api', 'outbox', 'worker'])(
    'docs/reference/cli.md lists every flag of %s, and nothing else',
    (name) => {
      const flags = tablesIn(cli, `## \`${name}\``).filter((r) => (r[0] ?? '').startsWith('`--'))
      const documented = flags.map((r) => (codeIn(r[0] ?? '') ?? '').split(' ')[0] ?? '')
      const defined = commands[name]!.options.map((option) => option.long ?? '')
      expect(sorted(documented)).toEqual(sorted(defined))
    },
  )

  test('docs/reference/cli.md lists every exit code, and nothing else', () => {
    const rows = tableAfter(cli, '## Exit codes')
    expect(sorted(rows.map((r) => unquote(r[0] ?? '')))).toEqual(sorted(Object.values(EXIT).map(String)))
  })
})
