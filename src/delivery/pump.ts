/**
 * The pump: our engine for the stores that do not bring their own (memory, SQLite). It claims due
 * touchpoints from the store, as many as `deliver()` has free slots for, runs `deliver()` on each and
 * hands the settlement back to the store. It knows touchpoints, never SQL.
 *
 * Lifecycle: `opening` (the store recovers what it holds; adds wait) → `running` → `draining`
 * (`settleInFlight()`: nothing new is claimed) → `stopped`. The pump is woken by its own adds, by
 * finished deliveries (once per pass of the event loop), by the store (`onAvailable`), by a due
 * time it read from the last claim, by the end of an outage pause, and by its own retry timer after
 * a failed claim, so a touchpoint that is due never waits for the next order.
 */
import type { AddResult, Settlement, StoredTouchpoint, TouchpointStore } from '../stores/contracts'
import { countsOf } from '../stores/contracts'
import type { Engine, EngineParts, StopResult } from './engine'

/** After a claim that failed (the store logged why), the pump tries again this much later. */
export const CLAIM_RETRY_MS = 1000

type Phase = 'opening' | 'running' | 'draining' | 'stopped'

export function createPump(store: TouchpointStore, parts: EngineParts): Engine {
  const { deliverer, ledger, log, clock } = parts
  let phase: Phase = 'opening'
  let openFailed = false
  /** Adds not yet answered by the store, and of those, adds waiting for the store to open. */
  let storing = 0
  let beforeOpen = 0
  /** Settlements handed to the store and not yet recorded (a SQLite group commit). */
  let recording = 0
  let claiming = false
  /** Something new may be claimable since the claim under way began. */
  let wokenDuringClaim = false
  let timer: { handle: NodeJS.Timeout; at: number } | undefined
  const waiters: { whenEmpty: boolean; resolve: () => void }[] = []

  const waiting = (): number => countsOf(store).waiting
  // What waits for this process: what is being stored, and, in a store only this process drains
  // (memory, which holds an add at once), what waits in it. A durable store's waiting touchpoints
  // count in `store.waiting`.
  const queued = (): number => (store.durable ? storing : beforeOpen + waiting())

  const isIdle = (whenEmpty: boolean): boolean =>
    storing === 0 &&
    deliverer.inFlight === 0 &&
    !claiming &&
    (!whenEmpty || (recording === 0 && (phase === 'stopped' || openFailed || waiting() === 0)))

  const checkIdle = (): void => {
    if (waiters.length === 0) return
    const still = waiters.filter((waiter) => !isIdle(waiter.whenEmpty))
    const done = waiters.filter((waiter) => !still.includes(waiter))
    waiters.splice(0, waiters.length, ...still)
    for (const waiter of done) waiter.resolve()
  }

  const waitIdle = (whenEmpty: boolean): Promise<void> =>
    isIdle(whenEmpty) ? Promise.resolve() : new Promise((resolve) => waiters.push({ whenEmpty, resolve }))

  const wakeAt = (at: number): void => {
    if (phase !== 'running') return
    // Due already (it came due while the claim was answered): look again now, not on a timer.
    if (at <= clock.now()) return queueMicrotask(wake)
    if (timer !== undefined) {
      if (timer.at <= at) return
      clock.clearTimeout(timer.handle)
    }
    const handle = clock.setTimeout(
      () => {
        timer = undefined
        wake()
      },
      Math.max(0, at - clock.now()),
    )
    handle.unref?.()
    timer = { handle, at }
  }

  /** Claims as many due touchpoints as there are free slots; one claim at a time. */
  const wake = (): void => {
    if (claiming) {
      wokenDuringClaim = true
      return
    }
    if (phase !== 'running') return checkIdle()
    const free = deliverer.freeSlots(queued())
    if (free <= 0) return checkIdle()
    claiming = true
    wokenDuringClaim = false
    store.claim(free).then(
      (claim) => {
        claiming = false
        if (phase === 'stopped') {
          for (const t of claim.touchpoints) void store.settle(t, { kind: 'released' })
          return checkIdle()
        }
        for (const t of claim.touchpoints) attempt(t)
        if (claim.touchpoints.length === free || wokenDuringClaim) wake()
        else if (claim.nextDueAt !== undefined && deliverer.state !== 'paused') wakeAt(claim.nextDueAt)
        checkIdle()
      },
      () => {
        claiming = false
        wakeAt(clock.now() + CLAIM_RETRY_MS)
        checkIdle()
      },
    )
  }

  /**
   * A finished delivery frees a slot. The answers that arrive together (one pass of the event loop
   * over its sockets) share one claim, made once they are all in: one store transaction for all
   * their slots instead of one each (docs/decisions/0005-one-claim-per-pass.md).
   */
  let claimAfterAnswers = false
  const wakeAfterAnswers = (): void => {
    if (claimAfterAnswers) return
    claimAfterAnswers = true
    setImmediate(() => {
      claimAfterAnswers = false
      wake()
    })
  }

  const record = (t: StoredTouchpoint, settlement: Settlement): void => {
    recording++
    const recorded = (): void => {
      recording--
      checkIdle()
    }
    store.settle(t, settlement).then(recorded, recorded)
  }

  const attempt = (t: StoredTouchpoint): void => {
    void deliverer.deliver(t).then((settlement) => {
      // After stop(), the store has the touchpoint back already (or it was reported as dropped).
      if (phase !== 'stopped') record(t, settlement)
      wakeAfterAnswers()
      checkIdle()
    })
  }

  /** An add that arrived while the store was still opening: it counts as queued until it is made. */
  const addOnceOpen = (add: () => Promise<AddResult>): Promise<AddResult> => {
    beforeOpen++
    return opened.then(() => {
      beforeOpen--
      return add()
    })
  }

  deliverer.onWake(wake)
  const opened = store.open({ ...parts.context, onAvailable: wake }).then(
    () => {
      if (phase === 'opening') phase = 'running'
      wake()
    },
    (error: unknown) => {
      // Every add is then counted as a store error; the store has logged why it could not open.
      openFailed = true
      if (phase === 'opening') phase = 'running'
      log.write('storeFailed', { error: error instanceof Error ? error.message.slice(0, 300) : typeof error })
      checkIdle()
    },
  )

  return {
    submit(touchpoint) {
      if (phase === 'stopped') {
        ledger.dropped('closed', touchpoint)
        return Promise.resolve()
      }
      storing++
      deliverer.arrived()
      const add = (): Promise<AddResult> =>
        openFailed ? Promise.reject(new Error('store not open')) : store.add(touchpoint)
      const adding = phase === 'opening' ? addOnceOpen(add) : add()
      return adding.then(
        (result) => {
          storing--
          if (result === 'added') return wake()
          if (result === 'duplicate') ledger.deduped(touchpoint.orderId)
          else ledger.dropped(result === 'unavailable' ? 'store_unavailable' : 'queue_full', touchpoint)
          checkIdle()
        },
        () => {
          storing--
          ledger.dropped('store_error', touchpoint)
          checkIdle()
        },
      )
    },
    flush: () => waitIdle(true),
    settleInFlight() {
      if (phase === 'running' || phase === 'opening') phase = 'draining'
      return waitIdle(false)
    },
    async stop(): Promise<StopResult> {
      await opened
      phase = 'stopped'
      if (timer !== undefined) clock.clearTimeout(timer.handle)
      timer = undefined
      const cut = deliverer.stop()
      let abandoned = 0
      let persisted = 0
      if (store.durable) {
        // The requests in flight are cut by the caller destroying the sockets; the next start sends them again.
        await Promise.all(cut.map((t) => store.settle(t, { kind: 'released' })))
        persisted = waiting()
        await store.close()
      } else {
        const left = [...cut, ...(await store.close())]
        abandoned = left.length
        if (abandoned > 0) log.write('abandoned', { pending: abandoned })
        for (const t of left) ledger.dropped('shutdown', t)
      }
      checkIdle()
      return { abandoned, persisted }
    },
    pendingOrderIds(limit) {
      const ids = deliverer.inFlightOrderIds(limit)
      const counting = store as { waitingOrderIds?: (limit: number) => string[] }
      for (const id of counting.waitingOrderIds?.(limit - ids.length) ?? []) ids.push(id)
      return ids
    },
    stats: () => ({ queued: queued(), inFlight: deliverer.inFlight, state: deliverer.state, limit: deliverer.limit }),
  }
}
