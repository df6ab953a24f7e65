/**
 * Logging: the package's pino logger (the shop's own, as a child, or a default one), with the API
 * key's header redacted should anything ever try to log it.
 */
import pino, { type Logger } from 'pino'

/** The minimum a logger must offer: pino's, or anything with the same methods. */
export type TouchpointLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'child'> &
  Partial<Pick<Logger, 'isLevelEnabled'>>

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
