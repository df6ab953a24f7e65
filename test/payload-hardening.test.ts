// validateCustomer runs on whatever a shop's mapper returns, in the background after the response:
// it must never throw, whatever the input, and hostile input must not cost more than ordinary input.
import fc from 'fast-check'
import { dedupeKeyOf, validateCustomer, WIRE_NAMES } from '../src/payload'

const FIELD_NAMES = [...Object.keys(WIRE_NAMES), 'orderId']
const VALID = { email: 'mario@example.com', firstName: 'Mario', country: 'IT' }

/** A value that any field might hold: anything JavaScript has, including the exotic kinds. */
const anyValue = fc.oneof(
  fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
  }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom<unknown>(Symbol('s'), () => 'fn', NaN, -0, Infinity, 10n ** 30n, new Error('x'), 'a'.repeat(1 << 20)),
)

/** What a field can be: absent, a value, or a getter that throws (an ORM's lazy field). */
const fieldSpec = fc.oneof(
  fc.constant({ kind: 'absent' as const }),
  anyValue.map((value) => ({ kind: 'value' as const, value })),
  fc.constant({ kind: 'throwing getter' as const }),
)

function objectFrom(fields: Record<string, { kind: string; value?: unknown }>, prototype: object | null): object {
  const target = Object.create(prototype) as object
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.kind === 'value') Object.defineProperty(target, name, { value: spec.value, enumerable: true })
    if (spec.kind === 'throwing getter') {
      Object.defineProperty(target, name, {
        enumerable: true,
        get() {
          throw new Error(`lazy ${name}`)
        },
      })
    }
  }
  return target
}

