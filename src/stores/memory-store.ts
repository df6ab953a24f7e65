/**
 * The memory store: a bounded queue in one process's memory, and the default store. Nothing
 * survives the process; `close()` hands what is left to the caller to report as dropped. It sits on
 * the hot path of every order, so each method does its work synchronously and returns a promise
 * that is already settled, without closures or lookups per touchpoint.
 */
import { Fifo } from '../queue'
import { SeenKeys } from './seen-keys'
import { systemClock, type Clock } from '../types'
import type {
  AddResult,
  Claim,
  CountingStore,
  NewTouchpoint,
  Settlement,
  StoreContext,
  StoreCounts,
  StoredTouchpoint,
  TouchpointStore,
} from './contracts'

const WAITING = 0
const CLAIMED = 1
const SETTLED = 2

/**
 * A touchpoint in the memory store. The pump hands back the very object `claim()` returned, so
 * the claim state lives on it: settling is a field check, not a map lookup by id.
 */
class MemoryTouchpoint implements StoredTouchpoint {
  readonly id: string
  readonly body: string
  readonly orderId: string | undefined
  readonly dedupeKey: string | undefined
  readonly receivedAt: number
  attempts = 0
  /** When it is due (ms epoch): when it was added, or when its retry is due. */
  dueAt: number
  state: typeof WAITING | typeof CLAIMED | typeof SETTLED = WAITING

  constructor(
    /** The store that holds it: a touchpoint is settled only by its own store. */
    readonly owner: object,
    touchpoint: NewTouchpoint,
    /** Insertion order, the tie-break between retries due at the same time. */
    readonly seq: number,
    dueAt: number,
  ) {
    this.dueAt = dueAt
    this.id = String(seq)
    this.body = touchpoint.body
    this.orderId = touchpoint.orderId
    this.dedupeKey = touchpoint.dedupeKey
    this.receivedAt = touchpoint.receivedAt
  }
}

const ADDED: Promise<AddResult> = Promise.resolve('added')
const DUPLICATE: Promise<AddResult> = Promise.resolve('duplicate')
const FULL: Promise<AddResult> = Promise.resolve('full')
const UNAVAILABLE: Promise<AddResult> = Promise.resolve('unavailable')
const DONE: Promise<void> = Promise.resolve()
const NOTHING: Promise<readonly StoredTouchpoint[]> = Promise.resolve([])

/**
 * The in-memory store: a bounded FIFO of due touchpoints, retries waiting for their due time in a
 * small heap beside it, and dedupe keys remembered for the dedupe window (at most `dedupe.maxEntries`). Not
 * durable, keeps no dead letters. The default `store` of `transactionaleTouchpoint()`.
 */
export function memoryStore(): TouchpointStore & CountingStore {
  return new MemoryStore()
}

class MemoryStore implements TouchpointStore, CountingStore {
  readonly kind = 'memory'
  readonly durable = false

  private maxSize = 0
  private clock: Clock = systemClock
  private seen: SeenKeys | undefined
  /** New and released touchpoints, due now, in arrival order. */
  private readonly ready = new Fifo<MemoryTouchpoint>()
  /** Retries that have come due, in due order: claimed before `ready` (they are the older orders). */
  private readonly retriesDue = new Fifo<MemoryTouchpoint>()
  /** Retries not due yet: a binary min-heap on (dueAt, seq). */
  private readonly later: MemoryTouchpoint[] = []
  private seq = 0
  private closed = false
  /** What the first `close()` answered: every later call answers the same. */
  private closedWith: Promise<readonly StoredTouchpoint[]> = NOTHING

  open(context: StoreContext): Promise<void> {
    this.maxSize = context.maxSize
    this.clock = context.clock
    if (context.dedupeWindowMs > 0) {
      this.seen = new SeenKeys(context.dedupeWindowMs, context.dedupeMaxEntries, context.clock)
    }
    return DONE
  }

  add(touchpoint: NewTouchpoint): Promise<AddResult> {
    if (this.closed) return UNAVAILABLE
    const key = touchpoint.dedupeKey
    const seen = this.seen
    if (key !== undefined && seen !== undefined && seen.has(key)) return DUPLICATE
    if (this.waiting() >= this.maxSize) return FULL
    // Remembered from the add on: queued, in flight and delivered all count as seen.
    if (key !== undefined && seen !== undefined) seen.add(key)
    this.ready.push(new MemoryTouchpoint(this, touchpoint, ++this.seq, this.clock.now()))
    return ADDED
  }

  claim(limit: number): Promise<Claim> {
    const touchpoints: StoredTouchpoint[] = []
    if (this.closed) return Promise.resolve({ touchpoints, nextDueAt: undefined })
    if (this.later.length > 0) this.promoteDue()
    while (touchpoints.length < limit) {
      // Oldest due first across both queues, as a durable store orders by (due time, id).
      const t = this.next()
      if (t === undefined) break
      t.state = CLAIMED
      touchpoints.push(t)
    }
    return Promise.resolve({ touchpoints, nextDueAt: this.later[0]?.dueAt })
  }

