/**
 * The example shop: a checkout page, an in-memory order store, and the one line that sends a
 * Transactionale mail touchpoint for every completed order.
 */
import { randomUUID } from 'node:crypto'
import express from 'express'
import type { Customer, TouchpointMiddleware } from 'express-transactionale'

export interface Order {
  id: string
  product: string
  price: number
  firstName: string
  email: string
  country: string
  zipCode: string
  consent: boolean
  createdAt: string
}

export const PRODUCTS: Readonly<Record<string, number>> = {
  'Espresso machine': 149.0,
  'Moka pot': 34.5,
  'Coffee beans 1 kg': 21.9,
}

const escape = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · Caffè Example</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0}input,select{width:100%;padding:.4rem}
label.check input{width:auto}button{margin-top:1rem;padding:.6rem 1.2rem}</style></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`

const checkoutForm = page(
  'Checkout',
  `<form method="post" action="/checkout">
  <label>Product <select name="product">${Object.entries(PRODUCTS)
    .map(([name, price]) => `<option value="${escape(name)}">${escape(name)} — € ${price.toFixed(2)}</option>`)
    .join('')}</select></label>
  <label>First name <input name="firstName" required autocomplete="given-name"></label>
  <label>Email <input name="email" type="email" required autocomplete="email"></label>
  <label>Country <input name="country" required placeholder="IT, Italia, Germany…" autocomplete="country-name"></label>
  <label>Zip code <input name="zipCode" autocomplete="postal-code"></label>
  <label class="check"><input type="checkbox" name="consent" value="yes" checked>
    Email me a thank-you with offers from Transactionale's partners</label>
  <button type="submit">Place order</button>
</form>`,
)

/** Builds the shop around a touchpoint middleware; `orders` is the in-memory store. */
export function createShopApp(touchpoint: TouchpointMiddleware): { app: express.Express; orders: Order[] } {
  const orders: Order[] = []
  const app = express()
  app.disable('x-powered-by')
  // The touchpoint middleware goes first: it only watches POST /checkout and never delays it.
  app.use(touchpoint)
  app.use(express.urlencoded({ extended: false }))
  app.use(express.json())

  app.get('/', (_req, res) => {
    res.type('html').send(checkoutForm)
  })

  app.post('/checkout', (req, res) => {
    const input = req.body as Record<string, string | boolean | undefined>
    const product = String(input.product ?? '')
    const price = PRODUCTS[product]
    if (price === undefined || !input.email || !input.firstName || !input.country) {
      res.status(400)
      if (req.accepts(['html', 'json']) === 'json') return void res.json({ error: 'missing or unknown fields' })
      return void res.type('html').send(page('Something is missing', '<p><a href="/">Back to the checkout</a></p>'))
    }
    const order: Order = {
      id: randomUUID(),
      product,
      price,
      firstName: String(input.firstName),
      email: String(input.email),
      country: String(input.country),
      zipCode: String(input.zipCode ?? ''),
      consent: input.consent === 'yes' || input.consent === true,
      createdAt: new Date().toISOString(),
    }
    orders.push(order)

    // Consent is decided here: without it the shop sets nothing and no touchpoint is sent.
    if (order.consent) {
      const customer: Customer = {
        orderId: order.id,
        email: order.email,
        firstName: order.firstName,
        country: order.country,
        transactionValue: order.price,
        transactionCurrency: 'EUR',
        ...(order.zipCode ? { zipCode: order.zipCode } : {}),
      }
      res.locals.transactionale = customer
    }

    res.status(201)
    if (req.accepts(['html', 'json']) === 'json') return void res.json({ order })
    res.type('html').send(
      page(
        'Thank you!',
        `<p>Order <code>${escape(order.id)}</code>: ${escape(order.product)}, € ${order.price.toFixed(2)}.</p>
<p>A confirmation is on its way to ${escape(order.email)}.</p><p><a href="/">Order again</a></p>`,
      ),
    )
  })

  app.get('/orders', (_req, res) => {
    res.json({ orders: orders.length })
  })

  return { app, orders }
}
