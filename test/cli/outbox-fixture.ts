// A real SQLite outbox file, filled through the store's own API: touchpoints added, some claimed
// and failed for good (dead letters), the rest left waiting.
import pino from 'pino'
import { sqliteStore } from '../../src/sqlite'
import type { StoreCounts } from '../../src/stores/contracts'
import { systemClock } from '../../src/types'

export interface OutboxFixture {
  /** Touchpoints left waiting. */
  readonly waiting: number
  /** Touchpoints failed for good, with reason `rejected (400)`. */
  readonly dead: number
  /** First order number (order ids are `A-<n>`, emails `c<n>@example.com`). */
  readonly from?: number
}

/** Fills `file` (created if missing) and closes it; resolves with the store's counts. */
export async function fillOutbox(file: string, { waiting, dead, from = 1 }: OutboxFixture): Promise<StoreCounts> {
  const store = sqliteStore({ path: file })
  await store.open({
    maxSize: 1_000_000,
    dedupeWindowMs: 86_400_000,
    dedupeMaxEntries: 1_000_000,
    leaseMs: 30_000,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    onAvailable: () => undefined,
  })
  try {
    const orders = Array.from({ length: dead + waiting }, (_, i) => from + i)
    const results = await Promise.all(
      orders.map((n) =>
        store.add({
          body: JSON.stringify({ country: 'DE', email: `c${n}@example.com`, first_name: 'Anna' }),
          orderId: `A-${n}`,
          dedupeKey: `A-${n}`,
          receivedAt: systemClock.now(),
        }),
      ),
    )
    if (results.some((result) => result !== 'added'))
      throw new Error(`not every touchpoint was added: ${results.join()}`)
    // The oldest are due first: they become the dead letters.
    let left = dead
    while (left > 0) {
      const claimed = (await store.claim(Math.min(left, 1000))).touchpoints
      if (claimed.length === 0) throw new Error('nothing left to claim')
      await Promise.all(
        claimed.map((touchpoint) =>
          store.settle(touchpoint, { kind: 'failed', attempts: 8, reason: 'rejected (400)' }),
        ),
      )
      left -= claimed.length
    }
    return store.counts()
  } finally {
    await store.close()
  }
}

if (require.main === module) {
  const [file = '', waiting = '0', dead = '0'] = process.argv.slice(2)
  fillOutbox(file, { waiting: Number(waiting), dead: Number(dead) }).then(
    (counts) => console.log(JSON.stringify(counts)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
