/**
 * How `outbox` shows touchpoints: aligned tables, ages, and the customer fields of a body masked
 * (`m***@e***.it`, `M***`) unless the operator asks for them (`--show-personal-data`): an outbox
 * holds customer data, and a terminal's scrollback or a pasted ticket should not.
 */
import type { OutboxEntry } from '../stores/contracts'

/** Wire fields that say nothing about the customer: shown as they are. */
const NOT_PERSONAL = new Set(['country', 'transaction_value', 'transaction_currency'])

/** `mario.rossi@example.it` → `m***@e***.it`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  if (at <= 0) return maskText(email)
  const domain = email.slice(at + 1)
  const dot = domain.lastIndexOf('.')
  const host = dot > 0 ? domain.slice(0, dot) : domain
  const tld = dot > 0 ? domain.slice(dot) : ''
  return `${maskText(email.slice(0, at))}@${maskText(host)}${tld}`
}

/** `Mario` → `M***`. */
export function maskText(text: string): string {
  return text.length === 0 ? '' : `${Array.from(text)[0] ?? ''}***`
}

/** A wire body as the operator may see it: parsed when it is JSON, its customer fields masked unless `showPersonal`. */
export function bodyView(body: string, showPersonal: boolean): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(body) as unknown
  } catch {
    return showPersonal ? body : maskText(body)
  }
  if (showPersonal || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return parsed
  const out: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (NOT_PERSONAL.has(field)) out[field] = value
    else if (field === 'email' && typeof value === 'string') out[field] = maskEmail(value)
    else out[field] = typeof value === 'string' ? maskText(value) : '***'
  }
  return out
}

/** The e-mail of a body, masked unless `showPersonal`, or `-`. */
export function emailOf(body: string, showPersonal: boolean): string {
  const view = bodyView(body, showPersonal) as { email?: unknown } | null
  return typeof view?.email === 'string' ? view.email : '-'
}

/** `3 s`, `4 min`, `2 h 5 min`, `3 d 4 h`. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const min = Math.floor(s / 60)
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 24) return `${h} h ${min % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

/** What a waiting touchpoint is doing, for people. */
export function stateText(entry: OutboxEntry, now: number): string {
  switch (entry.state) {
    case 'sending':
      return 'being sent now'
    case 'delayed':
      return entry.dueAt === undefined ? 'waiting for a retry' : `retry in ${age(entry.dueAt - now)}`
    case 'dead':
      return 'dead letter'
    case 'waiting':
      return 'due now'
  }
}

/** An entry as `--json` prints it (times as ISO strings, the body masked unless `showPersonal`). */
export function entryJson(entry: OutboxEntry, now: number, showPersonal: boolean): Record<string, unknown> {
  return {
    id: entry.id,
    orderId: entry.orderId ?? null,
    state: entry.state,
    beingSent: entry.state === 'sending',
    attempts: entry.attempts,
    lastError: entry.lastError ?? null,
    receivedAt: new Date(entry.receivedAt).toISOString(),
    ageMs: Math.max(0, now - entry.receivedAt),
    ...(entry.dueAt === undefined ? {} : { dueAt: new Date(entry.dueAt).toISOString() }),
    ...(entry.failedAt === undefined ? {} : { failedAt: new Date(entry.failedAt).toISOString() }),
    body: bodyView(entry.body, showPersonal),
  }
}

/** Rows of cells as aligned text columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}
