import { emailHash, toWirePayload, validateCustomer, WIRE_NAMES } from '../src/payload'
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

describe('emailHash', () => {
  test('is short, stable, case-insensitive and does not contain the address', () => {
    expect(emailHash('Mario@Example.com')).toBe(emailHash(' mario@example.com'))
    expect(emailHash('mario@example.com')).toMatch(/^[0-9a-f]{12}$/)
    expect(emailHash('a@b.it')).not.toBe(emailHash('c@b.it'))
  })
})
