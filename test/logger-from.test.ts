// loggerFrom(): winston, bunyan, NestJS's Logger and console print the package's lines as readable
// lines with the same fields; given directly, they are refused with an error naming loggerFrom.
import { Console } from 'node:console'
import { PassThrough } from 'node:stream'
import request from 'supertest'
import express from 'express'
import winston from 'winston'
import bunyan from 'bunyan'
import { Logger, type LoggerService } from '@nestjs/common'
import {
  loggerFrom,
  transactionaleTouchpoint,
  TouchpointConfigError,
  type ForeignLogger,
  type TouchpointLogger,
} from '../src'
import { startFakeTransactionaleApi, type FakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs } from './helpers/log-capture'

/** One printed line as the test reads it back: level, message and fields. */
interface Printed {
  level: string
  msg: string
  fields: Record<string, unknown>
}

/** A stream that collects the text written to it. */
function textSink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  const chunks: string[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
  return { stream, text: () => chunks.join('') }
}

/** "message {json}" → message and fields (the format of the Nest and console adapters). */
function splitLine(text: string): { msg: string; fields: Record<string, unknown> } {
  const brace = text.indexOf(' {')
  if (brace === -1) return { msg: text, fields: {} }
  return { msg: text.slice(0, brace), fields: JSON.parse(text.slice(brace + 1)) as Record<string, unknown> }
}

interface Subject {
  logger: TouchpointLogger
  printed: () => Printed[]
  /** Every line as the person reading the logs sees it. */
  raw: () => string
}

const BUNYAN_LEVELS: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' }

/** A subject whose logger prints one JSON object a line to `sink`; `read` turns one object into its Printed. */
function jsonLinesSubject(
  logger: ForeignLogger,
  sink: ReturnType<typeof textSink>,
  read: (line: Record<string, unknown>) => Printed,
): Subject {
  return {
    logger: loggerFrom(logger),
    raw: sink.text,
    printed: () =>
      sink
        .text()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => read(JSON.parse(l) as Record<string, unknown>)),
  }
}

function winstonSubject(): Subject {
  const sink = textSink()
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: sink.stream })],
  })
  return jsonLinesSubject(logger, sink, ({ level, message, ...fields }) => ({
    level: String(level),
    msg: String(message),
    fields,
  }))
}

function bunyanSubject(): Subject {
  const sink = textSink()
  const logger = bunyan.createLogger({ name: 'shop', streams: [{ level: 'debug', stream: sink.stream }] })
  return jsonLinesSubject(
    logger,
    sink,
    ({ level, msg, name: _n, hostname: _h, pid: _p, time: _t, v: _v, ...fields }) => ({
      level: BUNYAN_LEVELS[Number(level)] ?? '?',
      msg: String(msg),
      fields,
    }),
  )
}

/** NestJS's Logger, as a controller would use it, printing through the app's LoggerService. */
function nestSubject(): Subject & { restore: () => void } {
  const lines: { level: string; text: string; context: unknown }[] = []
  const record =
    (level: string) =>
    (message: unknown, ...rest: unknown[]): void =>
      void lines.push({ level, text: String(message), context: rest[rest.length - 1] })
  const service: LoggerService = {
    log: record('info'),
    warn: record('warn'),
    error: record('error'),
    debug: record('debug'),
    verbose: record('verbose'),
  }
  Logger.overrideLogger(service)
  return {
    logger: loggerFrom(new Logger('Transactionale')),
    raw: () => lines.map((l) => `[${String(l.context)}] ${l.text}`).join('\n'),
    printed: () =>
      lines.map((l) => {
        expect(l.context).toBe('Transactionale')
        return { level: l.level, ...splitLine(l.text) }
      }),
    restore: () => void Logger.overrideLogger(true),
  }
}

function consoleSubject(): Subject {
  const out = textSink()
  const err = textSink()
  // A real Console, as `console` is, writing into memory: stdout for debug/info, stderr for warn/error.
  const target = new Console({ stdout: out.stream, stderr: err.stream })
  const levelled: string[] = []
  const logger = loggerFrom({
    debug: (text: string) => void (levelled.push(`debug ${text}`), target.debug(text)),
    info: (text: string) => void (levelled.push(`info ${text}`), target.info(text)),
    warn: (text: string) => void (levelled.push(`warn ${text}`), target.warn(text)),
    error: (text: string) => void (levelled.push(`error ${text}`), target.error(text)),
    log: (text: string) => target.log(text),
  })
  return {
    logger,
    raw: () => out.text() + err.text(),
    printed: () =>
      levelled.map((l) => {
        const space = l.indexOf(' ')
        return { level: l.slice(0, space), ...splitLine(l.slice(space + 1)) }
      }),
  }
}

