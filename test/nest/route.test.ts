// Routes as Nest writes them, under the global prefix (and its exclusions), read from a real
// ApplicationConfig of @nestjs/core.
import { RequestMethod } from '@nestjs/common'
import { ApplicationConfig } from '@nestjs/core'
import { pathToRegexp } from 'path-to-regexp'
import { nestPath, prefixRoutes } from '../../src/nest/route'

function config(prefix: string, exclude: [string, RequestMethod][] = []): ApplicationConfig {
  const c = new ApplicationConfig()
  c.setGlobalPrefix(prefix)
  c.setGlobalPrefixOptions({
    exclude: exclude.map(([path, requestMethod]) => ({ path, requestMethod, pathRegex: pathToRegexp(path).regexp })),
  })
  return c
}

test('a route as a controller writes it gets a leading slash and loses a trailing one', () => {
  expect(nestPath('checkout')).toBe('/checkout')
  expect(nestPath('/orders/:id/complete/')).toBe('/orders/:id/complete')
  expect(nestPath('')).toBe('/')
})

test('the global prefix goes in front, however it was written', () => {
  for (const prefix of ['api', '/api', 'api/', '/api/']) {
    expect(prefixRoutes(['checkout', '/orders/:id/complete'], ['POST'], config(prefix))).toEqual([
      '/api/checkout',
      '/api/orders/:id/complete',
    ])
  }
  expect(prefixRoutes(['checkout'], ['POST'], config(''))).toEqual(['/checkout'])
  expect(prefixRoutes(['v1/checkout'], ['POST'], config('shop/eu'))).toEqual(['/shop/eu/v1/checkout'])
})

test("a route that setGlobalPrefix()'s exclude covers, for its methods, keeps no prefix; RegExps are left alone", () => {
  const c = config('api', [
    ['/webhooks/checkout', RequestMethod.POST],
    ['/legacy/checkout', RequestMethod.GET],
    ['/all/checkout', RequestMethod.ALL],
  ])
  expect(prefixRoutes(['webhooks/checkout', 'legacy/checkout', 'all/checkout', 'checkout'], ['POST'], c)).toEqual([
    '/webhooks/checkout',
    '/api/legacy/checkout',
    '/all/checkout',
    '/api/checkout',
  ])
  const regexp = /^\/anything$/
  expect(prefixRoutes([regexp], ['POST'], c)).toEqual([regexp])
})
