/**
 * `express-transactionale/nest`: the touchpoint as a NestJS module (Express platform). Needs
 * `@nestjs/common` and `@nestjs/core` 10 or 11 (optional peer dependencies).
 */
export {
  TransactionaleModule,
  TRANSACTIONALE_TOUCHPOINT,
  TRANSACTIONALE_OPTIONS,
  type TransactionaleModuleAsyncOptions,
} from './nest/module'
export { TransactionaleTouchpoint, type TransactionaleModuleOptions, type NestRouteSelector } from './nest/touchpoint'
export { loggerFrom } from './logger-from'
