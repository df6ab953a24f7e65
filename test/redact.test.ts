// Issue 18: maskRedisUrl hides the password of a Redis connection string in every form ioredis reads
// one from — user-info with or without a user name, redis:// and rediss://, `?password=` and
// `&password=`, a Unix socket path with a query — and also of strings no URL parser reads.
import fc from 'fast-check'
import { maskRedisUrl } from '../src/redact'

describe('maskRedisUrl', () => {
  test.each([
    ['redis://user:pass@host:6379/0', 'redis://user:***@host:6379/0'],
    ['redis://:pass@host', 'redis://:***@host'],
    ['rediss://default:s3cr3t@cache.example.com:6380', 'rediss://default:***@cache.example.com:6380'],
    ['redis://host:6379/?password=X', 'redis://host:6379/?password=***'],
    ['redis://host:6379/?db=1&password=X&family=4', 'redis://host:6379/?db=1&password=***'],
    ['redis://host:6379?password=X', 'redis://host:6379?password=***'],
    ['redis://user:pass@host/0?sentinelPassword=sp', 'redis://user:***@host/0?sentinelPassword=***'],
    ['redis://host/?pass%77ord=encoded', 'redis://host/?pass%77ord=***'],
    ['redis://secret@host', 'redis://***@host'],
    ['redis://:p@ss@host', 'redis://:***@host'],
    ['redis://:pa/ss@host', 'redis://:***@host'],
    ['redis://:pa#ss@host', 'redis://:***@host'],
    ['/tmp/redis.sock?password=x', '/tmp/redis.sock?password=***'],
    ['host:6379?password=y', 'host:6379?password=***'],
    ['//:z@host', '//:***@host'],
    ['redis://localhost:6379', 'redis://localhost:6379'],
    ['redis://localhost:6379/2?family=6', 'redis://localhost:6379/2?family=6'],
    ['', ''],
  ])('%j → %j', (url, shown) => {
    expect(maskRedisUrl(url)).toBe(shown)
  })

  test('a password that no reading can tell from the query or the host is masked in both readings', () => {
    // A URL parser stops the user-info at `?`; ioredis would refuse this; it is masked all the same.
    expect(maskRedisUrl('redis://:pa?password=ss@host')).toBe('redis://:***')
    // An `@` inside a query value: the whole value is masked, and what follows the `@` with it.
    expect(maskRedisUrl('redis://host/?password=a@b')).toBe('redis://***')
    // A raw `&` in a query password: the rest of the query may be the rest of the password.
    expect(maskRedisUrl('redis://host/?password=pa&ss=x')).toBe('redis://host/?password=***')
  })

  /** A password: a marker at each end (to catch a leak of either half), anything in between. */
  const password = fc
    .string({ unit: fc.constantFrom(...'abcXYZ019:@/?#&=%+ !$*'.split(''), '\u00e9'), maxLength: 12 })
    .map((middle) => `PW${middle}QX`)
  const forms: ReadonlyArray<(secret: string, encoded: string) => string> = [
    (_s, e) => `redis://user:${e}@redis.internal:6379/0`,
    (_s, e) => `redis://:${e}@redis.internal:6379`,
    (_s, e) => `rediss://default:${e}@redis.internal:6380/1?family=4`,
    (s) => `redis://user:${s}@redis.internal:6379/0`,
    (s) => `redis://:${s}@redis.internal`,
    (_s, e) => `redis://redis.internal:6379/?password=${e}`,
    (_s, e) => `redis://redis.internal:6379/0?db=1&password=${e}&family=6`,
    (s) => `redis://redis.internal:6379/?password=${s}`,
    (_s, e) => `/var/run/redis.sock?db=2&password=${e}`,
    (_s, e) => `redis://${e}@redis.internal`,
  ]

  test('property: in every form, neither end of the password is ever shown, percent-encoded or raw', () => {
    fc.assert(
      fc.property(password, fc.integer({ min: 0, max: forms.length - 1 }), (secret, form) => {
        const url = (forms[form] as (s: string, e: string) => string)(secret, encodeURIComponent(secret))
        const shown = maskRedisUrl(url)
        expect(shown).not.toContain('PW')
        expect(shown).not.toContain('QX')
        // The scheme is kept, so the reader still sees what kind of connection it is.
        expect(shown.slice(0, 8)).toBe(url.slice(0, 8))
      }),
      { numRuns: 2000, seed: 18 },
    )
  })

  test('a user name and the host stay readable for the usual forms', () => {
    expect(maskRedisUrl('rediss://app:pw@eu-redis.example.net:6380/3')).toBe(
      'rediss://app:***@eu-redis.example.net:6380/3',
    )
  })
})
