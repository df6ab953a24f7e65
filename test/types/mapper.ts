// Type tests of the mapper (checked by test/types.test.ts with the TypeScript compiler, and by
// `npm run typecheck`): a misspelt field in the object a mapper returns is a compile error, sync or
// async, inline or a named function; valid mappers compile. Each `@ts-expect-error` must be needed,
// and test/types.test.ts checks that the error it silences names the misspelt field.
import type { Request } from 'express'
import { transactionaleTouchpoint, type Customer, type Mapper } from 'express-transactionale'

const apiKey = 'k'
const route = '/checkout'
interface Order {
  email: string
  name: string
  country: string
  id: number
}
declare const order: Order
declare function findOrder(id: string): Promise<Order>

// ── Misspelt fields: compile errors ────────────────────────────────────────────────────────────
transactionaleTouchpoint({
  apiKey,
  route,
  // @ts-expect-error countyr: inline, sync
  mapper: () => ({ email: order.email, firstName: order.name, countyr: 'IT' }),
})

transactionaleTouchpoint({
  apiKey,
  route,
  // @ts-expect-error countyr: inline, async
  mapper: async (req) => {
    const found = await findOrder(String(req.params.id))
    return { email: found.email, firstName: found.name, countyr: found.country }
  },
})

transactionaleTouchpoint({
  apiKey,
  route,
  // @ts-expect-error frstName: inline, sync, with a branch that sends nothing
  mapper: (req) => (req.body === undefined ? null : { email: order.email, frstName: order.name, country: 'IT' }),
})

function namedMapper(_req: Request) {
  return { email: order.email, firstName: order.name, countyr: order.country }
}
// @ts-expect-error countyr: a named function, sync
transactionaleTouchpoint({ apiKey, route, mapper: namedMapper })

async function namedAsyncMapper(req: Request) {
  const found = await findOrder(String(req.params.id))
  if (found.id < 0) return undefined
  return { email: found.email, firstName: found.name, zipcode: '00100', country: found.country }
}
// @ts-expect-error zipcode: a named function, async
transactionaleTouchpoint({ apiKey, route, mapper: namedAsyncMapper })

const arrowMapper = (_req: Request, _res: unknown, body: unknown) => ({
  email: (body as Order).email,
  firstName: (body as Order).name,
  transactionValu: 10,
})
// @ts-expect-error transactionValu: a named arrow function reading the response body
transactionaleTouchpoint({ apiKey, route, mapper: arrowMapper })

// ── Valid mappers: they compile ─────────────────────────────────────────────────────────────────
transactionaleTouchpoint({ apiKey, route })
transactionaleTouchpoint({
  apiKey,
  route,
  mapper: () => ({ email: order.email, firstName: order.name, country: 'IT' }),
})
transactionaleTouchpoint({
  apiKey,
  route,
  mapper: async (req) => {
    const found = await findOrder(String(req.params.id))
    if (found.id < 0) return null
    return { email: found.email, firstName: found.name, country: found.country, orderId: found.id, birthYear: 1980 }
  },
})
transactionaleTouchpoint({ apiKey, route, mapper: (_req, res) => res.locals.transactionale })
transactionaleTouchpoint({ apiKey, route, mapper: (_req, _res, body) => (body as { customer: Customer }).customer })
// A wider object on purpose: the mapper says it returns a Customer.
transactionaleTouchpoint({ apiKey, route, mapper: (): Customer => ({ ...order, firstName: order.name }) })
function annotated(): Customer {
  return { email: order.email, firstName: order.name, country: 'IT' }
}
transactionaleTouchpoint({ apiKey, route, mapper: annotated })
const typed: Mapper = () => Promise.resolve({ email: order.email, firstName: order.name, country: 'IT' })
transactionaleTouchpoint({ apiKey, route, mapper: typed })
