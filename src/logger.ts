/**
 * Logging: the package's pino logger (the shop's own, as a child, or a default one), and the one
 * function that decides which customer facts may appear in a log line.
 */
import pino, { type Logger } from 'pino'
import { emailHash, type ValidCustomer } from './payload'

/** The minimum a logger must offer: pino's, or anything with the same methods. */
export type TouchpointLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'child'>

// Defence in depth: nothing we log carries these, but a shop's serializers or a future change might.
const REDACT = [
  'apiKey',
  'headers["x-authorization"]',
  'headers["X-Authorization"]',
  'config.headers',
  '*.apiKey',
  '*.headers["X-Authorization"]',
]

/** The package's logger: a child of the shop's logger, or a pino logger of our own. */
export function createLogger(shopLogger: TouchpointLogger | undefined): TouchpointLogger {
  const base = shopLogger ?? pino({ name: 'express-transactionale', redact: REDACT })
  return base.child({ component: 'express-transactionale' }, { redact: REDACT })
}

/**
 * The log fields that identify an order: its id and a short hash of the email by default;
 * every customer field only when the shop turned `logPersonalData` on.
 */
export function orderLogFields(
  customer: ValidCustomer | undefined,
  orderId: string | undefined,
  logPersonalData: boolean,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  if (orderId !== undefined) fields.orderId = orderId
  if (customer !== undefined) {
    fields.emailHash = emailHash(customer.email)
    if (logPersonalData) fields.customer = customer
  }
  return fields
}
