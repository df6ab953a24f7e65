/**
 * `send`: one touchpoint, validated by the middleware's own validation (`validateCustomer`,
 * `toWirePayload`, the `apiKey` / `endpoint` / `timeoutMs` checks of `resolveOptions`) and sent by
 * its own HTTP client, printing the request as it goes on the wire (key masked) and the answer.
 */
import { STATUS_CODES } from 'node:http'
import { Command, Option } from 'commander'
import { TouchpointConfigError } from '../errors'
import { createHttpClient, requestHeaders, type HttpResult } from '../http-client'
import { DEFAULTS, resolveOptions } from '../options'
import { toWirePayload, validateCustomer, type WirePayload, type WIRE_NAMES } from '../payload'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version'
import {
  API_KEY_ENV,
  CliError,
  configProblems,
  EXIT,
  maskKey,
  MISSING_API_KEY,
  usageError,
  wholeNumber,
  type Output,
  type Run,
} from './output'

type Field = keyof typeof WIRE_NAMES

/**
 * One flag per field of the wire body, named after the customer field (`zipCode` → `--zip-code`,
 * which commander reads back as `zipCode`). The compiler checks that every field has one.
 */
const FIELD_FLAGS = {
  email: ['<address>', "the customer's email address (required)"],
  firstName: ['<name>', "the customer's first name (required)"],
  country: ['<country>', 'ISO 3166-1 alpha-2 or alpha-3 code, or a country name such as "Germania" (required)'],
  zipCode: ['<zip>', 'zip / postal code'],
  lastName: ['<name>', "the customer's surname"],
  transactionValue: ['<amount>', 'order value without currency, e.g. 59.90'],
  transactionCurrency: ['<code>', 'ISO 4217 currency code, e.g. EUR'],
  nationalIdentificationNumber: ['<id>', 'national identification number, e.g. an Italian codice fiscale'],
  birthYear: ['<year>', 'four-digit birth year, e.g. 1976'],
  gender: ['<M|F>', 'M or F'],
  phone: ['<phone>', 'phone number'],
} as const satisfies Record<Field, readonly [string, string]>

const FIELDS = Object.keys(FIELD_FLAGS) as Field[]

const flagOf = (field: string): string => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

/** The option of `resolveOptions` behind each thing the command line sets. */
const OPTION_SOURCES: Record<string, string> = {
  apiKey: API_KEY_ENV,
  endpoint: '--endpoint',
  timeoutMs: '--timeout-ms',
}

interface SendFlags extends Partial<Record<Field, string>> {
  endpoint?: string
  timeoutMs?: number
  dryRun?: boolean
  json?: boolean
}

/** The request as it goes on the wire, with the key masked. */
interface ShownRequest {
  readonly method: 'POST'
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: WirePayload
}

export function sendCommand(run: Run): Command {
  const command = new Command('send')
    .summary('send one touchpoint to the API, validated as the middleware validates it')
    .description(
      `Sends one touchpoint with the API key from ${API_KEY_ENV}, validated exactly as the middleware validates a mapper's result, and prints the request as sent (key masked) and the API's answer.

Exit code 0 only when the API answered 2xx; 1 when it answered otherwise or not at all; 2 when the input is not valid (nothing is sent).`,
    )
  for (const field of FIELDS) {
    const [value, help] = FIELD_FLAGS[field]
    command.option(`${flagOf(field)} ${value}`, help)
  }
  command
    .option('--endpoint <url>', `the API endpoint (default: ${DEFAULTS.endpoint})`)
    .addOption(
      new Option('--timeout-ms <ms>', `deadline of the request (default: ${DEFAULTS.timeoutMs})`).argParser(
        wholeNumber(0, Number.MAX_SAFE_INTEGER),
      ),
    )
    .option('--dry-run', 'print the request without sending it (no API key needed)')
    .option('--json', 'print the request and the answer as one JSON document')
    .addHelpText(
      'after',
      `
Example:
  $ ${API_KEY_ENV}=… express-transactionale send --email anna@example.com --first-name Anna --country Germania`,
    )
    .action((flags: SendFlags) => run(flags.json, (output) => send(flags, output)))
  return command
}

