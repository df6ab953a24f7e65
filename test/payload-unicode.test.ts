// Issue 18: invisible and look-alike characters never reach the API. An email or a first name with
// control or format characters, lone surrogates, noncharacters or line/paragraph separators (and an
// email with other space or invisible characters, a non-ASCII dot, or a local part or domain label
// in mixed scripts; a name without a visible letter) makes the order invalid, with a reason naming
// the field and the kind of character, never the value; a last name with them is left out. Real
// names and addresses — accents, apostrophes, hyphens, CJK, one-script IDN domains — always pass.
// Thousands of generated strings per field against validateCustomer, then a sample end to end
// through a real Express app and the package's fake API.
import fc from 'fast-check'
import request from 'supertest'
import { transactionaleTouchpoint, type InvalidEvent } from '../src'
import { validateCustomer } from '../src/payload'
import { startFakeTransactionaleApi } from '../src/testing/fake-api'
import { captureLogs } from './helpers/log-capture'
import { createShop, EXPRESS_VERSIONS } from './helpers/shop'

const RUNS_PER_FIELD = 3000

/** Every code point of a category, as the engine knows it (a surrogate as a lone code unit). */
function codePoints(pattern: RegExp, ranges: ReadonlyArray<readonly [number, number]> = [[0, 0x10ffff]]): string[] {
  const found: string[] = []
  for (const [from, to] of ranges) {
    for (let cp = from; cp <= to; cp++) {
      const char = String.fromCodePoint(cp)
      if (pattern.test(char)) found.push(char)
    }
  }
  return found
}

/** The characters each refusal is about, and the words of its reason. */
const CATEGORIES = {
  'control characters': codePoints(/\p{Cc}/u, [[0, 0xff]]),
  'lone surrogates': codePoints(/\p{Cs}/u, [[0xd800, 0xdfff]]),
  noncharacters: codePoints(/\p{Noncharacter_Code_Point}/u),
  'format characters': codePoints(/\p{Cf}/u),
  'line or paragraph separators': ['\u2028', '\u2029'],
} as const
type Kind = keyof typeof CATEGORIES

const KINDS = Object.keys(CATEGORIES) as Kind[]

/** Letters Unicode has but no one sees, and what else a name can hold without being a name. */
const FILLERS = ['\u3164', '\u115f', '\u1160', '\uffa0', '\u2800']
const NOT_LETTERS = [' ', '-', "'", '.', '1', '\u00a0', '\u3000']

const NAMES = [
  'Anna',
  'Zoë',
  'José',
  "D'Angelo",
  'O’Brien',
  'Jean-Luc',
  'Ñúñez',
  'Łukasz',
  'Þórdís',
  'İlkay',
  'Nguyễn',
  'Bjørn',
  'Åsa',
  'Françoise',
  'Müller-Lüdenscheidt',
  'St. John',
  'Σωκράτης',
  'Дмитрий',
  'Ілля',
  '山田',
  '太郎',
  'さくら',
  '김민준',
  'محمد',
  'דוד',
  'ნინო',
  'Արամ',
  'สมชาย',
  'अर्जुन',
  'Ōtani',
  'Chloé',
  'van der Berg',
]

const LOCAL_PARTS = [
  'anna',
  'mario.rossi',
  "o'brien",
  'jean-luc',
  'first_last',
  'user+tag',
  'zoë',
  'josé',
  '山田',
  'иван',
  'ελένη',
  'a1',
]
const DOMAINS = [
  'example.com',
  'mail.example.co.uk',
  'università.it',
  'bücher.de',
  'mañana.es',
  'münchen.de',
  'пример.рф',
  'почта.пример.рф',
  'пример.com',
  'παράδειγμα.gr',
  '日本語.jp',
  'ひらがな.jp',
  '例子.cn',
  '한국.kr',
  'xn--bcher-kva.de',
  'xn--e1afmkfd.xn--p1ai',
]

