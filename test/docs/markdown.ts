// The documentation as the docs tests read it: every Markdown file of README.md, CONTRIBUTING.md and
// docs/, their headings (with GitHub's anchors), tables, code blocks and relative links.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

export const ROOT = path.join(__dirname, '..', '..')

/** Every Markdown file the docs tests cover, relative to the repository root, sorted. */
export function docFiles(): string[] {
  const files = ['README.md', 'CONTRIBUTING.md']
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const relative = path.posix.join(dir, entry.name)
      if (entry.isDirectory()) walk(relative)
      else if (entry.name.endsWith('.md')) files.push(relative)
    }
  }
  walk('docs')
  return files.sort()
}

export function readDoc(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8')
}

/** The lines of a Markdown text outside fenced code blocks, with their 1-based line numbers. */
export function proseLines(text: string): { line: string; number: number }[] {
  const result: { line: string; number: number }[] = []
  let fence: string | undefined
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1]
    if (fence === undefined && marker !== undefined) fence = marker
    else if (fence !== undefined && marker !== undefined && line.trim().startsWith(fence)) fence = undefined
    else if (fence === undefined) result.push({ line, number: i + 1 })
  })
  return result
}

/** A heading's anchor as GitHub computes it: lower case, punctuation removed, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors of a Markdown text's headings, with GitHub's `-1`, `-2` … for repeated ones. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const slug = githubSlug(heading)
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  // Explicit anchors: <a id="…"></a> or <a name="…"></a>.
  for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1] ?? '')
  return anchors
}

/** The headings of a given level, as written (inline code kept). */
export function headings(text: string, level: number): string[] {
  const prefix = `${'#'.repeat(level)} `
  return proseLines(text)
    .map(({ line }) => line)
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length).trim())
}

/** The cells of one table row, trimmed, with escaped pipes read back as `|`. */
function tableCells(line: string): string[] {
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'))
}

/**
 * The rows of the first table after the heading `heading` (e.g. `## Options`), as trimmed cells with
 * escaped pipes read back as `|`. Throws when there is no such heading or table.
 */
export function tableAfter(text: string, heading: string): string[][] {
  const lines = text.split('\n')
  const start = lines.findIndex((line) => line.trim() === heading)
  if (start === -1) throw new Error(`no heading "${heading}"`)
  const first = lines.findIndex((line, i) => i > start && line.startsWith('|'))
  if (first === -1) throw new Error(`no table after "${heading}"`)
  const rows: string[][] = []
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break
    rows.push(tableCells(line))
  }
  return rows
}

/** `` `text` `` → `text`. */
export const unquote = (cell: string): string => cell.replace(/^`|`$/g, '')

/** The first inline code span of a cell. */
export const codeIn = (cell: string): string | undefined => /`([^`]+)`/.exec(cell)?.[1]

export interface CodeBlock {
  readonly file: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly lang: string
  readonly code: string
  /** Marked with `<!-- not-typechecked … -->` on one of the lines just before the fence. */
  readonly skipped: boolean
}

/** Every fenced code block of a Markdown text. */
export function codeBlocks(file: string, text: string): CodeBlock[] {
  const lines = text.split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(```+|~~~+)\s*([\w-]*)/.exec(lines[i] ?? '')
    if (open === null) continue
    const fence = open[1] ?? '```'
    const end = lines.findIndex((line, j) => j > i && line.trim().startsWith(fence))
    if (end === -1) throw new Error(`${file}:${i + 1}: code block never closed`)
    let before = i - 1
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--
    blocks.push({
      file,
      line: i + 1,
      lang: open[2] ?? '',
      code: lines.slice(i + 1, end).join('\n'),
      skipped: /^<!--\s*not-typechecked\b/.test((lines[before] ?? '').trim()),
    })
    i = end
  }
  return blocks
}

export interface Link {
  readonly file: string
  readonly line: number
  readonly target: string
}

/** Every link and image of a Markdown text outside code: `[text](target)`, `<a href>`, `<img src>`. */
export function linksOf(file: string, text: string): Link[] {
  const links: Link[] = []
  for (const { line, number } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, '') // inline code is not a link
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ file, line: number, target: match[1] ?? '' })
    }
    for (const match of prose.matchAll(/<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"/g)) {
      links.push({ file, line: number, target: match[1] ?? '' })
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line)
    if (definition !== null) links.push({ file, line: number, target: definition[1] ?? '' })
  }
  return links
}

/**
 * The rows of every table in the section under `heading` (up to the next heading of the same or a
 * higher level), as trimmed cells.
 */
export function tablesIn(text: string, heading: string): string[][] {
  const lines = text.split('\n')
  const start = lines.findIndex((line) => line.trim() === heading)
  if (start === -1) throw new Error(`no heading "${heading}"`)
  const level = /^#+/.exec(heading)?.[0].length ?? 0
  const rows: string[][] = []
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const next = /^(#+)\s/.exec(line)
    if (next !== null && (next[1]?.length ?? 0) <= level) break
    // A table row that is not the header (followed by |---|) nor the separator itself.
    if (!line.startsWith('|') || /^\|[\s:|-]+\|$/.test(line) || /^\|[\s:|-]+\|$/.test(lines[i + 1] ?? '')) continue
    rows.push(tableCells(line))
  }
  return rows
}
