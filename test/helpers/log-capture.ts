// A real pino logger writing into memory, with a way to wait for a line instead of sleeping.
import { EventEmitter } from 'node:events'
import pino from 'pino'

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface LogCapture {
  logger: pino.Logger
  lines: LogLine[]
  /** Everything written, as text, for "never contains" assertions. */
  text(): string
  /** Resolves with the first line (already written or to come) whose msg contains `fragment`. */
  waitFor(fragment: string): Promise<LogLine>
}

export function captureLogs(): LogCapture {
  const lines: LogLine[] = []
  const raw: string[] = []
  const events = new EventEmitter()
  const logger = pino(
    { level: 'debug' },
    {
      write(chunk: string) {
        raw.push(chunk)
        const line = JSON.parse(chunk) as LogLine
        lines.push(line)
        events.emit('line', line)
      },
    },
  )
  return {
    logger,
    lines,
    text: () => raw.join(''),
    waitFor: (fragment) =>
      new Promise((resolve) => {
        const found = lines.find((l) => l.msg.includes(fragment))
        if (found) return resolve(found)
        const onLine = (line: LogLine): void => {
          if (!line.msg.includes(fragment)) return
          events.off('line', onLine)
          resolve(line)
        }
        events.on('line', onLine)
      }),
  }
}
