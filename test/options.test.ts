import { CONFIG_ERROR_CODES, TouchpointConfigError, transactionaleTouchpoint, type Options } from '../src'
import { resolveOptions } from '../src/options'

const valid = { apiKey: 'key-123', route: '/checkout' }

function problemsOf(options: unknown): { option: string; code: string; message: string }[] {
  try {
    resolveOptions(options)
  } catch (error) {
    expect(error).toBeInstanceOf(TouchpointConfigError)
    return [...(error as TouchpointConfigError).problems]
  }
  throw new Error('expected a TouchpointConfigError')
}

describe('options', () => {
  test('valid options resolve with every default applied', () => {
    const resolved = resolveOptions(valid)
    expect(resolved).toMatchObject({
      apiKey: 'key-123',
      route: ['/checkout'],
      methods: ['POST'],
      endpoint: 'https://www.transactionale.com/api/v1/transaction',
      timeoutMs: 10_000,
      enabled: true,
      dryRun: false,
      logPersonalData: false,
      country: undefined,
      queue: { maxSize: 10_000, concurrency: 'auto', maxConcurrency: 256 },
      mapperTimeoutMs: 10_000,
      retry: { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 },
      dedupe: { windowMs: 86_400_000, maxEntries: 100_000 },
      hooks: {},
    })
    expect(resolved.isSuccess(204)).toBe(true)
    expect(resolved.isSuccess(302)).toBe(false)
  })

  test('the factory throws at once, listing every problem with its code', () => {
    let thrown: unknown
    try {
      transactionaleTouchpoint({ apiKey: '', route: 42, timeOut: 5 } as unknown as Options)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TouchpointConfigError)
    const error = thrown as TouchpointConfigError
    expect(error.problems.map((p) => p.code).sort()).toEqual(
      ['ERR_TOUCHPOINT_API_KEY', 'ERR_TOUCHPOINT_ROUTE', 'ERR_TOUCHPOINT_UNKNOWN_OPTION'].sort(),
    )
    expect(error.code).toBe(error.problems[0]?.code)
    expect(error.message).toContain('3 configuration problems')
  })

  test.each<[string, unknown, string, RegExp]>([
    ['not an object', 'key', CONFIG_ERROR_CODES.options, /pass an object/],
    ['missing apiKey', { route: '/checkout' }, CONFIG_ERROR_CODES.apiKey, /missing or empty/],
    ['blank apiKey', { ...valid, apiKey: '   ' }, CONFIG_ERROR_CODES.apiKey, /missing or empty/],
    ['apiKey with a newline', { ...valid, apiKey: 'abc\r\nX-Evil: 1' }, CONFIG_ERROR_CODES.apiKey, /whitespace/],
    ['apiKey with a space', { ...valid, apiKey: 'abc def' }, CONFIG_ERROR_CODES.apiKey, /whitespace/],
    ['missing route', { apiKey: 'k' }, CONFIG_ERROR_CODES.route, /missing/],
    ['empty route array', { ...valid, route: [] }, CONFIG_ERROR_CODES.route, /missing/],
    ['route not starting with /', { ...valid, route: 'checkout' }, CONFIG_ERROR_CODES.route, /start with/],
    ['malformed route', { ...valid, route: ['/ok', '/orders/:'] }, CONFIG_ERROR_CODES.route, /malformed/],
    ['route of a wrong type', { ...valid, route: 42 }, CONFIG_ERROR_CODES.route, /path string or a RegExp/],
    ['empty methods', { ...valid, methods: [] }, CONFIG_ERROR_CODES.methods, /non-empty array/],
    ['bad method', { ...valid, methods: ['PO ST'] }, CONFIG_ERROR_CODES.methods, /HTTP method/],
    ['mapper not a function', { ...valid, mapper: {} }, CONFIG_ERROR_CODES.mapper, /must be a function/],
    ['isSuccess not a function', { ...valid, isSuccess: 200 }, CONFIG_ERROR_CODES.isSuccess, /function/],
    ['http endpoint', { ...valid, endpoint: 'http://api.example.com/x' }, CONFIG_ERROR_CODES.endpoint, /loopback/],
    ['not a URL', { ...valid, endpoint: 'transactionale' }, CONFIG_ERROR_CODES.endpoint, /not a valid URL/],
    ['ftp endpoint', { ...valid, endpoint: 'ftp://127.0.0.1/x' }, CONFIG_ERROR_CODES.endpoint, /not supported/],
    ['credentials in URL', { ...valid, endpoint: 'https://u:p@x.it/' }, CONFIG_ERROR_CODES.endpoint, /credentials/],
    ['timeout 0', { ...valid, timeoutMs: 0 }, CONFIG_ERROR_CODES.timeoutMs, /from 1 to 600000/],
    ['timeout as string', { ...valid, timeoutMs: '10s' }, CONFIG_ERROR_CODES.timeoutMs, /whole number/],
    ['logger without methods', { ...valid, logger: console }, CONFIG_ERROR_CODES.logger, /pino logger/],
    ['enabled as string', { ...valid, enabled: 'yes' }, CONFIG_ERROR_CODES.enabled, /boolean/],
    ['dryRun as number', { ...valid, dryRun: 1 }, CONFIG_ERROR_CODES.dryRun, /boolean/],
    ['logPersonalData as string', { ...valid, logPersonalData: 'no' }, CONFIG_ERROR_CODES.logPersonalData, /boolean/],
    ['unknown country', { ...valid, country: 'Atlantis' }, CONFIG_ERROR_CODES.country, /not a known country/],
    ['country not a string', { ...valid, country: 39 }, CONFIG_ERROR_CODES.country, /not a known country/],
    ['queue not an object', { ...valid, queue: 5 }, CONFIG_ERROR_CODES.queue, /must be an object/],
    ['queue.maxSize 0', { ...valid, queue: { maxSize: 0 } }, CONFIG_ERROR_CODES.queue, /whole number from 1/],
    ['queue.concurrency 1.5', { ...valid, queue: { concurrency: 1.5 } }, CONFIG_ERROR_CODES.queue, /whole number/],
    [
      'queue.concurrency "fast"',
      { ...valid, queue: { concurrency: 'fast' } },
      CONFIG_ERROR_CODES.queue,
      /whole number/,
    ],
    ['queue.maxConcurrency 0', { ...valid, queue: { maxConcurrency: 0 } }, CONFIG_ERROR_CODES.queue, /from 1 to 1024/],
    ['mapperTimeoutMs 0', { ...valid, mapperTimeoutMs: 0 }, CONFIG_ERROR_CODES.mapperTimeoutMs, /from 1 to 3600000/],
    [
      'dedupe.key "sku"',
      { ...valid, dedupe: { key: 'sku' } },
      CONFIG_ERROR_CODES.dedupe,
      /'orderId', 'email' or a function/,
    ],
    ['store {}', { ...valid, store: {} }, CONFIG_ERROR_CODES.store, /memoryStore\(\)/],
    ['waitUntil 1', { ...valid, waitUntil: 1 }, CONFIG_ERROR_CODES.waitUntil, /must be a function/],
    ['queue.size typo', { ...valid, queue: { size: 5 } }, CONFIG_ERROR_CODES.queue, /did you mean "maxSize"/],
    ['retry.maxAttempts 0', { ...valid, retry: { maxAttempts: 0 } }, CONFIG_ERROR_CODES.retry, /from 1 to 100/],
    [
      'retry base > max',
      { ...valid, retry: { baseDelayMs: 5000, maxDelayMs: 1000 } },
      CONFIG_ERROR_CODES.retry,
      /not be larger/,
    ],
    ['dedupe.windowMs negative', { ...valid, dedupe: { windowMs: -1 } }, CONFIG_ERROR_CODES.dedupe, /whole number/],
    ['hooks not an object', { ...valid, hooks: () => undefined }, CONFIG_ERROR_CODES.hooks, /object of callbacks/],
    ['hook not a function', { ...valid, hooks: { onSent: 'log' } }, CONFIG_ERROR_CODES.hooks, /must be a function/],
    ['hook typo', { ...valid, hooks: { onSend: () => undefined } }, CONFIG_ERROR_CODES.hooks, /did you mean "onSent"/],
  ])('%s → its own code and a fix', (_name, options, code, message) => {
    const problems = problemsOf(options)
    expect(problems).toHaveLength(1)
    expect(problems[0]?.code).toBe(code)
    expect(problems[0]?.message).toMatch(message)
  })

  test('the API key never appears in a config error', () => {
    const problems = problemsOf({ ...valid, apiKey: 'secret key', endpoint: 'http://example.com' })
    expect(JSON.stringify(problems)).not.toContain('secret')
  })

  test.each([
    ['apikey', 'apiKey'],
    ['routes', 'route'],
    ['method', 'methods'],
    ['timeout', 'timeoutMs'],
    ['dryrun', 'dryRun'],
  ])('unknown option %s suggests %s', (key, hint) => {
    const problems = problemsOf({ ...valid, [key]: 1 })
    const unknown = problems.find((p) => p.code === CONFIG_ERROR_CODES.unknown)
    expect(unknown?.option).toBe(key)
    expect(unknown?.message).toContain(`did you mean "${hint}"?`)
  })

  test('a far-off unknown option gets no hint', () => {
    const problems = problemsOf({ ...valid, zzzzzzzzzz: 1 })
    expect(problems[0]?.message).not.toContain('did you mean')
  })

  test.each(['http://127.0.0.1:8080/api', 'http://localhost/x', 'http://[::1]:9/x', 'https://api.example.com/v1'])(
    'endpoint %s is accepted',
    (endpoint) => {
      expect(resolveOptions({ ...valid, endpoint }).endpoint).toBe(endpoint)
    },
  )

  test('nested options keep the defaults of the fields not given', () => {
    const resolved = resolveOptions({ ...valid, queue: { concurrency: 2 }, retry: { maxAttempts: 3 } })
    expect(resolved.queue).toEqual({ maxSize: 10_000, concurrency: 2, maxConcurrency: 256 })
    expect(resolved.retry).toEqual({ maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 })
  })

  test('methods are upper-cased and the country option is normalised', () => {
    const resolved = resolveOptions({ ...valid, methods: ['post', 'Put'], country: 'Italia' })
    expect(resolved.methods).toEqual(['POST', 'PUT'])
    expect(resolved.country).toBe('IT')
  })
})
