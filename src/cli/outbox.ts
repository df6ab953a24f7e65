/**
 * `outbox <sqlite:PATH | redis://…> stats | list | retry | purge`: a durable store's backlog and
 * dead letters, through the outboxes of `outbox-stores.ts`. Nothing here knows SQL or Redis.
 */
import { Command, Option } from 'commander'
import { REDIS_STORE_DEFAULTS } from '../redis'
import { openStore, type Outbox } from './outbox-stores'
import { progressBar } from './progress'
import { CliError, EXIT, usageError, wholeNumber, type Output, type Run } from './output'

const ACTIONS = ['stats', 'list', 'retry', 'purge'] as const
type Action = (typeof ACTIONS)[number]

/** Dead letters sent again per store call by `retry --all`: each call is one short transaction. */
export const RETRY_BATCH = 500

interface OutboxFlags {
  prefix?: string
  failed?: boolean
  all?: boolean
  limit: number
  json?: boolean
}

export function outboxCommand(run: Run): Command {
  return new Command('outbox')
    .summary("look at a durable store's backlog and dead letters, send them again, purge them")
    .description(
      "Opens the outbox of a durable store, without a running app, to count, list, send again or delete its dead letters (touchpoints that failed for good). Waiting touchpoints are the shop's undelivered orders: the command never deletes them.",
    )
    .argument('<store>', 'sqlite:PATH (the file of sqliteStore) or redis://HOST:PORT (the Redis of redisStore)')
    .argument('<action>', ACTIONS.join(' | '))
    .argument('[ids...]', 'dead letter ids, for retry')
    .option('--failed', 'list / purge: the dead letters')
    .option('--all', 'retry: every dead letter (with a progress bar on a terminal)')
    .addOption(
      new Option('--limit <n>', 'list: show at most this many').default(50).argParser(wholeNumber(1, 1_000_000)),
    )
    .option('--prefix <prefix>', `redis: the store's key prefix (default: ${REDIS_STORE_DEFAULTS.prefix})`)
    .option('--json', 'print the result as one JSON document')
    .addHelpText(
      'after',
      `
Actions:
  stats              what waits to be sent, what is being sent, the dead letters
  list --failed      the dead letters, newest first (--limit, default 50)
  retry ID…          sends these dead letters again: they wait again, due now,
                     and a running app (or worker) on the store delivers them
  retry --all        sends every dead letter again (a progress bar on a terminal)
  purge --failed     deletes every dead letter

Examples:
  $ express-transactionale outbox sqlite:./var/transactionale.db stats
  $ express-transactionale outbox sqlite:./var/transactionale.db list --failed --limit 10
  $ express-transactionale outbox sqlite:./var/transactionale.db retry --all`,
    )
    .action((store: string, action: string, ids: string[], flags: OutboxFlags, command: Command) =>
      run(flags.json, async (output) => {
        const checked = checkUsage(action, ids, flags, command)
        const outbox = await openStore(store, flags.prefix === undefined ? {} : { prefix: flags.prefix })
        try {
          await ACTION_RUNNERS[checked](outbox, ids, flags, output)
        } finally {
          await outbox.close()
        }
      }),
    )
}

/** The action, once the flags given make sense for it. */
function checkUsage(action: string, ids: readonly string[], flags: OutboxFlags, command: Command): Action {
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw usageError(`unknown outbox action "${action}": use ${ACTIONS.join(', ')}`)
  }
  const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli'
  const problems: string[] = []
  const only = (flag: string, actions: readonly Action[]): void => {
    if (given(flag) && !actions.includes(action as Action)) {
      problems.push(`--${flag} is for ${actions.join(' and ')}, not ${action}`)
    }
  }
  only('failed', ['list', 'purge'])
  only('all', ['retry'])
  only('limit', ['list'])
  if (ids.length > 0 && action !== 'retry') problems.push(`${action} takes no ids (got ${ids.join(' ')})`)
  if (action === 'retry' && flags.all === true && ids.length > 0) problems.push('retry takes --all or ids, not both')
  if (action === 'retry' && flags.all !== true && ids.length === 0) {
    problems.push('retry needs the ids of the dead letters to send again, or --all')
  }
  if (action === 'list' && flags.failed !== true) {
    problems.push('list lists dead letters: add --failed (waiting touchpoints are counted by stats)')
  }
  if (action === 'purge' && flags.failed !== true) {
    problems.push(
      "purge deletes dead letters only: add --failed (waiting touchpoints are the shop's undelivered orders and are never purged)",
    )
  }
  if (problems.length > 0) throw usageError(`outbox ${action}: wrong usage`, problems)
  return action as Action
}

type ActionRunner = (outbox: Outbox, ids: readonly string[], flags: OutboxFlags, output: Output) => Promise<void>