  settle(touchpoint: StoredTouchpoint, outcome: Settlement): Promise<void> {
    const t = this.claimed(touchpoint)
    if (t === undefined || this.closed) return DONE
    switch (outcome.kind) {
      case 'delivered':
        // The dedupe key stays in the cache until its TTL: a delivered order counts as seen.
        t.state = SETTLED
        break
      case 'failed':
        t.state = SETTLED
        // A failed order was never delivered: the same order may be submitted again.
        if (t.dedupeKey !== undefined) this.seen?.delete(t.dedupeKey)
        break
      case 'retry':
        t.state = WAITING
        t.attempts = outcome.attempts
        t.dueAt = outcome.dueAt
        this.heapPush(t)
        break
      case 'released':
        // Back to the front: it was first in line when claimed.
        t.state = WAITING
        this.retriesDue.unshift(t)
        break
    }
    return DONE
  }

  close(): Promise<readonly StoredTouchpoint[]> {
    if (this.closed) return this.closedWith
    this.closed = true
    if (this.later.length > 0) this.promoteDue()
    const out: MemoryTouchpoint[] = [...this.retriesDue.drain(), ...this.ready.drain()]
    // Not yet due, in due order.
    while (this.later.length > 0) out.push(this.heapPop())
    for (const t of out) {
      t.state = SETTLED
      // Reported as dropped by the caller: never delivered, so the order may come again.
      if (t.dedupeKey !== undefined) this.seen?.delete(t.dedupeKey)
    }
    this.closedWith = Promise.resolve(out)
    return this.closedWith
  }

  counts(): StoreCounts {
    return { waiting: this.waiting(), deadLetters: 0 }
  }

  waitingOrderIds(limit: number): string[] {
    // Oldest first: due retries, then the queue, then retries not yet due (in heap order: the exit
    // warning that asks for these does not need them sorted). Rare, so peeking by shift-and-unshift.
    const ids: string[] = []
    for (const fifo of [this.retriesDue, this.ready]) {
      const taken: MemoryTouchpoint[] = []
      while (ids.length < limit) {
        const t = fifo.shift()
        if (t === undefined) break
        taken.push(t)
        if (t.orderId !== undefined) ids.push(t.orderId)
      }
      for (let i = taken.length - 1; i >= 0; i--) fifo.unshift(taken[i] as MemoryTouchpoint)
    }
    for (const t of this.later) {
      if (ids.length >= limit) break
      if (t.orderId !== undefined) ids.push(t.orderId)
    }
    return ids
  }

  private waiting(): number {
    return this.ready.length + this.retriesDue.length + this.later.length
  }

  /** The store's own object for a touchpoint this store handed out and that is still claimed. */
  private claimed(touchpoint: StoredTouchpoint | undefined): MemoryTouchpoint | undefined {
    return touchpoint instanceof MemoryTouchpoint && touchpoint.owner === this && touchpoint.state === CLAIMED
      ? touchpoint
      : undefined
  }

  /** Takes the oldest due touchpoint: the head of the due retries or of the queue, by (dueAt, seq). */
  private next(): MemoryTouchpoint | undefined {
    const retry = this.retriesDue.shift()
    if (retry === undefined) return this.ready.shift()
    const fresh = this.ready.shift()
    if (fresh === undefined) return retry
    // Fifo has no peek: the one not taken goes back to the head of its queue (O(1)).
    if (before(retry, fresh)) {
      this.ready.unshift(fresh)
      return retry
    }
    this.retriesDue.unshift(retry)
    return fresh
  }

  /** Moves retries whose time has come from the heap to the due queue, in due order. */
  private promoteDue(): void {
    const now = this.clock.now()
    while (this.later.length > 0 && (this.later[0] as MemoryTouchpoint).dueAt <= now) {
      this.retriesDue.push(this.heapPop())
    }
  }

  private heapPush(t: MemoryTouchpoint): void {
    const heap = this.later
    let i = heap.push(t) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as MemoryTouchpoint
      if (!before(t, p)) break
      heap[i] = p
      i = parent
    }
    heap[i] = t
  }

  private heapPop(): MemoryTouchpoint {
    const heap = this.later
    const top = heap[0] as MemoryTouchpoint
    const last = heap.pop() as MemoryTouchpoint
    const n = heap.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && before(heap[right] as MemoryTouchpoint, heap[left] as MemoryTouchpoint)) child = right
      const c = heap[child] as MemoryTouchpoint
      if (!before(c, last)) break
      heap[i] = c
      i = child
    }
    heap[i] = last
    return top
  }
}

function before(a: MemoryTouchpoint, b: MemoryTouchpoint): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq)
}