describe('loggerFrom', () => {
  let fake: FakeTransactionaleApi
  beforeAll(async () => {
    fake = await startFakeTransactionaleApi()
  })
  afterAll(async () => {
    await fake.close()
  })

  /** Runs one valid order and one with a bad email through a shop logging to `logger`. */
  async function shopRun(logger: TouchpointLogger): Promise<void> {
    const touchpoint = transactionaleTouchpoint({ apiKey: 'k', route: '/checkout', endpoint: fake.endpoint, logger })
    const app = express()
    app.use(touchpoint)
    app.use(express.json())
    app.post('/checkout', (req, res) => {
      res.locals.transactionale = req.body as never
      res.status(201).json({ ok: true })
    })
    await request(app)
      .post('/checkout')
      .send({ email: 'not-an-email', firstName: 'Ada', country: 'IT', orderId: 'bad-1' })
      .expect(201)
    await request(app)
      .post('/checkout')
      .send({ email: 'ada@example.org', firstName: 'Ada', country: 'IT', orderId: 'ok-1' })
      .expect(201)
    await touchpoint.flush()
    await touchpoint.close()
  }

  /** The subject `make` builds, once the shop has run with its logger (and what it patched is restored). */
  const afterShopRun = async (make: () => Subject & { restore?: () => void }): Promise<Subject> => {
    const subject = make()
    try {
      await shopRun(subject.logger)
    } finally {
      subject.restore?.()
    }
    return subject
  }

  const subjects: [string, () => Subject & { restore?: () => void }][] = [
    ['winston', winstonSubject],
    ['bunyan', bunyanSubject],
    ["NestJS's Logger", nestSubject],
    ['console', consoleSubject],
  ]

  test.each(subjects)('%s: readable lines with the same message, level and fields as pino', async (name, make) => {
    const subject = await afterShopRun(make)
    const invalid = subject.printed().find((l) => l.msg === 'touchpoint not sent: invalid customer')
    expect(invalid).toEqual({
      level: 'warn',
      msg: 'touchpoint not sent: invalid customer',
      fields: expect.objectContaining({
        component: 'express-transactionale',
        orderId: 'bad-1',
        stage: 'validation',
        invalid: ['email: not a valid email address'],
      }) as unknown,
    })
    // Never "[object Object]", never the arguments the wrong way round.
    expect(subject.raw()).not.toContain('[object Object]')
    expect(subject.raw()).toContain('touchpoint not sent: invalid customer')
    // console passes on info and above by default; the others pass debug to the logger's own level.
    const sent = subject.printed().find((l) => l.msg === 'touchpoint sent')
    if (name === 'console') expect(sent).toBeUndefined()
    else expect(sent).toMatchObject({ level: 'debug', fields: expect.objectContaining({ orderId: 'ok-1' }) as unknown })
  })

  test("the fields are the same whichever logger prints them, and the same as pino's", async () => {
    const fieldsOf = async (make: () => Subject & { restore?: () => void }): Promise<string[]> => {
      const subject = await afterShopRun(make)
      const line = subject.printed().find((l) => l.msg === 'touchpoint not sent: invalid customer')
      return Object.keys(line?.fields ?? {}).sort()
    }
    // The reference: the package's own pino line, without pino's own fields.
    const pinoLogs = captureLogs()
    await shopRun(pinoLogs.logger)
    const reference = pinoLogs.lines.find((l) => l.msg === 'touchpoint not sent: invalid customer') ?? {
      level: 0,
      msg: '',
    }
    const { level: _l, msg: _m, time: _t, pid: _p, hostname: _h, ...pinoFields } = reference
    const expected = Object.keys(pinoFields).sort()
    expect(expected).toEqual(expect.arrayContaining(['component', 'invalid', 'orderId', 'stage']))
    for (const [, make] of subjects) expect(await fieldsOf(make)).toEqual(expected)
  })

  test('a Console given as it is: warnings on stderr, one line each, info on stdout', async () => {
    const out = textSink()
    const err = textSink()
    await shopRun(loggerFrom(new Console({ stdout: out.stream, stderr: err.stream })))
    const lines = err.text().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(splitLine(lines[0] ?? '')).toMatchObject({
      msg: 'touchpoint not sent: invalid customer',
      fields: { orderId: 'bad-1', stage: 'validation' },
    })
    expect(out.text()).not.toContain('touchpoint sent') // debug: below console's default level
  })

  test('console: loggerFrom(console, { level: "debug" }) passes debug lines on; a pino logger is returned as it is', () => {
    const adapted = loggerFrom(console, { level: 'debug' })
    expect(adapted.isLevelEnabled?.('debug')).toBe(true)
    expect(loggerFrom(console).isLevelEnabled?.('debug')).toBe(false)
    expect(loggerFrom(adapted)).toBe(adapted)
    const pinoLogger = captureLogs().logger
    expect(loggerFrom(pinoLogger)).toBe(pinoLogger)
  })

  test.each([
    [
      'winston',
      () => winston.createLogger({ transports: [new winston.transports.Stream({ stream: textSink().stream })] }),
    ],
    ['bunyan', () => bunyan.createLogger({ name: 'shop', streams: [{ stream: textSink().stream }] })],
    ["NestJS's Logger", () => new Logger('Transactionale')],
    ['console', () => console],
  ])('%s given directly is refused, and the error names loggerFrom', (_name, make) => {
    let thrown: unknown
    try {
      transactionaleTouchpoint({ apiKey: 'k', route: '/checkout', logger: make() as never })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TouchpointConfigError)
    expect((thrown as TouchpointConfigError).code).toBe('ERR_TOUCHPOINT_LOGGER')
    expect((thrown as Error).message).toContain('loggerFrom(yourLogger)')
  })

  test('something that is not a logger is refused by loggerFrom', () => {
    expect(() => loggerFrom({ warn: 1, error: 2 } as never)).toThrow(TouchpointConfigError)
  })
})
