/**
 * `TransactionaleModule`: the touchpoint as a NestJS module — `forRoot(options)` or
 * `forRootAsync({ imports, inject, useFactory })`; it applies the middleware to the app's routes,
 * reads the global prefix from Nest's `ApplicationConfig`, gives the touchpoint under
 * `TRANSACTIONALE_TOUCHPOINT`, and closes it in `onApplicationShutdown` (after the HTTP server has
 * stopped taking requests), so pending touchpoints are delivered on SIGTERM with
 * `enableShutdownHooks()`. Written without decorator syntax, so it needs no compiler flags.
 */
import {
  Inject,
  Module,
  type DynamicModule,
  type MiddlewareConsumer,
  type ModuleMetadata,
  type NestModule,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common'
import { ApplicationConfig } from '@nestjs/core'
import type { MapperResult } from '../options'
import type { GlobalPrefix } from './route'
import { TransactionaleTouchpoint, type TransactionaleModuleOptions } from './touchpoint'

/** The injection token of the {@link TransactionaleTouchpoint}. */
export const TRANSACTIONALE_TOUCHPOINT = 'TRANSACTIONALE_TOUCHPOINT'
/** The injection token of the module's options (what `forRootAsync()`'s factory returned). */
export const TRANSACTIONALE_OPTIONS = 'TRANSACTIONALE_OPTIONS'

/** Options of `TransactionaleModule.forRootAsync()`. */
export interface TransactionaleModuleAsyncOptions<R extends MapperResult = MapperResult> {
  /** Modules whose providers the factory injects (e.g. `ConfigModule`). Defaults to none. */
  imports?: ModuleMetadata['imports']
  /** Tokens of the factory's arguments (e.g. `[ConfigService]`). Defaults to none. */
  inject?: NonNullable<Extract<Provider, { useFactory: unknown }>['inject']>
  /** Returns the options. Required. */
  useFactory: (...args: never[]) => TransactionaleModuleOptions<R> | Promise<TransactionaleModuleOptions<R>>
}

const touchpointProvider: Provider = {
  provide: TRANSACTIONALE_TOUCHPOINT,
  useFactory: (options: TransactionaleModuleOptions, config: GlobalPrefix) =>
    new TransactionaleTouchpoint(options, config),
  inject: [TRANSACTIONALE_OPTIONS, ApplicationConfig],
}

/** The module. Global: any module can inject `TRANSACTIONALE_TOUCHPOINT` (e.g. a health check). */
export class TransactionaleModule implements NestModule, OnApplicationShutdown {
  constructor(private readonly touchpoint: TransactionaleTouchpoint) {}

  /** Registers the touchpoint with options known at start. */
  static forRoot<R extends MapperResult = MapperResult>(options: TransactionaleModuleOptions<R>): DynamicModule {
    return {
      module: TransactionaleModule,
      global: true,
      providers: [{ provide: TRANSACTIONALE_OPTIONS, useValue: options }, touchpointProvider],
      exports: [TRANSACTIONALE_TOUCHPOINT],
    }
  }

  /** Registers the touchpoint with options from a factory (e.g. from `ConfigService`). */
  static forRootAsync<R extends MapperResult = MapperResult>(
    options: TransactionaleModuleAsyncOptions<R>,
  ): DynamicModule {
    return {
      module: TransactionaleModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: TRANSACTIONALE_OPTIONS,
          useFactory: options.useFactory as (...args: unknown[]) => unknown,
          inject: options.inject ?? [],
        },
        touchpointProvider,
      ],
      exports: [TRANSACTIONALE_TOUCHPOINT],
    }
  }

  configure(consumer: MiddlewareConsumer): void {
    // Nest calls this when the app initialises, after setGlobalPrefix(): the routes get the prefix.
    consumer
      .apply(this.touchpoint.middleware)
      .forRoutes(...(this.touchpoint.forRoutes as Parameters<MiddlewareConfigProxyForRoutes>))
  }

  async onApplicationShutdown(): Promise<void> {
    await this.touchpoint.close()
  }
}

type MiddlewareConfigProxyForRoutes = ReturnType<MiddlewareConsumer['apply']>['forRoutes']

// The decorators, applied as functions (no experimentalDecorators needed to compile this file).
Module({})(TransactionaleModule)
Inject(TRANSACTIONALE_TOUCHPOINT)(TransactionaleModule, undefined, 0)
