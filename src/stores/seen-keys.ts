/**
 * The memory store's dedupe memory: the keys added within the dedupe window, at most `maxEntries`
 * of them (the oldest forgotten first), on the store's clock. A Map keeps insertion order, so the
 * oldest key is always the first: expiry and eviction both take from the front.
 */
import type { Clock } from '../types'

export class SeenKeys {
  /** Key → when it was added (ms epoch). */
  private readonly added = new Map<string, number>()

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** Whether `key` was added within the window (and not deleted since). */
  has(key: string): boolean {
    const at = this.added.get(key)
    if (at === undefined) return false
    if (this.clock.now() - at < this.windowMs) return true
    this.added.delete(key)
    return false
  }

  /** Remembers `key` from now on, for the window. */
  add(key: string): void {
    const now = this.clock.now()
    this.added.delete(key) // re-added: it moves to the back
    this.added.set(key, now)
    for (const [oldest, at] of this.added) {
      if (this.added.size <= this.maxEntries && now - at < this.windowMs) break
      this.added.delete(oldest)
    }
  }

  delete(key: string): void {
    this.added.delete(key)
  }

  get size(): number {
    return this.added.size
  }
}
