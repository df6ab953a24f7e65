// A small real shop used by the end-to-end tests, built on Express 4 or Express 5.
import express from 'express'
import express4 from 'express4'
import type { Customer, TouchpointMiddleware } from '../../src'

export type ExpressFactory = typeof express

/** Both Express majors, for describe.each. */
export const EXPRESS_VERSIONS: ReadonlyArray<[string, ExpressFactory]> = [
  ['Express 4', express4 as unknown as ExpressFactory],
  ['Express 5', express],
]

export const FULL_CUSTOMER = {
  email: 'mario.rossi@example.com',
  firstName: 'Mario',
  country: 'it',
  zipCode: '00100',
  lastName: 'Rossi',
  transactionValue: 129.9,
  transactionCurrency: 'eur',
  nationalIdentificationNumber: 'RSSMRA80A01H501U',
  birthYear: '1980',
  gender: 'm',
  phone: '+39 06 1234567',
  orderId: 'A-1001',
} satisfies Customer

/** FULL_CUSTOMER as the API must receive it: wire names, normalised values, no orderId. */
export const FULL_WIRE_BODY = {
  email: 'mario.rossi@example.com',
  first_name: 'Mario',
  country: 'IT',
  zip_code: '00100',
  last_name: 'Rossi',
  transaction_value: 129.9,
  transaction_currency: 'EUR',
  national_identification_number: 'RSSMRA80A01H501U',
  birth_year: '1980',
  gender: 'M',
  phone: '+39 06 1234567',
}

/**
 * The shop: POST /checkout puts the customer in res.locals and answers with the order as JSON;
 * with `decline: true` it answers 402; a router mounted at /shop completes orders at
 * /shop/orders/:id/complete; POST /broken and POST /other are routes the middleware does not watch.
 */
export function createShop(expressFactory: ExpressFactory, touchpoint: TouchpointMiddleware): express.Express {
  const app = expressFactory()
  app.use(touchpoint)
  app.use(expressFactory.json())

  app.post('/checkout', (req, res) => {
    const body = req.body as Record<string, unknown>
    // Whatever the client posted, valid or not: the tests check that the middleware validates it.
    res.locals.transactionale = body.customer as Customer
    // A declined payment: the customer is known but no order was completed.
    if (body.decline === true) return void res.status(402).json({ ok: false })
    res.status(201).json({ ok: true, order: body })
  })
  app.post('/broken', (_req, res) => {
    res.locals.transactionale = FULL_CUSTOMER
    res.status(500).json({ ok: false })
  })
  app.post('/other', (_req, res) => {
    res.locals.transactionale = FULL_CUSTOMER
    res.json({ ok: true })
  })
  app.get('/checkout', (_req, res) => {
    res.locals.transactionale = FULL_CUSTOMER
    res.send('<form method="post"></form>')
  })

  const router = expressFactory.Router()
  router.post('/orders/:id/complete', (req, res) => {
    res.json({ id: req.params.id, customer: (req.body as Record<string, unknown>).customer })
  })
  app.use('/shop', router)
  return app
}

/**
 * A bare shop on Express 5 whose every POST /checkout completes a new order: customer
 * `${prefix}${n}@example.org`, order `${prefix}-${n}`.
 */
export function numberedOrderShop(touchpoint: TouchpointMiddleware, prefix: string): express.Express {
  const app = express()
  app.use(touchpoint)
  let n = 0
  app.post('/checkout', (_req, res) => {
    n++
    res.locals.transactionale = {
      email: `${prefix}${n}@example.org`,
      firstName: prefix.toUpperCase(),
      country: 'IT',
      orderId: `${prefix}-${n}`,
    }
    res.status(201).json({ ok: true })
  })
  return app
}
