#!/usr/bin/env node
/**
 * The `express-transactionale` command (the package's `bin`): runs the program on the process's
 * arguments and streams, and exits with its code once everything is written.
 */
import { printable } from './output'
import { main } from './program'

// `express-transactionale … | head`: a closed pipe ends the output, not with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw error
})

main(process.argv, process).then(
  (code) => {
    process.exitCode = code
    // The process ends when its output is written and nothing is left open; should a connection
    // that failed linger (an unreachable Redis), it ends anyway, shortly after.
    setTimeout(() => process.exit(code), 2000).unref()
  },
  (error: unknown) => {
    const text = (error as Error | undefined)?.stack ?? String(error)
    // Line by line: the stack's own line breaks stay, any other character a terminal acts on is escaped.
    process.stderr.write(`express-transactionale: unexpected error: ${text.split('\n').map(printable).join('\n')}\n`)
    process.exitCode = 1
  },
)