/** Latin letters and the Cyrillic / Greek letters drawn the same way. */
const LOOK_ALIKES: Record<string, string> = { a: 'а', e: 'е', o: 'о', p: 'р', c: 'с', x: 'х', i: 'і', y: 'у' }
const LATIN_LOCAL_PARTS = ['paypal', 'apple', 'mario.rossi', 'anna', 'peter', 'office']
const LATIN_LABELS = ['paypal', 'apple', 'example', 'poste', 'google', 'epicentro']

const name = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((parts) => parts.join(' '))
const email = fc.tuple(fc.constantFrom(...LOCAL_PARTS), fc.constantFrom(...DOMAINS)).map(([l, d]) => `${l}@${d}`)

/** `text` with 1–3 characters of one category inserted at `positions` (as fractions of its length). */
function inserted(text: string, chars: readonly string[], positions: readonly number[], inside = false): string {
  let out = text
  for (const [i, char] of chars.entries()) {
    const span = inside ? out.length - 1 : out.length + 1
    const at = (inside ? 1 : 0) + Math.floor((positions[i] ?? 0) * span)
    out = `${out.slice(0, at)}${char}${out.slice(at)}`
  }
  return out
}

/**
 * 1–3 characters of one category: a single one for surrogates, so that two inserted halves can never
 * make a pair.
 */
const hostileChars = fc
  .constantFrom(...KINDS)
  .chain((kind) =>
    fc
      .array(fc.constantFrom(...CATEGORIES[kind]), { minLength: 1, maxLength: kind === 'lone surrogates' ? 1 : 3 })
      .map((chars): { kind: string; chars: string[] } => ({ kind, chars })),
  )
const positions = fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 3, maxLength: 3 })

interface Generated {
  readonly value: string
  /** The reason's words, or `undefined` for a value that must pass. */
  readonly refusal: string | undefined
}

const hostileName: fc.Arbitrary<Generated> = fc.oneof(
  fc.tuple(name, hostileChars, positions).map(([n, { kind, chars }, at]) => ({
    value: inserted(n, chars, at),
    refusal: kind,
  })),
  fc
    .tuple(
      fc.array(fc.constantFrom(...FILLERS), { minLength: 1, maxLength: 3 }),
      fc.array(fc.constantFrom(...NOT_LETTERS), { maxLength: 3 }),
    )
    .map(([fillers, others]) => ({ value: [...fillers, ...others].join(''), refusal: 'no visible letter' })),
)
const nameCase: fc.Arbitrary<Generated> = fc.oneof(
  name.map((value) => ({ value, refusal: undefined })),
  hostileName,
)

const lookAlike = (text: string, at: number): string => {
  const latin = [...text].map((c, i) => [c, i] as const).filter(([c]) => LOOK_ALIKES[c] !== undefined)
  const [char, index] = latin[Math.floor(at * latin.length)] ?? ['a', 0]
  return `${text.slice(0, index)}${LOOK_ALIKES[char] ?? char}${text.slice(index + 1)}`
}

const hostileEmail: fc.Arbitrary<Generated> = fc.oneof(
  fc
    .tuple(email, hostileChars, positions)
    .map(([e, { kind, chars }, at]) => ({ value: inserted(e, chars, at), refusal: kind })),
  fc
    .tuple(email, fc.constantFrom('\u00a0', '\u2007', '\u202f', '\u3000', '\u2003', ' '), positions)
    .map(([e, space, at]) => ({ value: inserted(e, [space], at, true), refusal: 'space characters' })),
  fc
    .tuple(email, fc.constantFrom('\u3164', '\u115f', '\ufe0f', '\u034f', '\u180b', '\u{e0100}'), positions)
    .map(([e, char, at]) => ({ value: inserted(e, [char], at, true), refusal: 'invisible characters' })),
  fc
    .tuple(
      fc.constantFrom(...LOCAL_PARTS),
      fc.constantFrom('example', 'università', 'пример'),
      fc.constantFrom('\u3002', '\uff0e', '\uff61'),
      fc.constantFrom('com', 'it', 'рф'),
    )
    .map(([l, label, dot, tld]) => ({ value: `${l}@${label}${dot}${tld}`, refusal: 'non-ascii dot' })),
  fc
    .tuple(
      fc.constantFrom(...LATIN_LOCAL_PARTS),
      fc.double({ min: 0, max: 0.999, noNaN: true }),
      fc.constantFrom(...DOMAINS),
    )
    .map(([l, at, d]) => ({ value: `${lookAlike(l, at)}@${d}`, refusal: 'local part mixes scripts' })),
  fc
    .tuple(
      fc.constantFrom(...LOCAL_PARTS),
      fc.constantFrom(...LATIN_LABELS),
      fc.double({ min: 0, max: 0.999, noNaN: true }),
      fc.constantFrom('com', 'it', 'co.uk'),
    )
    .map(([l, label, at, tld]) => ({ value: `${l}@${lookAlike(label, at)}.${tld}`, refusal: 'domain mixes scripts' })),
  // The same look-alike, written in punycode: judged by what it decodes to.
  fc.constantFrom({ value: 'anna@xn--pypal-4ve.com', refusal: 'domain mixes scripts' }),
)
const emailCase: fc.Arbitrary<Generated> = fc.oneof(
  email.map((value) => ({ value, refusal: undefined })),
  hostileEmail,
)

