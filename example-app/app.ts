/**
 * The example shop: a checkout page that follows Post/Redirect/Get, an in-memory order store, the
 * one line that sends a Transactionale mail touchpoint for every completed order, and an `/admin`
 * page that shows, live, what the middleware counted and what the (fake) API received.
 */
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import type { EventEmitter } from 'node:events'
import express from 'express'
import type { Customer, TouchpointMiddleware, TouchpointStats } from 'express-transactionale'
import type { RecordedRequest } from 'express-transactionale/testing'

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

/** What the admin page needs of the embedded fake API: what it received and the statuses it answered. */
export type ReceivingApi = { readonly requests: readonly RecordedRequest[]; readonly events: EventEmitter }

/** A Prometheus registry as `/metrics` serves it (prom-client's `Registry` is one). */
export interface MetricsRegistry {
  readonly contentType: string
  metrics(): Promise<string>
}

export interface ShopOptions {
  /** The fake API the middleware sends to, if any: the admin page lists the touchpoints it received. */
  readonly fakeApi?: ReceivingApi
  /** Served at `/metrics` in Prometheus' text format; without it there is no `/metrics`. */
  readonly metrics?: MetricsRegistry
}

/** A touchpoint as the admin page shows it: the body and the fake's answer, never the request headers. */
export interface ReceivedTouchpoint {
  receivedAt: string
  /** The fake's answer, or `null` while it has not answered yet. */
  status: number | null
  body: unknown
}

/** What `GET /admin/state` answers; the admin page polls it. */
export interface AdminState {
  stats: TouchpointStats
  /** Newest first, at most {@link ADMIN_ROWS}. */
  orders: Order[]
  /** Newest first, at most {@link ADMIN_ROWS}; `null` when the shop talks to the real API. */
  touchpoints: ReceivedTouchpoint[] | null
}

/** Rows of each list on the admin page. */
export const ADMIN_ROWS = 20

/** The admin page's script: it polls `/admin/state` every second and redraws. */
const ADMIN_SCRIPT = path.join(__dirname, 'admin.js')

const escape = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const page = (title: string, body: string, extraStyle = ''): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(title)} · Caffè Example</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0}input,select{width:100%;padding:.4rem;box-sizing:border-box}
label.check{display:flex;gap:.5rem;align-items:flex-start}label.check input{width:auto;margin-top:.2rem}
button{margin-top:1rem;padding:.6rem 1.2rem}${extraStyle}</style></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`

// The consent box starts unticked: a pre-ticked box is not valid consent under EU law (CJEU,
// Planet49, C-673/17), so only a customer who ticks it themselves gets the partners' email.
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
  <label class="check"><input type="checkbox" name="consent" value="yes">
    <span>Email me a thank-you with offers from Transactionale's partners</span></label>
  <button type="submit">Place order</button>
</form>
<p><small><a href="/admin">Shop admin</a></small></p>`,
)

const thankYouPage = (order: Order): string =>
  page(
    'Thank you!',
    `<p>Order <code id="order-id">${escape(order.id)}</code>: ${escape(order.product)}, € ${order.price.toFixed(2)}.</p>
<p>A confirmation is on its way to ${escape(order.email)}.</p>
<p>${order.consent ? "You asked for a thank-you with offers from Transactionale's partners." : 'You did not ask for offers from partners.'}</p>
<p><a href="/">Order again</a> · <a href="/admin">Shop admin</a></p>`,
  )

const notFoundPage = page('No such order', '<p><a href="/">Back to the checkout</a></p>')

/** The customer of an order, for the touchpoint; only called for a customer who consented. */
const customerOf = (order: Order): Customer => ({
  orderId: order.id,
  email: order.email,
  firstName: order.firstName,
  country: order.country,
  transactionValue: order.price,
  transactionCurrency: 'EUR',
  ...(order.zipCode ? { zipCode: order.zipCode } : {}),
})

