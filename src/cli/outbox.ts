/**
 * `outbox <sqlite:PATH | redis://…> stats | list | show | retry | purge`: a durable store's backlog
 * and dead letters, through the `TouchpointOutbox` of `outbox-stores.ts`. Nothing here knows SQL or
 * Redis; how touchpoints are shown (and masked) is in `outbox-view.ts`.
 */
import { Command, Option } from 'commander'
import { REDIS_STORE_DEFAULTS } from '../redis'
import { openStore, type CliOutbox } from './outbox-stores'
import { readPages, retryAll, ROOM_WAIT_MS } from './outbox-paging'
import { age, bodyView, emailOf, entryJson, stateText, table } from './outbox-view'
import { CliError, EXIT, usageError, wholeNumber, type Output, type Run } from './output'

const ACTIONS = ['stats', 'list', 'show', 'retry', 'purge'] as const
type Action = (typeof ACTIONS)[number]

export interface OutboxFlags {
  prefix?: string
  waiting?: boolean
  failed?: boolean
  all?: boolean
  limit: number
  offset: number
  json?: boolean
  showPersonalData?: boolean
}

export function outboxCommand(run: Run): Command {
  return new Command('outbox')
    .summary("look at a durable store's backlog and dead letters, send them again, purge them")
    .description(
      "Opens the outbox of a durable store, without a running app: counts what waits and the dead letters (touchpoints that failed for good), lists them a page at a time, shows one order's touchpoint, sends dead letters again, deletes them. Waiting touchpoints are the shop's undelivered orders: the command never deletes them. Customer fields are masked unless --show-personal-data.",
    )
    .argument('<store>', 'sqlite:PATH (the file of sqliteStore) or redis://HOST:PORT (the Redis of redisStore)')
    .argument('<action>', ACTIONS.join(' | '))
    .argument('[ids...]', 'retry: dead letter ids; show: one order id (or store id)')
    .option('--waiting', 'list: the touchpoints waiting to be sent, oldest due first')
    .option('--failed', 'list / purge: the dead letters')
    .option('--all', 'retry: every dead letter, in pages that leave room for live orders')
    .addOption(
      new Option('--limit <n>', 'list: show at most this many').default(50).argParser(wholeNumber(1, 10_000_000)),
    )
    .addOption(new Option('--offset <n>', 'list: skip this many first').default(0).argParser(wholeNumber(0, 1e12)))
    .option('--show-personal-data', 'list / show: customer fields unmasked')
    .option('--prefix <prefix>', `redis: the store's key prefix (default: ${REDIS_STORE_DEFAULTS.prefix})`)
    .option('--json', 'print the result as one JSON document')
    .addHelpText(
      'after',
      `
Actions:
  stats              what waits to be sent, what is being sent, the dead letters
  list --waiting     what waits: order id, age, attempts, last error, whether it is
                     being sent now (--limit, default 50; --offset for the next page)
  list --failed      the dead letters, newest first (--limit, --offset)
  show ORDER_ID      one order's touchpoint (waiting or dead), customer fields masked
  retry ID…          sends these dead letters again: they wait again, due now,
                     and a running app (or worker) on the store delivers them
  retry --all        sends every dead letter again, in pages that leave half of the
                     shops' queue.maxSize to live orders (a progress bar on a terminal)
  purge --failed     deletes every dead letter

Examples:
  $ express-transactionale outbox sqlite:./var/transactionale.db stats
  $ express-transactionale outbox sqlite:./var/transactionale.db list --waiting --limit 20
  $ express-transactionale outbox sqlite:./var/transactionale.db show A-1042
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
  const problems: string[] = []
  const only = (key: keyof OutboxFlags, flag: string, actions: readonly Action[]): void => {
    if (command.getOptionValueSource(key) === 'cli' && !actions.includes(action as Action)) {
      problems.push(`--${flag} is for ${actions.join(' and ')}, not ${action}`)
    }
  }
  only('waiting', 'waiting', ['list'])
  only('failed', 'failed', ['list', 'purge'])
  only('all', 'all', ['retry'])
  only('limit', 'limit', ['list'])
  only('offset', 'offset', ['list'])
  only('showPersonalData', 'show-personal-data', ['list', 'show'])
  if (ids.length > 0 && action !== 'retry' && action !== 'show') {
    problems.push(`${action} takes no ids (got ${ids.join(' ')})`)
  }
  if (action === 'show' && ids.length !== 1) problems.push('show takes one order id (or store id)')
  if (action === 'retry' && flags.all === true && ids.length > 0) problems.push('retry takes --all or ids, not both')
  if (action === 'retry' && flags.all !== true && ids.length === 0) {
    problems.push('retry needs the ids of the dead letters to send again, or --all')
  }
  if (action === 'list' && (flags.failed === true) === (flags.waiting === true)) {
    problems.push('list needs --waiting (what waits to be sent) or --failed (the dead letters)')
  }
  if (action === 'purge' && flags.failed !== true) {
    problems.push(
      "purge deletes dead letters only: add --failed (waiting touchpoints are the shop's undelivered orders and are never purged)",
    )
  }
  if (problems.length > 0) throw usageError(`outbox ${action}: wrong usage`, problems)
  return action as Action
}

type ActionRunner = (outbox: CliOutbox, ids: readonly string[], flags: OutboxFlags, output: Output) => Promise<void>

const ACTION_RUNNERS: Record<Action, ActionRunner> = {
  async stats(outbox, _ids, _flags, output) {
    const { room, ...counts } = await outbox.stats()
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
    const state = flags.waiting === true ? 'waiting' : 'dead'
    const stats = await outbox.stats()
    const total = state === 'waiting' ? stats.waiting : stats.deadLetters
    const entries = await readPages(outbox, state, flags, output, total)
    const shown = (entries.length < total - flags.offset || flags.offset > 0) && entries.length > 0
    const range = `${flags.offset + 1}–${flags.offset + entries.length}`
    const more =
      flags.offset + entries.length < total ? ` (--offset ${flags.offset + entries.length} for the next page)` : ''
    const personal = flags.showPersonalData === true
    const now = Date.now()
    if (state === 'waiting') {
      output.line(`${outbox.name}: ${total} waiting${shown ? `, ${range} shown, oldest due first${more}` : ''}`)
      if (entries.length > 0) {
        output.line()
        const rows = entries.map((e) => [
          e.id,
          e.orderId ?? '-',
          age(now - e.receivedAt),
          String(e.attempts),
          stateText(e, now),
          e.lastError ?? '-',
        ])
        for (const row of table([['ID', 'ORDER ID', 'AGE', 'ATTEMPTS', 'STATE', 'LAST ERROR'], ...rows]))
          output.line(row)
      }
      output.data({
        ok: true,
        store: outbox.name,
        state,
        total,
        offset: flags.offset,
        touchpoints: entries.map((e) => entryJson(e, now, personal)),
      })
      return
    }
    const newest =
      flags.offset === 0 ? `, the newest ${entries.length} shown (--limit to show more)` : `, ${range} shown${more}`
    output.line(`${outbox.name}: ${total} dead letter${total === 1 ? '' : 's'}${shown ? newest : ''}`)
    if (entries.length > 0) {
      output.line()
      const rows = entries.map((e) => [
        e.id,
        iso(e.failedAt),
        String(e.attempts),
        e.lastError ?? '',
        e.orderId ?? '-',
        emailOf(e.body, personal),
      ])
      for (const row of table([['ID', 'FAILED AT', 'ATTEMPTS', 'REASON', 'ORDER ID', 'EMAIL'], ...rows]))
        output.line(row)
    }
    output.data({
      ok: true,
      store: outbox.name,
      total,
      offset: flags.offset,
      deadLetters: entries.map((e) => ({
        id: e.id,
        orderId: e.orderId ?? null,
        attempts: e.attempts,
        reason: e.lastError ?? '',
        receivedAt: iso(e.receivedAt),
        failedAt: iso(e.failedAt),
        body: bodyView(e.body, personal),
      })),
    })
  },

  async show(outbox, ids, flags, output) {
    const wanted = ids[0] as string
    const entries = await outbox.find(wanted)
    if (entries.length === 0) {
      throw new CliError(EXIT.failed, `${outbox.name}: no waiting touchpoint or dead letter for "${wanted}"`)
    }
    const personal = flags.showPersonalData === true
    const now = Date.now()
    for (const e of entries) {
      output.line(`${outbox.name}: touchpoint ${e.id}`)
      const fields: [string, string][] = [
        ['order id', e.orderId ?? '-'],
        ['state', stateText(e, now)],
        ['attempts', String(e.attempts)],
        [e.state === 'dead' ? 'reason' : 'last error', e.lastError ?? '-'],
        ['received', `${iso(e.receivedAt)} (${age(now - e.receivedAt)} ago)`],
      ]
      if (e.failedAt !== undefined) fields.push(['failed at', iso(e.failedAt)])
      const body = bodyView(e.body, personal)
      const bodyFields = typeof body === 'object' && body !== null ? Object.entries(body) : [['body', body] as const]
      for (const row of table([...fields, ...bodyFields.map(([k, v]) => [k, String(v)])])) output.line(`  ${row}`)
      if (!personal) output.line('  (customer fields masked: --show-personal-data to show them)')
      output.line()
    }
    output.data({ ok: true, store: outbox.name, touchpoints: entries.map((e) => entryJson(e, now, personal)) })
  },

  async retry(outbox, ids, flags, output) {
    if (flags.all === true) {
      const { retried, stayed, left } = await retryAll(outbox, output)
      output.line(
        `Sent ${retried} dead letter${retried === 1 ? '' : 's'} again: due now, delivered by a running app or worker on ${outbox.name}.`,
      )
      if (stayed > 0) output.line(`${stayed} stayed dead letters: their order was stored again since.`)
      output.data({ ok: left === 0, store: outbox.name, retried, stayed, ...(left > 0 ? { left } : {}) })
      if (left > 0) {
        const message = `${left} dead letters not sent again: the shops' queue had no room for ${ROOM_WAIT_MS / 1000} s (a running app makes room as it delivers): run retry --all again later`
        throw new CliError(EXIT.failed, message, [], true)
      }
      return
    }
    const retried: string[] = []
    const notRetried: string[] = []
    // One call per id, so that each id's fate is known (ids are typed by hand: a few).
    for (const id of new Set(ids)) ((await outbox.retry([id])) > 0 ? retried : notRetried).push(id)
    for (const id of retried) output.line(`${id}  sent again (due now)`)
    for (const id of notRetried) {
      output.line(`${id}  not sent again: no such dead letter, its order was stored again since, or no room now`)
    }
    output.data({ ok: notRetried.length === 0, store: outbox.name, retried, notRetried })
    if (notRetried.length > 0) {
      const message = `${notRetried.length} of ${retried.length + notRetried.length} ids not sent again`
      throw new CliError(EXIT.failed, message, [], true)
    }
  },

  async purge(outbox, _ids, _flags, output) {
    const purged = await outbox.purge()
    output.line(`Deleted ${purged} dead letter${purged === 1 ? '' : 's'} from ${outbox.name}.`)
    output.data({ ok: true, store: outbox.name, purged })
  },
}

function iso(at: number | undefined): string {
  return at === undefined ? '-' : new Date(at).toISOString()
}
