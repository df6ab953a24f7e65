/**
 * Types `res.locals.transactionale`, where the default mapper looks for the customer of a completed
 * order. Merges into the global `Express.Locals` interface, which `res.locals` extends in the types of
 * both Express 4 and Express 5 (@types/express-serve-static-core 4.x and 5.x).
 */
import type { Customer } from './payload'

declare global {
  // Declaration merging into Express's own global namespace is the only way to type res.locals.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /**
       * The customer of the completed order, read by the default mapper. `null` or `undefined` (or not
       * setting it) sends nothing.
       */
      transactionale?: Customer | null | undefined
    }
  }
}
