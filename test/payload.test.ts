import { createHash, createHmac } from 'node:crypto'
import fc from 'fast-check'
import { dedupeKeyOf, emailHash, toWirePayload, validateCustomer, WIRE_NAMES } from '../src/payload'
import { FULL_CUSTOMER, FULL_WIRE_BODY } from './helpers/shop'

describe('validateCustomer + toWirePayload', () => {
  test('a full customer becomes exactly the documented snake_case body, normalised', () => {
    const result = validateCustomer(FULL_CUSTOMER)
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.dropped).toEqual([])
    expect(result.customer.orderId).toBe('A-1001')
    expect(toWirePayload(result.customer)).toEqual(FULL_WIRE_BODY)
  })

  test('a minimal customer sends only the three required fields, trimmed; unknown keys are stripped', () => {
    const result = validateCustomer({ email: ' Anna@Example.org ', firstName: ' Anna ', country: 'de', extra: 'x' })
    if (!result.ok) throw new Error(result.reasons.join())
    expect(toWirePayload(result.customer)).toEqual({ email: 'anna@example.org', first_name: 'Anna', country: 'DE' })
  })

  test('numbers are accepted where shops often hold them: birth year, order id', () => {
    const result = validateCustomer({ email: 'a@b.it', firstName: 'A', country: 'IT', birthYear: 1976, orderId: 7 })
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.customer.birthYear).toBe('1976')
    expect(result.customer.orderId).toBe('7')
    expect(toWirePayload(result.customer)).not.toHaveProperty('orderId')
  })

  test.each([
    ['bad email', { email: 'not-an-email', firstName: 'A', country: 'IT' }, 'email'],
    ['unknown country', { email: 'a@b.it', firstName: 'A', country: 'XX' }, 'country'],
    ['empty name', { email: 'a@b.it', firstName: '   ', country: 'IT' }, 'firstName'],
    ['missing name', { email: 'a@b.it', country: 'IT' }, 'firstName'],
    ['name too long', { email: 'a@b.it', firstName: 'x'.repeat(101), country: 'IT' }, 'firstName'],
    ['missing country', { email: 'a@b.it', firstName: 'A' }, 'country'],
  ])('%s is invalid, reported by field name only', (_name, input, field) => {
    const result = validateCustomer(input)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.reasons.some((r) => r.startsWith(`${field}:`))).toBe(true)
    const values = Object.values(input).filter((v) => typeof v === 'string' && v.trim().length > 3)
    for (const v of values) expect(result.reasons.join()).not.toContain(v)
  })

  test('not an object is invalid', () => {
    expect(validateCustomer('mario@example.com').ok).toBe(false)
    expect(validateCustomer([FULL_CUSTOMER]).ok).toBe(false)
  })

  test('a bad optional field is dropped and named; the rest is still sent', () => {
    const result = validateCustomer({
      email: 'a@b.it',
      firstName: 'A',
      country: 'IT',
      zipCode: 100,
      gender: 'X',
      birthYear: '1850',
      phone: 'call me',
      transactionCurrency: 'euro',
      transactionValue: -5,
    })
    if (!result.ok) throw new Error(result.reasons.join())
    expect([...result.dropped].sort()).toEqual(
      ['birthYear', 'gender', 'phone', 'transactionCurrency', 'transactionValue', 'zipCode'].sort(),
    )
    expect(toWirePayload(result.customer)).toEqual({ email: 'a@b.it', first_name: 'A', country: 'IT' })
  })

  test('a default country is used only when the customer has none', () => {
    const withDefault = validateCustomer({ email: 'a@b.it', firstName: 'A' }, 'FR')
    const own = validateCustomer({ email: 'a@b.it', firstName: 'A', country: 'Germany' }, 'FR')
    expect(withDefault.ok && withDefault.customer.country).toBe('FR')
    expect(own.ok && own.customer.country).toBe('DE')
  })

  test('every camelCase field has exactly one wire name', () => {
    expect(new Set(Object.values(WIRE_NAMES)).size).toBe(Object.keys(WIRE_NAMES).length)
  })
})