/** Builds the shop around a touchpoint middleware; `orders` is the in-memory store. */
export function createShopApp(
  touchpoint: TouchpointMiddleware,
  options: ShopOptions = {},
): { app: express.Express; orders: Order[] } {
  const orders: Order[] = []
  const byId = new Map<string, Order>()
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
    const input = (req.body ?? {}) as Record<string, string | boolean | undefined>
    const product = String(input.product ?? '')
    const price = PRODUCTS[product]
    // A validation error answers 4xx, never a redirect: only a placed order counts as a success.
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
    byId.set(order.id, order)

    // Consent is decided here: without it the shop passes null and no touchpoint is sent.
    res.locals.transactionale = order.consent ? customerOf(order) : null

    const location = `/orders/${order.id}`
    // An API client gets the order itself; a browser is redirected (303 See Other) to the order's
    // page, so a refresh there reloads the page instead of placing the order again.
    if (req.accepts(['html', 'json']) === 'json') return void res.status(201).location(location).json({ order })
    res.redirect(303, location)
  })

  app.get('/orders', (_req, res) => {
    res.json({ orders: orders.length })
  })

  app.get('/orders/:id', (req, res) => {
    const order = byId.get(req.params.id)
    if (order === undefined) return void res.status(404).type('html').send(notFoundPage)
    if (req.accepts(['html', 'json']) === 'json') return void res.json({ order })
    res.type('html').send(thankYouPage(order))
  })

  // The shop's own admin: customer data is fine here (a real shop puts it behind its login), the API
  // key never appears — the touchpoints shown are the bodies the fake received, not its headers.
  const statuses = new WeakMap<RecordedRequest, number>()
  options.fakeApi?.events.on('reply', (request: RecordedRequest, status: number) => statuses.set(request, status))
  const adminState = (): AdminState => ({
    stats: touchpoint.stats(),
    orders: orders.slice(-ADMIN_ROWS).reverse(),
    touchpoints:
      options.fakeApi === undefined
        ? null
        : options.fakeApi.requests
            .slice(-ADMIN_ROWS)
            .reverse()
            .map((request) => ({
              receivedAt: new Date(request.receivedAt).toISOString(),
              status: statuses.get(request) ?? null,
              body: request.body,
            })),
  })

  app.get('/admin/state', (_req, res) => {
    res.set('Cache-Control', 'no-store').json(adminState())
  })

  app.get('/admin', (_req, res) => {
    res.type('html').send(adminPage)
  })

  app.get('/admin/admin.js', (_req, res) => {
    res.sendFile(ADMIN_SCRIPT)
  })

  const metrics = options.metrics
  if (metrics !== undefined) {
    app.get('/metrics', (_req, res, next) => {
      metrics.metrics().then((text) => void res.type(metrics.contentType).send(text), next)
    })
  }

  return { app, orders }
}

const adminPage = page(
  'Shop admin',
  `<p id="updated" aria-live="polite">loading…</p>
<h2>Orders</h2>
<table><thead><tr><th>Time</th><th>Order</th><th>Product</th><th>Price</th><th>First name</th><th>Email</th>
<th>Country (typed)</th><th>Consent</th></tr></thead><tbody id="orders"></tbody></table>
<section id="touchpoints-section" hidden><h2>Touchpoints the fake Transactionale API received</h2>
<table><thead><tr><th>Time</th><th>Answer</th><th>country</th><th>first_name</th><th>email</th><th>zip_code</th>
<th>transaction_value</th></tr></thead><tbody id="touchpoints"></tbody></table></section>
<p id="real-api" hidden>Touchpoints go to the real Transactionale API; only an embedded fake API's are listed here.</p>
<h2>Middleware <code>stats()</code></h2><div id="stats"></div>
<p><a href="/">Checkout</a></p>
<script src="/admin/admin.js" defer></script>`,
  `body{max-width:60rem}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}
#stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.25rem 1.25rem;font-size:.9rem}
#stats div{display:flex;justify-content:space-between;gap:.5rem;border-bottom:1px solid #eee}
#updated{color:#666;font-size:.85rem}#updated[data-ok=false]{color:#b00}`,
)
