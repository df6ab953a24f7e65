/**
 * `worker --redis URL`: runs the Redis store's worker (`runWorker` of `express-transactionale/redis`)
 * with the key from TRANSACTIONALE_API_KEY until SIGTERM or SIGINT, then closes it and exits 0. A
 * Redis that refuses the credentials, or does not answer within 10 s, fails it with exit code 1.
 */
import { Command } from 'commander'
import pino from 'pino'
import { DEFAULTS } from '../options'
import { REDIS_STORE_DEFAULTS, runWorker } from '../redis'
import { maskRedisUrl } from '../redact'
import type { TouchpointWorker } from '../redis/run-worker'
import {
  API_KEY_ENV,
  asUsageError,
  CliError,
  EXIT,
  MISSING_API_KEY,
  untilStopped,
  usageError,
  type Output,
  type Run,
} from './output'

interface WorkerFlags {
  redis: string
  prefix?: string
  endpoint?: string
  json?: boolean
}

/** How long the worker waits for Redis to answer at start before it fails. */
const CONNECT_TIMEOUT_MS = 10_000

/** The option of `runWorker` behind each thing the command line sets. */
const OPTION_SOURCES = { apiKey: API_KEY_ENV, connection: '--redis', prefix: '--prefix', endpoint: '--endpoint' }

export function workerCommand(run: Run): Command {
  return new Command('worker')
    .summary('deliver the touchpoints of a Redis store until SIGTERM')
    .description(
      `Runs the Redis store's worker with the API key from ${API_KEY_ENV}: it delivers what the shop's processes enqueue with redisStore(), with the middleware's retries and outage pause, until SIGTERM or SIGINT; then it finishes the requests in flight (up to 10 s; what is left stays queued), closes and exits 0. A Redis that refuses the credentials or does not answer within ${CONNECT_TIMEOUT_MS / 1000} s ends it with exit code 1. The package's log lines (pino JSON) go to stdout.`,
    )
    .requiredOption('--redis <url>', 'the Redis of the store, e.g. redis://127.0.0.1:6379')
    .option('--prefix <prefix>', `the store's key prefix (default: ${REDIS_STORE_DEFAULTS.prefix})`)
    .option('--endpoint <url>', `the API endpoint (default: ${DEFAULTS.endpoint})`)
    .option('--json', 'print JSON lines: "started", then "stopped" with what was sent')
    .addHelpText(
      'after',
      `
Example:
  $ ${API_KEY_ENV}=… express-transactionale worker --redis redis://127.0.0.1:6379`,
    )
    .action((flags: WorkerFlags) => run(flags.json, (output) => work(flags, output)))
}

async function work(flags: WorkerFlags, output: Output): Promise<void> {
  const apiKey = output.io.env[API_KEY_ENV]
  if (apiKey === undefined) throw usageError(MISSING_API_KEY)
  const stopped = untilStopped()
  const worker = asUsageError('the worker cannot start', OPTION_SOURCES, () =>
    runWorker({
      apiKey,
      connection: flags.redis,
      ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
      ...(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint }),
      // Written as they come (pino buffers by default): none lands after the command's last line.
      logger: pino(pino.destination({ dest: 1, sync: true })),
    }),
  )
  const redis = maskRedisUrl(flags.redis)
  const prefix = flags.prefix ?? REDIS_STORE_DEFAULTS.prefix
  const endpoint = flags.endpoint ?? DEFAULTS.endpoint
  const connected = await Promise.race([
    worker.connected({ timeoutMs: CONNECT_TIMEOUT_MS }).then(
      () => undefined,
      (error: Error) => error,
    ),
    stopped,
  ])
  if (connected instanceof Error)
    await fail(worker, `cannot use Redis at ${redis} (prefix ${prefix}): ${connected.message}`)
  output.line(`Worker delivering from ${redis} (prefix ${prefix}) to ${endpoint}. Ctrl+C or SIGTERM stops it.`)
  output.data({ event: 'started', redis, prefix, endpoint, pid: process.pid })

  const signal = await stopped
  const summary = await worker.close()
  output.line(
    `${signal}: closed; sent ${summary.sent}, failed ${summary.failed}, left queued ${summary.persisted + summary.pending}.`,
  )
  output.data({ event: 'stopped', signal, ...summary })
}

/** Closes the worker (what it holds stays queued) and ends the command with exit code 1. */
async function fail(worker: TouchpointWorker, message: string): Promise<never> {
  await worker.close({ timeoutMs: 0 })
  throw new CliError(EXIT.failed, message)
}