describe('validateCustomer: names (item 6)', () => {
  const base = { email: 'a@b.it', country: 'IT' }

  test.each([
    ['NUL', 'Ma\u0000rio'],
    ['a line break', 'Mario\nRossi'],
    ['a trailing line break', 'Mario\n'],
    ['a tab', 'Mario\tRossi'],
    ['DEL', 'Mario\u007f'],
    ['a C1 control (U+0085)', 'Mario\u0085'],
    ['a C1 control (U+009F)', '\u009fMario'],
  ])('item 6: a first name with %s makes the order invalid: "firstName: control characters"', (_what, firstName) => {
    expect(validateCustomer({ ...base, firstName })).toEqual({ ok: false, reasons: ['firstName: control characters'] })
  })

  test('item 6: a last name with control characters is dropped; the order is still sent', () => {
    const result = validateCustomer({ ...base, firstName: 'Mario', lastName: 'Rossi\r\nX-Injected: 1' })
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.dropped).toEqual(['lastName'])
    expect(result.customer).not.toHaveProperty('lastName')
  })

  test.each([
    ['right-to-left override and pop', '\u202eMario\u202c'],
    ['bidi isolates', '\u2066Mario\u2069'],
    ['directional marks', '\u200eMa\u200frio'],
    ['zero-width characters', 'Ma\u200bri\u200c\u200do'],
    ['BOM and word joiner', '\ufeffMa\u2060rio'],
    ['soft hyphen', 'Ma\u00adrio'],
    ['around spaces', ' \u200b Mario \u200b '],
    ['only formatting characters', '\u202e\u200b\ufeff'],
  ])(
    'issue 18: format characters make a first name invalid ("firstName: format characters") and a last name dropped: %s',
    (_what, raw) => {
      expect(validateCustomer({ ...base, firstName: raw })).toEqual({
        ok: false,
        reasons: ['firstName: format characters'],
      })
      const result = validateCustomer({ ...base, firstName: 'Mario', lastName: raw })
      expect(result.ok && result.dropped).toEqual(['lastName'])
    },
  )

  test('item 6: property: a name that passes has no control or formatting characters and at most 100 characters', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 120 }),
        fc.string({ unit: 'binary', maxLength: 120 }),
        (first, last) => {
          const result = validateCustomer({ ...base, firstName: first, lastName: last })
          if (!result.ok) return
          for (const name of [result.customer.firstName, result.customer.lastName ?? 'x']) {
            expect(name).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u)
            expect(name.length).toBeGreaterThan(0)
            expect(name.length).toBeLessThanOrEqual(100)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  test('names in any script, with accents, apostrophes and hyphens, are kept as they are', () => {
    for (const name of ["D'Angelo", 'Jean-Luc', 'Ñúñez', 'Łukasz', 'Σωκράτης', '山田', 'محمد']) {
      const result = validateCustomer({ ...base, firstName: name, lastName: name })
      expect(result.ok && [result.customer.firstName, result.customer.lastName]).toEqual([name, name])
    }
  })
})

describe('validateCustomer: order id (item 7)', () => {
  const base = { email: 'a@b.it', firstName: 'A', country: 'IT' }

  test('item 7: an order id of any length is kept, trimmed; a number becomes a string', () => {
    const long = `ORD-${'9'.repeat(5000)}`
    const result = validateCustomer({ ...base, orderId: ` ${long} ` })
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.customer.orderId).toBe(long)
    expect(result.dropped).toEqual([])
    const numeric = validateCustomer({ ...base, orderId: 1234567890123 })
    expect(numeric.ok && numeric.customer.orderId).toBe('1234567890123')
  })

  test.each([
    ['an object', { id: 1 }],
    ['an array', ['A-1']],
    ['a boolean', true],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['an empty string', ''],
    ['a blank string', '   '],
    ['null', null],
  ])('a bad order id (%s) is dropped and named; the order is still sent', (_what, orderId) => {
    const result = validateCustomer({ ...base, orderId })
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.dropped).toEqual(['orderId'])
    expect(result.customer).not.toHaveProperty('orderId')
  })

  test('item 7: dedupeKeyOf keeps an id of up to 128 characters and hashes a longer one', () => {
    const short = 'x'.repeat(128)
    const long = 'x'.repeat(129)
    expect(dedupeKeyOf('A-1001')).toBe('A-1001')
    expect(dedupeKeyOf(short)).toBe(short)
    expect(dedupeKeyOf(long)).toBe(`sha256:${createHash('sha256').update(long).digest('hex')}`)
    expect(dedupeKeyOf(long)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(dedupeKeyOf(`${long}y`)).not.toBe(dedupeKeyOf(long))
  })
})

