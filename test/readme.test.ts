// The README's tables list what the code defines: options (with their defaults), log messages (with
// their levels) and configuration error codes. These tests fail as soon as one side changes alone.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { CONFIG_ERROR_CODES, LOG_MESSAGES } from '../src'
import { OPTION_TABLE } from '../src/options'

const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')

/** The rows of the first table after `heading`, as trimmed cells (escaped pipes kept as `|`). */
function tableAfter(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`)
  if (start === -1) throw new Error(`README has no "${heading}" section`)
  const lines = readme.slice(start).split('\n')
  const first = lines.findIndex((l) => l.startsWith('|'))
  const rows: string[][] = []
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replace(/\\\|/g, '|')),
    )
  }
  return rows
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '')

test('the options table lists every option with its default, and nothing else', () => {
  const rows = tableAfter('## Options')
  const readmeDefaults = Object.fromEntries(rows.map((r) => [unquote(r[0] ?? ''), r[2]]))
  const codeDefaults = Object.fromEntries(Object.entries(OPTION_TABLE).map(([name, spec]) => [name, spec.default]))
  expect(readmeDefaults).toEqual(codeDefaults)
})

test('the log table lists every message the package writes, at its level, and nothing else', () => {
  const rows = tableAfter('## What is logged and counted')
  const documented = rows.map((r) => `${r[1]} ${/`([^`]+)`/.exec(r[2] ?? '')?.[1] ?? ''}`).sort()
  const written = Object.values(LOG_MESSAGES)
    .map(([level, message]) => `${level} ${message}`)
    .sort()
  expect(documented).toEqual(written)
})

test('the error code table lists every configuration error code, and nothing else', () => {
  const rows = tableAfter('## Configuration errors')
  expect(rows.map((r) => unquote(r[0] ?? '')).sort()).toEqual(Object.values(CONFIG_ERROR_CODES).sort())
})
