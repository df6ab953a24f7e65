import { compileRoute, createRouteMatcher } from '../src/route-matcher'

describe('createRouteMatcher', () => {
  test('matches method and full path, ignoring the query string and a trailing slash', () => {
    const matches = createRouteMatcher(['/checkout'], ['POST'])
    expect(matches('POST', '/checkout')).toBe(true)
    expect(matches('POST', '/checkout/')).toBe(true)
    expect(matches('POST', '/checkout?step=2')).toBe(true)
    expect(matches('POST', '/CHECKOUT')).toBe(true)
    expect(matches('GET', '/checkout')).toBe(false)
    expect(matches('POST', '/checkout/extra')).toBe(false)
    expect(matches('POST', '/checkouts')).toBe(false)
    expect(matches(undefined, '/checkout')).toBe(false)
  })

  test('supports params, wildcards, RegExps and arrays', () => {
    const matches = createRouteMatcher(['/orders/:id/complete', /^\/api\/v\d+\/buy$/g, '/files/*rest'], ['POST', 'PUT'])
    expect(matches('POST', '/orders/42/complete')).toBe(true)
    expect(matches('PUT', '/orders/abc/complete')).toBe(true)
    expect(matches('POST', '/orders//complete')).toBe(false)
    // A /g RegExp must not keep state between calls.
    expect(matches('POST', '/api/v2/buy')).toBe(true)
    expect(matches('POST', '/api/v2/buy')).toBe(true)
    expect(matches('POST', '/files/a/b/c')).toBe(true)
  })
})

describe('compileRoute', () => {
  test('rejects malformed patterns', () => {
    expect(() => compileRoute('checkout')).toThrow(/must start with "\/"/)
    expect(() => compileRoute('/orders/:')).toThrow()
    expect(() => compileRoute('/a/(b')).toThrow()
  })
})
