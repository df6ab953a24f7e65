/**
 * Configuration errors: every problem found in the options, each with a stable code and a fix.
 * docs/reference/errors.md has one section per code (a test keeps the two in sync), and each line
 * of the error's message names the section of its code.
 */

import type { Options } from './options'

/** Stable codes of configuration problems, one per option (plus the two about the object itself, `registerMetrics()`'s and the Redis entry's). */
export const CONFIG_ERROR_CODES = {
  options: 'ERR_TOUCHPOINT_OPTIONS',
  unknown: 'ERR_TOUCHPOINT_UNKNOWN_OPTION',
  apiKey: 'ERR_TOUCHPOINT_API_KEY',
  route: 'ERR_TOUCHPOINT_ROUTE',
  methods: 'ERR_TOUCHPOINT_METHODS',
  mapper: 'ERR_TOUCHPOINT_MAPPER',
  endpoint: 'ERR_TOUCHPOINT_ENDPOINT',
  timeoutMs: 'ERR_TOUCHPOINT_TIMEOUT',
  logger: 'ERR_TOUCHPOINT_LOGGER',
  enabled: 'ERR_TOUCHPOINT_ENABLED',
  dryRun: 'ERR_TOUCHPOINT_DRY_RUN',
  isSuccess: 'ERR_TOUCHPOINT_IS_SUCCESS',
  logPersonalData: 'ERR_TOUCHPOINT_LOG_PERSONAL_DATA',
  country: 'ERR_TOUCHPOINT_COUNTRY',
  queue: 'ERR_TOUCHPOINT_QUEUE',
  retry: 'ERR_TOUCHPOINT_RETRY',
  dedupe: 'ERR_TOUCHPOINT_DEDUPE',
  hooks: 'ERR_TOUCHPOINT_HOOKS',
  mapperTimeoutMs: 'ERR_TOUCHPOINT_MAPPER_TIMEOUT',
  store: 'ERR_TOUCHPOINT_STORE',
  waitUntil: 'ERR_TOUCHPOINT_WAIT_UNTIL',
  waitUntilTimeoutMs: 'ERR_TOUCHPOINT_WAIT_UNTIL_TIMEOUT',
  metrics: 'ERR_TOUCHPOINT_METRICS',
  redis: 'ERR_TOUCHPOINT_REDIS',
} as const satisfies Record<keyof Options | 'options' | 'unknown' | 'metrics' | 'redis', `ERR_TOUCHPOINT_${string}`>

/** One of the codes in {@link CONFIG_ERROR_CODES}. */
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[keyof typeof CONFIG_ERROR_CODES]

/**
 * Where a code is explained: its section of the error reference. The package has no repository URL
 * to point at yet, so this is the path in the repository, with the heading's GitHub anchor.
 */
export function errorDocs(code: ConfigErrorCode): string {
  return `docs/reference/errors.md#${code.toLowerCase()}`
}

/** One thing wrong with the options given to `transactionaleTouchpoint()`. */
export interface ConfigProblem {
  /** The option at fault, e.g. `apiKey` or `retry.maxAttempts`. */
  readonly option: string
  /** Stable, documented code. */
  readonly code: ConfigErrorCode
  /** What is wrong and how to fix it. */
  readonly message: string
}

/**
 * Thrown by `transactionaleTouchpoint()` when its options are wrong. It lists every problem at once
 * in {@link TouchpointConfigError.problems}; `code` is the code of the first one.
 */
export class TouchpointConfigError extends Error {
  readonly code: ConfigErrorCode
  readonly problems: readonly ConfigProblem[]

  constructor(problems: readonly ConfigProblem[]) {
    const first = problems[0]
    if (first === undefined) throw new TypeError('TouchpointConfigError needs at least one problem')
    const lines = problems.map((p) => `  - ${p.code} (${p.option}): ${p.message} (see ${errorDocs(p.code)})`)
    super(
      `express-transactionale: ${problems.length} configuration problem${problems.length > 1 ? 's' : ''}:\n${lines.join('\n')}`,
    )
    this.name = 'TouchpointConfigError'
    this.code = first.code
    this.problems = problems
  }
}
