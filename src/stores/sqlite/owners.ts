/**
 * Lease owners: the name a store writes on the rows it leases (`host/pid/random`, unique per store
 * instance, readable by whoever opens the file), and which names belong to processes of this
 * machine that are gone — their leases can be given back at once instead of expiring.
 */
import * as crypto from 'node:crypto'
import { hostname } from 'node:os'
import { codeOf } from './load'

export function leaseOwner(): string {
  return `${hostname()}/${process.pid}/${crypto.randomBytes(6).toString('hex')}`
}

/**
 * The owners among `owners` that ran on this host (the owner names the host; containers have their
 * own) in a process that no longer exists. Never `self`, never a live pid (another process that
 * reused a dead one's pid keeps its leases until they expire: the safe side).
 */
export function deadOwners(owners: readonly string[], self: string): string[] {
  const host = hostname()
  const dead: string[] = []
  for (const owner of owners) {
    if (owner === self) continue
    const match = /^(.*)\/(\d+)\/[0-9a-f]+$/.exec(owner)
    if (match === null || match[1] !== host) continue
    const pid = Number(match[2])
    if (pid !== process.pid && !isAlive(pid)) dead.push(owner)
  }
  return dead
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return codeOf(error) === 'EPERM'
  }
}