async function send(flags: SendFlags, output: Output): Promise<void> {
  const apiKey = output.io.env[API_KEY_ENV]
  const { body, problems } = validateInput(flags)
  const settings = validateSettings(apiKey, flags, problems)
  if (problems.length > 0) {
    throw usageError(
      `nothing was sent: ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}`,
      problems,
    )
  }
  const userAgent = `${PACKAGE_NAME}/${PACKAGE_VERSION} (node ${process.version})`
  const request: ShownRequest = {
    method: 'POST',
    url: settings.endpoint,
    // The headers the HTTP client sets on every request, in its order.
    headers: requestHeaders(apiKey === undefined ? '(not set)' : maskKey(apiKey), userAgent),
    body,
  }
  const text = JSON.stringify(body)
  printRequest(output, request, text)

  if (flags.dryRun === true || apiKey === undefined) {
    output.line('(dry run: nothing was sent)')
    output.data({ ok: true, dryRun: true, request })
    return
  }
  const client = createHttpClient({
    endpoint: settings.endpoint,
    apiKey,
    timeoutMs: settings.timeoutMs,
    userAgent,
    maxSockets: 1,
  })
  const started = performance.now()
  let result: HttpResult
  try {
    result = await client.send(text)
  } finally {
    client.destroy()
  }
  const ms = Math.round(performance.now() - started)
  const ok = result.kind === 'response' && result.status >= 200 && result.status < 300
  if (result.kind === 'response') {
    output.line(`← ${statusLine(result.status)} in ${ms} ms`)
    if (result.retryAfter !== undefined) output.line(`  Retry-After: ${result.retryAfter}`)
    output.data({
      ok,
      dryRun: false,
      request,
      response: {
        status: result.status,
        ...(result.retryAfter === undefined ? {} : { retryAfter: result.retryAfter }),
      },
      durationMs: ms,
    })
  } else {
    output.line(`← no answer: ${result.code} after ${ms} ms`)
    output.data({ ok, dryRun: false, request, error: { code: result.code }, durationMs: ms })
  }
  if (!ok) throw new CliError(EXIT.failed, failure(result), [], true)
}

/** The wire body, or the problems of the customer's fields, named by their flags. */
function validateInput(flags: SendFlags): { body: WirePayload; problems: string[] } {
  const input: Partial<Record<Field, string>> = {}
  for (const field of FIELDS) {
    const value = flags[field]
    if (value !== undefined) input[field] = value
  }
  const result = validateCustomer(input)
  if (!result.ok) {
    const problems = result.reasons.map((reason) =>
      reason.replace(/^(\w+):/, (_, field: string) => `${flagOf(field)}:`),
    )
    return { body: { country: '', email: '', first_name: '' }, problems }
  }
  // The middleware leaves an invalid optional field out of the request; a value typed on the command
  // line was meant to be sent, so here it is an error rather than a silent omission.
  const problems = result.dropped.map(
    (field) => `${flagOf(field)}: not valid (the middleware would leave it out of the touchpoint)`,
  )
  return { body: toWirePayload(result.customer), problems }
}

/** The endpoint and timeout as the middleware resolves them; their problems and the key's go in `problems`. */
function validateSettings(
  apiKey: string | undefined,
  flags: SendFlags,
  problems: string[],
): { endpoint: string; timeoutMs: number } {
  const options: Record<string, unknown> = { apiKey, route: '/x' }
  if (flags.endpoint !== undefined) options.endpoint = flags.endpoint
  if (flags.timeoutMs !== undefined) options.timeoutMs = flags.timeoutMs
  try {
    const resolved = resolveOptions(options)
    return { endpoint: resolved.endpoint, timeoutMs: resolved.timeoutMs }
  } catch (error) {
    if (!(error instanceof TouchpointConfigError)) throw error
    for (const problem of error.problems) {
      if (problem.option === 'apiKey' && apiKey === undefined) {
        if (flags.dryRun !== true) {
          problems.push(`${MISSING_API_KEY}, or use --dry-run`)
        }
        continue
      }
      problems.push(...configProblems([problem], OPTION_SOURCES))
    }
  }
  // Reached with problems (reported), or for a dry run without a key: the values as given.
  return { endpoint: flags.endpoint ?? DEFAULTS.endpoint, timeoutMs: flags.timeoutMs ?? DEFAULTS.timeoutMs }
}

function printRequest(output: Output, request: ShownRequest, body: string): void {
  output.line(`→ ${request.method} ${request.url}`)
  for (const [name, value] of Object.entries(request.headers)) output.line(`  ${name}: ${value}`)
  output.line(`  ${body}`)
}

/** Why the send failed, and what to do about it. */
function failure(result: HttpResult): string {
  if (result.kind === 'network') {
    return `the API could not be reached (${result.code}): check --endpoint and the network`
  }
  const { status } = result
  const answer = `the API answered ${statusLine(status)}`
  if (status === 401 || status === 403) return `${answer}: check the key in ${API_KEY_ENV}`
  if (status === 429 || status === 503) {
    return `${answer}: try again ${result.retryAfter === undefined ? 'later' : `after ${result.retryAfter} (Retry-After)`}`
  }
  if (status >= 400 && status < 500) return `${answer}: the touchpoint was refused`
  return `${answer}: the touchpoint was not accepted`
}

/** `503 Service Unavailable`, or the bare number for a status Node has no text for. */
function statusLine(status: number): string {
  const text = STATUS_CODES[status]
  return text === undefined ? String(status) : `${status} ${text}`
}
