// The delivery half of the middleware, assembled as the factory assembles it (memory store, ledger,
// pump), for tests that drive it directly with a real HTTP client and an injected clock.
import { createPump, type PumpSettings } from '../../src/delivery/pump'
import type { HttpClient } from '../../src/http-client'
import type { Hooks } from '../../src/hooks'
import { createLedger } from '../../src/ledger'
import { createLog, type TouchpointLogger } from '../../src/logger'
import { memoryStore } from '../../src/stores/memory-store'
import type { NewTouchpoint, TouchpointStore } from '../../src/stores/store'
import type { Clock } from '../../src/types'

export interface DeliverySettings extends PumpSettings {
  readonly maxSize: number
  readonly dedupe: { readonly windowMs: number; readonly maxEntries: number }
  readonly logPersonalData: boolean
}

export interface DeliveryDeps {
  readonly send: HttpClient
  readonly logger: TouchpointLogger
  readonly hooks?: Hooks
  readonly clock: Clock
  readonly random?: () => number
  readonly store?: TouchpointStore
}

export const API_KEY = 'k'

export function createDelivery(settings: DeliverySettings, deps: DeliveryDeps) {
  const log = createLog(deps.logger)
  const store = deps.store ?? memoryStore()
  const ledger = createLedger(
    { logPersonalData: settings.logPersonalData, hashKey: API_KEY, maxSize: settings.maxSize },
    deps.hooks ?? {},
    log,
    deps.clock,
  )
  const opened = store.open({
    maxSize: settings.maxSize,
    dedupeWindowMs: settings.dedupe.windowMs,
    dedupeMaxEntries: settings.dedupe.maxEntries,
    leaseMs: 60_000,
    clock: deps.clock,
    logger: log.logger,
  })
  const pump = createPump(settings, {
    store,
    opened,
    send: deps.send,
    ledger,
    log,
    clock: deps.clock,
    random: deps.random ?? Math.random,
  })
  return {
    submit: (t: { body: string; orderId: string | undefined }): Promise<void> => {
      const touchpoint: NewTouchpoint = { ...t, dedupeKey: t.orderId, receivedAt: deps.clock.now() }
      return pump.submit(touchpoint)
    },
    flush: () => pump.flush(),
    stop: () => pump.stop(),
    stats: () => ({ ...ledger.counts(), ...pump.stats() }),
  }
}

export type Delivery = ReturnType<typeof createDelivery>