const BASE = { email: 'mario@example.com', firstName: 'Mario', country: 'IT' }

describe('validateCustomer: invisible and look-alike characters (issue 18)', () => {
  test.each([
    ['email', 'anna\u202e@example.com', 'format characters'],
    ['email', 'an\u200bna@example.com', 'format characters'],
    ['email', 'anna@exam\u00adple.com', 'format characters'],
    ['email', '\ud800@example.com', 'lone surrogates'],
    ['email', 'a\u00a0b@example.com', 'space characters'],
    ['email', 'pаypal@example.com', 'local part mixes scripts'],
    ['email', 'anna@pаypal.com', 'domain mixes scripts'],
    ['email', 'a@example\u3002com', 'non-ascii dot'],
    ['email', 'a@example\uff0ecom', 'non-ascii dot'],
    ['email', 'a@example\uff61com', 'non-ascii dot'],
    ['firstName', 'An\u2028na', 'line or paragraph separators'],
    ['firstName', 'An\u2029na', 'line or paragraph separators'],
    ['firstName', '\ud800', 'lone surrogates'],
    ['firstName', '\uffff', 'noncharacters'],
    ['firstName', '\u3164', 'no visible letter'],
  ])('the brief: %s %j is refused: "%s"', (field, value, kind) => {
    expect(validateCustomer({ ...BASE, [field]: value })).toEqual({ ok: false, reasons: [`${field}: ${kind}`] })
  })

  test.each(['mario@università.it', 'иван@пример.рф', 'anna@bücher.de', 'taro@日本語.jp', 'anna@xn--bcher-kva.de'])(
    'a one-script IDN domain stays valid: %s',
    (address) => {
      const result = validateCustomer({ ...BASE, email: address })
      expect(result.ok && result.customer.email).toBe(address)
    },
  )

  const check = (field: 'email' | 'firstName' | 'lastName', generated: Generated): void => {
    const result = validateCustomer({ ...BASE, [field]: generated.value })
    if (generated.refusal === undefined) {
      expect(result.ok).toBe(true)
      if (!result.ok) return
      const kept = field === 'email' ? generated.value.toLowerCase() : generated.value
      expect(result.customer[field]).toBe(kept)
      expect(result.dropped).toEqual([])
    } else if (field === 'lastName') {
      // Optional: a bad last name is left out, the order still sent.
      expect(result.ok && result.dropped).toEqual(['lastName'])
      expect(result.ok && result.customer).not.toHaveProperty('lastName')
    } else {
      expect(result).toEqual({ ok: false, reasons: [`${field}: ${generated.refusal}`] })
    }
  }

  test.each(['email', 'firstName', 'lastName'] as const)(
    `property: ${RUNS_PER_FIELD} generated %s values: the hostile ones refused, by kind; real-world ones kept as they are`,
    (field) => {
      let hostile = 0
      fc.assert(
        fc.property(field === 'email' ? emailCase : nameCase, (generated) => {
          if (generated.refusal !== undefined) hostile++
          check(field, generated)
        }),
        { numRuns: RUNS_PER_FIELD, seed: 18 },
      )
      // Both halves were exercised in earnest.
      expect(hostile).toBeGreaterThan(RUNS_PER_FIELD / 4)
      expect(hostile).toBeLessThan((RUNS_PER_FIELD * 3) / 4)
    },
  )

  test('property: the other fields sent to the API never carry such characters, whatever they are given', () => {
    const anyKind = hostileChars.chain(({ chars }) =>
      fc
        .tuple(fc.constantFrom('00100', 'EUR', 'RSSMRA80A01H501U', 'M', '+39 06 1234567', 'IT'), positions)
        .map(([text, at]) => inserted(text, chars, at)),
    )
    const FIELDS = [
      'zipCode',
      'transactionCurrency',
      'nationalIdentificationNumber',
      'gender',
      'phone',
      'country',
    ] as const
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), anyKind, (field, value) => {
        const result = validateCustomer({ ...BASE, [field]: value })
        const sent = result.ok ? String(result.customer[field] ?? '') : ''
        expect(sent).not.toMatch(/[\p{Cc}\p{Cs}\p{Cf}\p{Zl}\p{Zp}\p{Noncharacter_Code_Point}]/u)
      }),
      { numRuns: 2000, seed: 18 },
    )
  })
})

