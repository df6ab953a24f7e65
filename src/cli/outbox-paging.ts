/**
 * The paged work of `outbox`: reading a long list a page at a time (with a progress bar), and
 * `retry --all` in pages no larger than the room the shops leave for live orders.
 */
import type { OutboxEntry } from '../stores/contracts'
import type { CliOutbox } from './outbox-stores'
import { progressBar } from './progress'
import type { Output } from './output'

/** Dead letters sent again per store call by `retry --all` (fewer when the shops have less room). */
export const RETRY_BATCH = 500
/** Rows read per store call by `list`: a progress bar follows them on a large store. */
const LIST_PAGE = 1000
/** `retry --all` waits for room this often… */
const ROOM_POLL_MS = 250
/** …and gives up after this long without any. */
export const ROOM_WAIT_MS = 60_000

/** Reads `--limit` entries from `--offset` in pages, with a progress bar when that takes several. */
export async function readPages(
  outbox: CliOutbox,
  state: 'waiting' | 'dead',
  flags: { readonly limit: number; readonly offset: number },
  output: Output,
  total: number,
): Promise<OutboxEntry[]> {
  const wanted = Math.max(0, Math.min(flags.limit, total - flags.offset))
  const bar =
    wanted > LIST_PAGE
      ? progressBar(output, wanted, `${state === 'dead' ? 'dead letters' : 'touchpoints'} read`)
      : undefined
  const entries: OutboxEntry[] = []
  try {
    while (entries.length < flags.limit) {
      const limit = Math.min(LIST_PAGE, flags.limit - entries.length)
      const page = await outbox.list({ state, limit, offset: flags.offset + entries.length })
      entries.push(...page)
      bar?.advance(page.length)
      if (page.length < limit) break
    }
  } finally {
    bar?.stop()
  }
  return entries
}

/**
 * Sends every dead letter again, a page at a time, each page no larger than the room the store
 * reports (half of the shops' `queue.maxSize` less what waits), waiting for the shops to make room
 * between pages: live orders are never refused for it. A dead letter the store keeps dead (its
 * order came again since) is counted as stayed and skipped. Dead letters that arrive meanwhile are
 * sent again too. Gives up (`left`) after {@link ROOM_WAIT_MS} without room.
 */
export async function retryAll(
  outbox: CliOutbox,
  output: Output,
): Promise<{ retried: number; stayed: number; left: number }> {
  const bar = progressBar(output, (await outbox.stats()).deadLetters, 'dead letters sent again')
  const stayed = new Set<string>()
  let retried = 0
  let roomSince = Date.now()
  try {
    for (;;) {
      const { room, deadLetters } = await outbox.stats()
      if (deadLetters <= stayed.size) return { retried, stayed: stayed.size, left: 0 }
      if (room !== undefined && room <= 0) {
        if (Date.now() - roomSince > ROOM_WAIT_MS)
          return { retried, stayed: stayed.size, left: deadLetters - stayed.size }
        await new Promise((resolve) => setTimeout(resolve, ROOM_POLL_MS))
        continue
      }
      const size = Math.min(RETRY_BATCH, room ?? RETRY_BATCH)
      const letters = await outbox.list({ state: 'dead', limit: stayed.size + size })
      const page = letters
        .filter((letter) => !stayed.has(letter.id))
        .slice(0, size)
        .map((letter) => letter.id)
      if (page.length === 0) return { retried, stayed: stayed.size, left: 0 }
      const moved = await outbox.retry(page)
      retried += moved
      roomSince = Date.now()
      bar.advance(moved)
      if (moved === page.length) continue
      // Some stayed: their order came again, or live orders took the room meanwhile. One at a time
      // now, where there is room: what still does not move stays dead.
      const dead = new Set((await outbox.list({ state: 'dead', limit: stayed.size + size })).map((l) => l.id))
      for (const id of page.filter((id) => dead.has(id))) {
        const { room: now } = await outbox.stats()
        if (now !== undefined && now <= 0) break
        if ((await outbox.retry([id])) > 0) retried++
        else stayed.add(id)
        bar.advance(1)
      }
    }
  } finally {
    bar.stop()
  }
}
