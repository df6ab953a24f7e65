/* global document, fetch, setTimeout */
// The shop admin page's script: fetches /admin/state every second and redraws the orders, the
// touchpoints the fake API received and the middleware's stats(). It writes with textContent only,
// so customer input never becomes markup.
'use strict'

const byId = (id) => document.getElementById(id)

const cell = (tag, text) => {
  const element = document.createElement(tag)
  element.textContent = text
  return element
}

const fill = (tbodyId, lines) => {
  byId(tbodyId).replaceChildren(
    ...lines.map((line) => {
      const tr = document.createElement('tr')
      tr.append(...line.map((text) => cell('td', text)))
      return tr
    }),
  )
}

const time = (iso) => new Date(iso).toLocaleTimeString('en-GB')

// { skipped: { total: 1 } } → [['skipped.total', '1']]
const flatten = (value, prefix = '') =>
  value !== null && typeof value === 'object'
    ? Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key))
    : [[prefix, String(value)]]

const render = (state) => {
  byId('stats').replaceChildren(
    ...flatten(state.stats).map(([name, value]) => {
      const row = document.createElement('div')
      row.dataset.stat = name
      row.append(cell('span', name), cell('strong', value))
      return row
    }),
  )
  fill(
    'orders',
    state.orders.map((o) => [
      time(o.createdAt),
      o.id.slice(0, 8),
      o.product,
      `€ ${o.price.toFixed(2)}`,
      o.firstName,
      o.email,
      o.country,
      o.consent ? 'yes' : 'no',
    ]),
  )
  byId('touchpoints-section').hidden = state.touchpoints === null
  byId('real-api').hidden = state.touchpoints !== null
  fill(
    'touchpoints',
    (state.touchpoints ?? []).map((t) => {
      const body = t.body ?? {}
      const field = (name) => (body[name] === undefined ? '' : String(body[name]))
      return [
        time(t.receivedAt),
        t.status === null ? '…' : String(t.status),
        field('country'),
        field('first_name'),
        field('email'),
        field('zip_code'),
        field('transaction_value'),
      ]
    }),
  )
  const updated = byId('updated')
  updated.textContent = `Live: updated ${new Date().toLocaleTimeString('en-GB')}, every second.`
  updated.dataset.ok = 'true'
}

// One request at a time: the next poll is scheduled when this one has settled.
const poll = () => {
  fetch('/admin/state', { headers: { Accept: 'application/json' } })
    .then(async (response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      render(await response.json())
    })
    .catch((error) => {
      const updated = byId('updated')
      updated.textContent = `The shop is unreachable (${String(error)}); retrying every second…`
      updated.dataset.ok = 'false'
    })
    .finally(() => setTimeout(poll, 1000))
}

poll()
