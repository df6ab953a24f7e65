/**
 * `fake-api`: the package's fake Transactionale API (`express-transactionale/testing`) as its own
 * process, printing each touchpoint it receives — a local rehearsal for a shop's own app, in the
 * manner of `stripe listen`.
 */
import { Command, Option } from 'commander'
import { startFakeTransactionaleApi, type FakeTransactionaleApi, type RecordedRequest } from '../testing/fake-api'
import { CliError, EXIT, maskKey, untilStopped, wholeNumber, type Output, type Run } from './output'

interface FakeApiFlags {
  port: number
  apiKey?: string
  latencyMs: number
  status: number
  json?: boolean
}

export function fakeApiCommand(run: Run): Command {
  return new Command('fake-api')
    .summary('run a local fake of the Transactionale API and print each touchpoint it receives')
    .description(
      "Runs the package's fake Transactionale API on 127.0.0.1 and prints one line per request it receives, until SIGINT (Ctrl+C) or SIGTERM; then it closes and exits 0. Point the middleware's endpoint option (or send --endpoint) at the URL it prints.",
    )
    .addOption(
      new Option('--port <port>', 'port to listen on (0: any free port)')
        .default(4599)
        .argParser(wholeNumber(0, 65535)),
    )
    .option('--api-key <key>', 'answer 401 to requests without this X-Authorization (default: accept any key)')
    .addOption(
      new Option('--latency-ms <ms>', 'wait this long before each answer')
        .default(0)
        .argParser(wholeNumber(0, 600_000)),
    )
    .addOption(
      new Option('--status <code>', 'the status of every answer').default(200).argParser(wholeNumber(200, 599)),
    )
    .option('--json', 'print JSON lines: "listening", one "request" per touchpoint, "closed"')
    .addHelpText(
      'after',
      `
Example:
  $ express-transactionale fake-api --port 4599 --status 503`,
    )
    .action((flags: FakeApiFlags) => run(flags.json, (output) => serve(flags, output)))
}

async function serve(flags: FakeApiFlags, output: Output): Promise<void> {
  let fake: FakeTransactionaleApi
  try {
    fake = await startFakeTransactionaleApi({
      port: flags.port,
      latencyMs: flags.latencyMs,
      defaultReply: { status: flags.status },
      ...(flags.apiKey === undefined ? {} : { apiKey: flags.apiKey }),
    })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE')
      throw new CliError(EXIT.failed, `port ${flags.port} is in use: choose another with --port`)
    if (code === 'EACCES')
      throw new CliError(EXIT.failed, `port ${flags.port} needs privileges: choose another with --port`)
    throw error
  }
  const stopped = untilStopped()
  let received = 0
  fake.events.on('reply', (request: RecordedRequest, status: number) => {
    received++
    printRequest(output, request, status)
  })
  output.line(`Fake Transactionale API listening on ${fake.endpoint}`)
  output.line(
    flags.apiKey === undefined
      ? 'Any API key is accepted. Press Ctrl+C to stop.'
      : `Requests without the key ${maskKey(flags.apiKey)} get 401. Press Ctrl+C to stop.`,
  )
  output.data({ event: 'listening', endpoint: fake.endpoint, port: fake.port })

  const signal = await stopped
  await fake.close()
  output.line(`${signal}: closed after ${received} request${received === 1 ? '' : 's'}.`)
  output.data({ event: 'closed', signal, requests: received })
}

function printRequest(output: Output, request: RecordedRequest, status: number): void {
  const header = request.headers['x-authorization']
  const key = typeof header === 'string' ? maskKey(header) : null
  const at = new Date(request.receivedAt).toISOString()
  output.line(`${at.slice(11, 23)}  ${request.method} ${request.path} → ${status}  ${oneLine(request.rawBody)}`)
  output.data({
    event: 'request',
    at,
    method: request.method,
    path: request.path,
    status,
    apiKey: key,
    body: request.body === undefined ? request.rawBody : request.body,
  })
}

/** The body on one line, cut to a readable length (a touchpoint is far shorter). */
function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ')
  return flat.length > 2000 ? `${flat.slice(0, 2000)}… (${text.length} characters)` : flat
}