const ACTION_RUNNERS: Record<Action, ActionRunner> = {
  async stats(outbox, _ids, _flags, output) {
    const counts = await outbox.counts()
    output.line(outbox.name)
    const detail = [`${counts.beingSent} being sent now`]
    if (counts.delayed !== undefined) detail.push(`${counts.delayed} waiting for a retry`)
    output.line(`  waiting       ${counts.waiting}  (${detail.join(', ')})`)
    output.line(`  dead letters  ${counts.deadLetters}`)
    if (counts.delivered !== undefined) {
      output.line(`  delivered     ${counts.delivered}  (kept for the dedupe window, without customer data)`)
    }
    output.data({ ok: true, store: outbox.name, ...counts })
  },

  async list(outbox, _ids, flags, output) {
    const [letters, counts] = [await outbox.deadLetters(flags.limit), await outbox.counts()]
    const total = Math.max(counts.deadLetters, letters.length)
    output.line(
      `${outbox.name}: ${total} dead letter${total === 1 ? '' : 's'}` +
        (letters.length < total ? `, the newest ${letters.length} shown (--limit to show more)` : ''),
    )
    if (letters.length > 0) {
      output.line()
      for (const row of table([
        ['ID', 'FAILED AT', 'ATTEMPTS', 'REASON', 'ORDER ID', 'EMAIL'],
        ...letters.map((letter) => [
          letter.id,
          new Date(letter.failedAt).toISOString(),
          String(letter.attempts),
          letter.reason,
          letter.orderId ?? '-',
          emailOf(letter.body),
        ]),
      ])) {
        output.line(row)
      }
    }
    output.data({
      ok: true,
      store: outbox.name,
      total,
      deadLetters: letters.map((letter) => ({
        id: letter.id,
        orderId: letter.orderId ?? null,
        attempts: letter.attempts,
        reason: letter.reason,
        receivedAt: new Date(letter.receivedAt).toISOString(),
        failedAt: new Date(letter.failedAt).toISOString(),
        body: parseBody(letter.body),
      })),
    })
  },

  async retry(outbox, ids, flags, output) {
    if (flags.all === true) {
      const { retried, stayed } = await retryAll(outbox, output)
      output.line(
        `Sent ${retried} dead letter${retried === 1 ? '' : 's'} again: due now, delivered by a running app or worker on ${outbox.name}.`,
      )
      if (stayed > 0) output.line(`${stayed} stayed dead letters: their order was stored again since.`)
      output.data({ ok: true, store: outbox.name, retried, stayed })
      return
    }
    const retried: string[] = []
    const notRetried: string[] = []
    // One call per id, so that each id's fate is known (ids are typed by hand: a few).
    for (const id of new Set(ids)) ((await outbox.retryDeadLetters([id])) > 0 ? retried : notRetried).push(id)
    for (const id of retried) output.line(`${id}  sent again (due now)`)
    for (const id of notRetried)
      output.line(`${id}  not sent again: no such dead letter, or its order was stored again since`)
    output.data({ ok: notRetried.length === 0, store: outbox.name, retried, notRetried })
    if (notRetried.length > 0) {
      throw new CliError(
        EXIT.failed,
        `${notRetried.length} of ${retried.length + notRetried.length} ids not sent again`,
        [],
        true,
      )
    }
  },

  async purge(outbox, _ids, _flags, output) {
    const purged = await outbox.purgeDeadLetters()
    output.line(`Deleted ${purged} dead letter${purged === 1 ? '' : 's'} from ${outbox.name}.`)
    output.data({ ok: true, store: outbox.name, purged })
  },
}

/**
 * Sends every dead letter again, {@link RETRY_BATCH} at a time, so that a progress bar can follow
 * and no transaction holds the store for long. A dead letter the store keeps dead (its order came
 * again since) is listed again; ids already tried are skipped and the listing reaches past them.
 * Dead letters that arrive meanwhile (a running app failing now) are sent again too.
 */
async function retryAll(outbox: Outbox, output: Output): Promise<{ retried: number; stayed: number }> {
  const bar = progressBar(output, (await outbox.counts()).deadLetters, 'dead letters sent again')
  const tried = new Set<string>()
  let retried = 0
  let limit = RETRY_BATCH
  try {
    for (;;) {
      const letters = await outbox.deadLetters(limit)
      const fresh = letters.filter((letter) => !tried.has(letter.id)).map((letter) => letter.id)
      if (fresh.length === 0) {
        if (letters.length < limit) break
        limit = letters.length + RETRY_BATCH
        continue
      }
      const batch = fresh.slice(0, RETRY_BATCH)
      retried += await outbox.retryDeadLetters(batch)
      for (const id of batch) tried.add(id)
      // The ids tried that are still dead are listed first next time: look past them.
      limit = letters.length - fresh.length + RETRY_BATCH
      bar.advance(batch.length)
    }
  } finally {
    bar.stop()
  }
  return { retried, stayed: tried.size - retried }
}

/** Rows of cells as aligned text columns. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body) as unknown
  } catch {
    return body
  }
}

function emailOf(body: string): string {
  const parsed = parseBody(body) as { email?: unknown } | null
  return typeof parsed?.email === 'string' ? parsed.email : '-'
}