function throwingProxy(target: object): object {
  const trap = (): never => {
    throw new Error('trap')
  }
  return new Proxy(target, {
    get: trap,
    has: trap,
    ownKeys: trap,
    getOwnPropertyDescriptor: trap,
    getPrototypeOf: trap,
    defineProperty: trap,
    set: trap,
    deleteProperty: trap,
    isExtensible: trap,
    preventExtensions: trap,
    setPrototypeOf: trap,
  })
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

function deeplyNested(depth: number): unknown {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = { value, list: [value] }
  return value
}

describe('validateCustomer never throws', () => {
  test('never throws: a field whose getter throws is "could not be read", like an invalid value', () => {
    const required = {
      ...VALID,
      get email(): string {
        throw new Error('lazy field')
      },
    }
    expect(validateCustomer(required)).toEqual({ ok: false, reasons: ['email: could not be read'] })
    const optional = {
      ...VALID,
      get lastName(): string {
        throw new Error('lazy field')
      },
    }
    const result = validateCustomer(optional)
    expect(result.ok && result.dropped).toEqual(['lastName'])
  })

  test('never throws: Proxies whose traps throw, and revoked Proxies, are invalid customers', () => {
    expect(validateCustomer(throwingProxy(VALID))).toEqual({
      ok: false,
      reasons: ['email: could not be read', 'firstName: could not be read', 'country: could not be read'],
    })
    expect(validateCustomer(revokedProxy())).toEqual({ ok: false, reasons: ['customer: could not be read'] })
    // A Proxy whose only throwing trap is one validation has no reason to call works as its target.
    const keysTrap = new Proxy(VALID, {
      ownKeys: () => {
        throw new Error('trap')
      },
    })
    expect(validateCustomer(keysTrap).ok).toBe(true)
  })

  test('deeply nested and circular values, in unknown or known fields, are not walked', () => {
    const nested = deeplyNested(100_000)
    const circular: Record<string, unknown> = { ...VALID }
    circular.self = circular
    circular.lastName = circular
    const result = validateCustomer({ ...VALID, extra: nested, phone: nested, nested: { nested } })
    expect(result.ok && result.dropped).toEqual(['phone'])
    const cyclic = validateCustomer(circular)
    expect(cyclic.ok && cyclic.dropped).toEqual(['lastName'])
  })

  test('never throws: a "__proto__" own key (JSON.parse) is neither read nor able to supply fields', () => {
    const polluted = JSON.parse(
      '{"__proto__":{"email":"evil@example.com","lastName":"Evil"},"firstName":"A","country":"IT"}',
    ) as unknown
    expect(validateCustomer(polluted)).toEqual({ ok: false, reasons: ['email: required'] })
    const withValid = JSON.parse(
      '{"__proto__":{"lastName":"Evil"},"email":"a@b.it","firstName":"A","country":"IT"}',
    ) as unknown
    const result = validateCustomer(withValid)
    expect(result.ok && result.customer).toEqual({ email: 'a@b.it', firstName: 'A', country: 'IT' })
    expect(Object.getPrototypeOf(result.ok && result.customer)).toBe(Object.prototype)
  })

  test('never throws: property-based, any value in any field, getters that throw, inherited fields, odd prototypes and Proxies', () => {
    // fast-check inspects what it generates, and a Proxy that throws at any touch breaks it: generate a
    // description, and build the hostile object inside the property.
    type Shape = 'plain' | 'null prototype' | 'inherited' | 'throwing proxy' | 'revoked proxy'
    const customers = fc.record({
      fields: fc.record(Object.fromEntries(FIELD_NAMES.map((name) => [name, fieldSpec]))),
      shape: fc.constantFrom<Shape>('plain', 'null prototype', 'inherited', 'throwing proxy', 'revoked proxy'),
    })
    const build = ({ fields, shape }: { fields: Record<string, { kind: string; value?: unknown }>; shape: Shape }) => {
      if (shape === 'revoked proxy') return revokedProxy()
      if (shape === 'throwing proxy') return throwingProxy(objectFrom(fields, Object.prototype))
      if (shape === 'inherited') return Object.create(objectFrom(fields, Object.prototype)) as object
      return objectFrom(fields, shape === 'null prototype' ? null : Object.prototype)
    }
    const inputs = fc.oneof(
      customers.map((spec) => ({ spec })),
      anyValue.map((raw) => ({ raw })),
    )
    fc.assert(
      fc.property(inputs, fc.option(fc.constantFrom('FR', 'Space'), { nil: undefined }), (generated, country) => {
        const result = validateCustomer('spec' in generated ? build(generated.spec) : generated.raw, country)
        // Whatever came in, what comes out is plain data: strings and numbers, names never values.
        if (result.ok) {
          for (const value of Object.values(result.customer)) expect(['string', 'number']).toContain(typeof value)
          for (const name of [...result.dropped, ...result.defaulted]) expect(FIELD_NAMES).toContain(name)
        } else {
          for (const reason of result.reasons) expect(reason).toMatch(/^[a-zA-Z]+: [a-z0-9 ,-]+$/)
        }
      }),
      { numRuns: 1000 },
    )
  })

  test('never throws: 1 MB strings in every field are refused after a length check, in well under 5 ms', () => {
    const huge = 'a'.repeat(1 << 20)
    const input = Object.fromEntries(FIELD_NAMES.map((name) => [name, `${huge}@example.com`]))
    validateCustomer(input) // warm-up: compile the parsers first
    let best = Infinity
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint()
      const result = validateCustomer(input)
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6)
      expect(result).toEqual({
        ok: false,
        reasons: ['email: too long', 'firstName: too long', 'country: not a known country or code'],
      })
    }
    expect(best).toBeLessThan(5)
  })

  test('item 7: a 1 MB order id is kept whole (dedupeKeyOf bounds the dedupe key)', () => {
    const orderId = 'A'.repeat(1 << 20)
    const result = validateCustomer({ ...VALID, orderId })
    expect(result.ok && result.customer.orderId).toBe(orderId)
    expect(dedupeKeyOf(orderId)).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  test.each([
    ['a string', 'mario@example.com'],
    ['an array', [VALID]],
    ['a function', Object.assign(() => undefined, VALID)],
    ['a symbol', Symbol('customer')],
    ['a BigInt', 10n],
    ['a number', 42],
    ['a boolean', true],
  ])('%s is not a customer', (_what, input) => {
    expect(validateCustomer(input)).toEqual({ ok: false, reasons: ['customer: must be an object'] })
  })

  test('never throws: an ORM-like class instance with read-only getters, or a null-prototype object, is read, never written to', () => {
    const nullPrototype = Object.assign(Object.create(null) as object, VALID)
    class OrmCustomer {
      get email(): string {
        return VALID.email
      }
      get firstName(): string {
        return VALID.firstName
      }
      readonly country = 'IT'
    }
    for (const input of [nullPrototype, new OrmCustomer()]) {
      const result = validateCustomer(input)
      expect(result.ok && result.customer).toEqual(VALID)
    }
  })
})
