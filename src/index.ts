/** Public entry point of express-transactionale. */
export { transactionaleTouchpoint } from './middleware'
export type { TouchpointMiddleware, TouchpointStats, CloseOptions, TouchpointDeps } from './middleware'
export { DEFAULTS } from './options'
export type { Options, Mapper, MapperResult } from './options'
export type { Customer, WirePayload } from './payload'
export { WIRE_NAMES } from './payload'
export { normalizeCountry } from './country'
export { TouchpointConfigError, CONFIG_ERROR_CODES } from './errors'
export type { ConfigProblem, ConfigErrorCode } from './errors'
export type { CloseSummary, Clock } from './dispatcher'
export type {
  Hooks,
  SentEvent,
  FailedEvent,
  DroppedEvent,
  InvalidEvent,
  SkippedEvent,
  SkipReason,
  DropReason,
  FailReason,
} from './hooks'
export type { HttpClient, HttpResult } from './http-client'
export type { RoutePattern } from './route-matcher'
export type { TouchpointLogger } from './logger'
