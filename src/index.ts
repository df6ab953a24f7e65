/** Public entry point of express-transactionale. */
export { transactionaleTouchpoint } from './middleware'
export type {
  TouchpointMiddleware,
  TouchpointStats,
  CloseOptions,
  CloseSummary,
  FlushOptions,
  FlushResult,
  TouchpointDeps,
} from './middleware'
export { DEFAULTS } from './options'
export type { Options, Mapper, MapperResult, ExactMapperResult, DedupeKey } from './options'
export { memoryStore } from './stores/memory-store'
export type {
  TouchpointStore,
  SelfDeliveringStore,
  AnyStore,
  CountingStore,
  StoreContext,
  StoreCounts,
  NewTouchpoint,
  StoredTouchpoint,
  Claim,
  Settlement,
  DeadLetter,
  AddResult,
  TouchpointOutbox,
  OutboxEntry,
  OutboxStats,
} from './stores/contracts'
export type { Engine, EngineParts, EngineStats } from './delivery/engine'
export type { Deliverer } from './delivery/deliver'
export type { Customer, WirePayload } from './payload'
export type {} from './locals' // types res.locals.transactionale (a global augmentation of Express.Locals); type-only, so bundlers see no side effect
export { WIRE_NAMES } from './payload'
export { normalizeCountry } from './country'
export { TouchpointConfigError, CONFIG_ERROR_CODES } from './errors'
export type { ConfigProblem, ConfigErrorCode } from './errors'
export type { Clock } from './types'
export { OBSERVE } from './observe'
export type { Observer, AttemptObservation } from './observe'
export { LOG_MESSAGES } from './logger'
export { loggerFrom } from './logger-from'
export type { ForeignLogger, LoggerFromOptions } from './logger-from'
export type { OutageState } from './delivery/outage'
export type { LedgerCounts } from './ledger'
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
  InvalidStage,
} from './hooks'
export type { HttpClient, HttpResult } from './http-client'
export type { RoutePattern } from './route-matcher'
export type { TouchpointLogger, LogLevel } from './logger'
