// The delivery half of the middleware, assembled as the factory assembles it (memory store, ledger,
// deliver(), pump), for tests that drive it directly with a real HTTP client and an injected clock.
import { createDeliverer, type DeliverySettings as CoreSettings } from '../../src/delivery/deliver'
import { createPump } from '../../src/delivery/pump'
import type { HttpClient } from '../../src/http-client'
import type { Hooks } from '../../src/hooks'
import { createLedger } from '../../src/ledger'
import { createLog, type TouchpointLogger } from '../../src/logger'
import { memoryStore } from '../../src/stores/memory-store'
import { countsOf, type NewTouchpoint, type TouchpointStore } from '../../src/stores/contracts'
import type { Clock } from '../../src/types'

export interface DeliverySettings extends CoreSettings {
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
  const clock = deps.clock
  const ledger = createLedger(
    { logPersonalData: settings.logPersonalData, hashKey: API_KEY, maxSize: settings.maxSize },
    deps.hooks ?? {},
    log,
    clock,
  )
  const deliverer = createDeliverer(settings, {
    send: deps.send,
    ledger,
    log,
    clock,
    random: deps.random ?? Math.random,
  })
  const engine = createPump(store, {
    deliverer,
    ledger,
    log,
    clock,
    context: {
      maxSize: settings.maxSize,
      dedupeWindowMs: settings.dedupe.windowMs,
      dedupeMaxEntries: settings.dedupe.maxEntries,
      leaseMs: 60_000,
      clock,
      logger: log.logger,
    },
  })
  return {
    submit: (t: { body: string; orderId: string | undefined }): Promise<void> => {
      const touchpoint: NewTouchpoint = { ...t, dedupeKey: t.orderId, receivedAt: clock.now() }
      return engine.submit(touchpoint)
    },
    flush: () => engine.flush(),
    stop: () => engine.stop(),
    stats: () => ({ ...ledger.counts(), ...engine.stats(), waiting: countsOf(store).waiting }),
  }
}

export type Delivery = ReturnType<typeof createDelivery>