describe('validateCustomer: country and its default (item 9)', () => {
  const base = { email: 'a@b.it', firstName: 'A' }

  test.each([
    ['missing', {}],
    ['undefined', { country: undefined }],
    ['null', { country: null }],
    ['empty', { country: '' }],
    ['blank', { country: '   ' }],
    ["'Space'", { country: 'Space' }],
    ["'Atlantis'", { country: 'Atlantis' }],
    ['a number', { country: 39 }],
    ['an object', { country: { code: 'IT' } }],
  ])('item 9: country %s → the default, reported in `defaulted`; the order is still sent', (_what, country) => {
    const result = validateCustomer({ ...base, ...country }, 'FR')
    if (!result.ok) throw new Error(result.reasons.join())
    expect(result.customer.country).toBe('FR')
    expect(result.defaulted).toEqual(['country'])
    expect(result.dropped).toEqual([])
  })

  test('item 9: a country that cannot be read falls back to the default too', () => {
    const input = {
      ...base,
      get country(): string {
        throw new Error('lazy field')
      },
    }
    const result = validateCustomer(input, 'FR')
    expect(result.ok && [result.customer.country, result.defaulted]).toEqual(['FR', ['country']])
  })

  test('item 9: a valid mapper country wins over the default; nothing is defaulted', () => {
    const result = validateCustomer({ ...base, country: 'Germany' }, 'FR')
    expect(result.ok && [result.customer.country, result.defaulted]).toEqual(['DE', []])
  })

  test('item 9: without a default, an unknown country and a missing one have readable reasons', () => {
    expect(validateCustomer({ ...base, country: 'Atlantis' })).toEqual({
      ok: false,
      reasons: ['country: not a known country or code'],
    })
    expect(validateCustomer({ ...base, country: 42 })).toEqual({
      ok: false,
      reasons: ['country: not a known country or code'],
    })
    expect(validateCustomer(base)).toEqual({ ok: false, reasons: ['country: required'] })
    expect(validateCustomer({ ...base, country: null })).toEqual({ ok: false, reasons: ['country: required'] })
  })

  test('item 9: every reason is a field name and short readable words, never a joi code or a value', () => {
    expect(validateCustomer({ email: 'not-an-email', firstName: 'x'.repeat(101), country: 'XX' })).toEqual({
      ok: false,
      reasons: ['email: not a valid email address', 'firstName: too long', 'country: not a known country or code'],
    })
    expect(validateCustomer({ email: 42 })).toEqual({
      ok: false,
      reasons: ['email: must be a string', 'firstName: required', 'country: required'],
    })
    expect(validateCustomer({})).toEqual({
      ok: false,
      reasons: ['email: required', 'firstName: required', 'country: required'],
    })
  })
})

describe('emailHash (item 14)', () => {
  test('is short, stable, case-insensitive and does not contain the address', () => {
    expect(emailHash('Mario@Example.com', 'key')).toBe(emailHash(' mario@example.com', 'key'))
    expect(emailHash('mario@example.com', 'key')).toMatch(/^[0-9a-f]{12}$/)
    expect(emailHash('a@b.it', 'key')).not.toBe(emailHash('c@b.it', 'key'))
  })

  test('item 14: the hash is keyed: HMAC-SHA256 of the normalised address with the secret, 12 hex digits', () => {
    const expected = createHmac('sha256', 'api-key-1').update('mario@example.com').digest('hex').slice(0, 12)
    expect(emailHash(' Mario@Example.com ', 'api-key-1')).toBe(expected)
    expect(emailHash('mario@example.com', 'api-key-1')).toBe(emailHash('mario@example.com', 'api-key-1'))
    expect(emailHash('mario@example.com', 'api-key-2')).not.toBe(emailHash('mario@example.com', 'api-key-1'))
    // An unkeyed hash of the address is what a log reader could compute from a list of addresses.
    const unkeyed = createHash('sha256').update('mario@example.com').digest('hex').slice(0, 12)
    expect(emailHash('mario@example.com', 'api-key-1')).not.toBe(unkeyed)
  })
})
