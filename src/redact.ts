/**
 * Secrets out of what is shown to people: a Redis connection string with its passwords masked, in
 * every form ioredis reads a password from. Plain string work, so it loads neither ioredis nor
 * bullmq and never throws, whatever the string.
 */

const MASK = '***'

/**
 * Query parameters that carry a secret. ioredis copies every query parameter into its options
 * (`?password=`, and so `?sentinelPassword=` too); anything named like a secret is masked.
 */
const SECRET_PARAMETER = /pass|secret|token/i

/** A query parameter's name as ioredis reads it (URLSearchParams: `+` is a space, `%xx` decoded). */
function parameterName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

/**
 * Marks, in `hidden`, what follows the first secret query parameter's `=` (of `text`'s query, after
 * its first `?`), to the end: written raw, a password may hold `&` (ioredis would then read only its
 * first piece as the password, but the rest is a piece of the secret all the same).
 */
function markSecretParameters(text: string, hidden: Uint8Array): void {
  const query = text.indexOf('?')
  if (query === -1) return
  let start = query + 1
  for (const parameter of text.slice(start).split('&')) {
    const equals = parameter.indexOf('=')
    if (equals !== -1 && SECRET_PARAMETER.test(parameterName(parameter.slice(0, equals)))) {
      hidden.fill(1, start + equals + 1)
      return
    }
    start += parameter.length + 1
  }
}

/**
 * A Redis connection string as it may be shown: `redis://user:***@host:6379/0`. Masks the password of
 * the user-info (`redis://user:pass@host`, `redis://:pass@host`, `rediss://…`), the whole user-info
 * when it has no `:` (some clients read `redis://secret@host` as a password), and the value of
 * `password` (or any parameter named like a secret: `sentinelPassword`, `token`) in the query, and
 * all that follows it, also of a Unix socket path (`/tmp/redis.sock?password=…`) or a URL without a
 * scheme.
 *
 * A string no URL parser would read is masked too, in both readings: the user-info runs to the last
 * `@` (a password may hold `@`, `/`, `?` or `#`, where a parser would stop), and a secret query value
 * to the end (it may hold `@` or `&`); whatever either reading calls a secret is masked, even when
 * that hides the host as well.
 */
export function maskRedisUrl(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url)?.[0].length ?? (url.startsWith('//') ? 2 : 0)
  const rest = url.slice(scheme)
  const hidden = new Uint8Array(rest.length)
  const at = rest.lastIndexOf('@')
  if (at !== -1) {
    const colon = rest.slice(0, at).indexOf(':')
    hidden.fill(1, colon + 1, at)
  }
  markSecretParameters(rest, hidden)
  let shown = url.slice(0, scheme)
  for (let i = 0; i < rest.length; i++) {
    if (hidden[i] === 0) shown += rest[i]
    else if (i === 0 || hidden[i - 1] === 0) shown += MASK
  }
  return shown
}
