// The ledger equation of the issue "every order accounted for": every order received is in exactly
// one outcome or gauge, at every moment.
import type { TouchpointStats } from '../../src'

export function accounted(s: TouchpointStats): number {
  return (
    s.skipped.total +
    s.invalid +
    s.deduped +
    s.sent +
    s.failed +
    s.dropped.total +
    s.dryRun +
    s.mapping +
    s.queued +
    s.inFlight
  )
}