describe.each(EXPRESS_VERSIONS)('issue 18 end to end through %s and the fake API', (_version, expressFactory) => {
  test('a generated sample: hostile emails and first names never reach the API, hostile last names are left out, real-world ones always arrive', async () => {
    const fake = await startFakeTransactionaleApi({ apiKey: 'trx-key-unicode' })
    const logs = captureLogs()
    const invalid: InvalidEvent[] = []
    const touchpoint = transactionaleTouchpoint({
      apiKey: 'trx-key-unicode',
      route: '/checkout',
      endpoint: fake.endpoint,
      logger: logs.logger,
      hooks: { onInvalid: (event) => void invalid.push(event) },
    })
    try {
      const app = createShop(expressFactory, touchpoint)
      const sample = fc.sample(fc.tuple(emailCase, nameCase, nameCase), { numRuns: 150, seed: 1818 })
      const expected: Array<{ email: string; first_name: string; last_name?: string }> = []
      let refused = 0
      for (const [i, [e, first, last]] of sample.entries()) {
        const customer = {
          email: e.value,
          firstName: first.value,
          lastName: last.value,
          country: 'IT',
          orderId: `U-${i}`,
        }
        await request(app).post('/checkout').send({ customer }).expect(201)
        if (e.refusal !== undefined || first.refusal !== undefined) refused++
        else {
          expected.push({
            email: e.value.toLowerCase(),
            first_name: first.value,
            ...(last.refusal === undefined ? { last_name: last.value } : {}),
          })
        }
      }
      await touchpoint.flush()
      expect(refused).toBeGreaterThan(30)
      expect(expected.length).toBeGreaterThan(15)
      expect(touchpoint.stats()).toMatchObject({ received: sample.length, invalid: refused, sent: expected.length })
      const received = fake.requests.map((r) => {
        const body = r.body as Record<string, unknown>
        return {
          email: body.email,
          first_name: body.first_name,
          ...(body.last_name === undefined ? {} : { last_name: body.last_name }),
        }
      })
      expect(received).toEqual(expected)
      // Reasons name the field and the kind, never a value.
      for (const event of invalid) {
        for (const reason of event.reasons) expect(reason).toMatch(/^(email|firstName): [a-z -]+$/)
      }
      const text = logs.text()
      for (const [e, first] of sample) {
        if (e.refusal !== undefined) expect(text).not.toContain(JSON.stringify(e.value).slice(1, -1))
        if (first.refusal !== undefined && first.refusal !== 'no visible letter') {
          expect(text).not.toContain(JSON.stringify(first.value).slice(1, -1))
        }
      }
    } finally {
      await touchpoint.close({ timeoutMs: 0 })
      await fake.close()
    }
  }, 60_000)
})
