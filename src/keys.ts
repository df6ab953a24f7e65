/**
 * Keys derived from customer data, never the data itself: the dedupe key of a long order id, and the
 * keyed email hash that lets log lines about one customer be correlated.
 */
import { createHash, createHmac } from 'node:crypto'

/** Order ids up to this length are their own dedupe key; longer ones are hashed to bound memory. */
const MAX_PLAIN_KEY = 128

/**
 * The dedupe key for an order id: the id itself when it has at most 128 characters, otherwise
 * `sha256:` followed by the hex SHA-256 of it, so an order id of any length costs a bounded key.
 */
export function dedupeKeyOf(value: string): string {
  return value.length <= MAX_PLAIN_KEY ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`
}

/**
 * A short tag for an email, so log lines about one customer can be correlated without holding the
 * address: the first 12 hex digits of HMAC-SHA256, keyed with `secret` (the shop's API key), of the
 * trimmed, lower-cased address. Keyed because a plain hash of an email is not anonymous: anyone with
 * the log and a list of addresses could hash the list and match. Stable for one secret; different
 * for another.
 */
export function emailHash(email: string, secret: string): string {
  return createHmac('sha256', secret).update(email.trim().toLowerCase()).digest('hex').slice(0, 12)
}
