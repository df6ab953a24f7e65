/**
 * The customer a mapper returns, its validation, and its wire form: the only place where camelCase
 * names meet the API's snake_case field names.
 */
import { createHash } from 'node:crypto'
import Joi from 'joi'
import { normalizeCountry } from './country'

/** The customer data of one completed order, as a mapper returns it. */
export interface Customer {
  /** The customer's email address. Required. */
  email: string
  /** The customer's first name; the email is personalised with it. Required. */
  firstName: string
  /**
   * Country of the order: an ISO 3166-1 alpha-2 code (`IT`), an alpha-3 code or a country name
   * (see `normalizeCountry`). Required unless the factory option `country` gives a default.
   */
  country?: string
  /** Zip / postal code; geo-targeted offers are preferred when present. */
  zipCode?: string
  /** The customer's surname. */
  lastName?: string
  /** Order value, without currency. */
  transactionValue?: number
  /** ISO 4217 three-letter currency code (`EUR`). */
  transactionCurrency?: string
  /** National identification number, e.g. the Italian codice fiscale. */
  nationalIdentificationNumber?: string
  /** Four-digit birth year, e.g. `"1976"` (a number is accepted). */
  birthYear?: string | number
  /** `M` or `F`. */
  gender?: string
  /** Phone number. */
  phone?: string
  /**
   * The shop's own order id. Never sent to Transactionale: it identifies the order in logs and hooks
   * and deduplicates double submissions.
   */
  orderId?: string | number
}

/** The JSON body sent to Transactionale, with the documented wire names. */
export interface WirePayload {
  country: string
  email: string
  first_name: string
  zip_code?: string
  last_name?: string
  transaction_value?: number
  transaction_currency?: string
  national_identification_number?: string
  birth_year?: string
  gender?: string
  phone?: string
}

/** camelCase name → wire name, for every field that is sent. */
export const WIRE_NAMES = {
  country: 'country',
  email: 'email',
  firstName: 'first_name',
  zipCode: 'zip_code',
  lastName: 'last_name',
  transactionValue: 'transaction_value',
  transactionCurrency: 'transaction_currency',
  nationalIdentificationNumber: 'national_identification_number',
  birthYear: 'birth_year',
  gender: 'gender',
  phone: 'phone',
} as const satisfies Record<keyof Omit<Customer, 'orderId'>, keyof WirePayload>

const REQUIRED_FIELDS: ReadonlySet<string> = new Set(['email', 'firstName', 'country'])

const text = (max: number): Joi.StringSchema => Joi.string().trim().min(1).max(max)

const country = Joi.any().custom((value: unknown, helpers) => {
  const code = normalizeCountry(value)
  return code ?? helpers.error('any.invalid')
})

const customerSchema = Joi.object({
  email: Joi.string()
    .trim()
    .lowercase()
    .max(254)
    .email({ tlds: { allow: false } })
    .required(),
  firstName: text(100).required(),
  country: country.required(),
  zipCode: Joi.string()
    .trim()
    .max(16)
    .pattern(/^[A-Za-z0-9][A-Za-z0-9 -]*$/),
  lastName: text(100),
  transactionValue: Joi.number().min(0).max(1e12),
  transactionCurrency: Joi.string()
    .trim()
    .uppercase()
    .pattern(/^[A-Z]{3}$/),
  nationalIdentificationNumber: text(32).pattern(/^[A-Za-z0-9 -]+$/),
  birthYear: Joi.any().custom((value: unknown, helpers) => {
    const year = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : ''
    const valid = /^\d{4}$/.test(year) && Number(year) >= 1900 && Number(year) <= new Date().getFullYear()
    return valid ? year : helpers.error('any.invalid')
  }),
  gender: Joi.string().trim().uppercase().valid('M', 'F'),
  phone: Joi.string()
    .trim()
    .max(32)
    .pattern(/^\+?[0-9 ()./-]{4,31}$/),
  orderId: Joi.alternatives().try(Joi.string().trim().min(1).max(200), Joi.number()),
})
  .unknown(true)
  .options({ abortEarly: false, stripUnknown: true })

/** A customer that passed validation, with normalised values. */
export type ValidCustomer = Omit<Customer, 'birthYear' | 'orderId'> & {
  country: string
  birthYear?: string
  orderId?: string
}

/** What validation made of a mapper's result. */
export type ValidationResult =
  | {
      readonly ok: true
      readonly customer: ValidCustomer
      /** Optional fields that were invalid and are left out of the request (names only). */
      readonly dropped: readonly string[]
    }
  | {
      readonly ok: false
      /** `field: reason` for each problem; field names and joi reasons, never values. */
      readonly reasons: readonly string[]
    }

/**
 * Validates and normalises a mapper's result. A bad required field makes the whole customer
 * invalid; a bad optional field is dropped (an order is worth more than its zip code).
 */
export function validateCustomer(input: unknown, defaultCountry?: string): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, reasons: ['customer: must be an object'] }
  }
  const candidate =
    defaultCountry !== undefined && (input as Customer).country === undefined
      ? { ...input, country: defaultCountry }
      : input
  const { value, error } = customerSchema.validate(candidate) as {
    value: Record<string, unknown>
    error?: Joi.ValidationError
  }
  if (error === undefined) return { ok: true, customer: withStringOrderId(value), dropped: [] }

  const badFields = new Set(error.details.map((d) => String(d.path[0] ?? 'customer')))
  const badRequired = error.details.filter((d) => REQUIRED_FIELDS.has(String(d.path[0])))
  if (badRequired.length > 0) {
    return { ok: false, reasons: badRequired.map((d) => `${String(d.path[0])}: ${d.type}`) }
  }
  const kept = { ...value }
  for (const field of badFields) delete kept[field]
  return { ok: true, customer: withStringOrderId(kept), dropped: [...badFields] }
}

function withStringOrderId(value: Record<string, unknown>): ValidCustomer {
  if (typeof value.orderId === 'number') value.orderId = String(value.orderId)
  return value as ValidCustomer
}

/** The exact JSON body for a validated customer: wire names, absent fields omitted, no orderId. */
export function toWirePayload(customer: ValidCustomer): WirePayload {
  const body: Record<string, unknown> = {}
  for (const [name, wire] of Object.entries(WIRE_NAMES)) {
    const value = customer[name as keyof typeof WIRE_NAMES]
    if (value !== undefined) body[wire] = value
  }
  return body as unknown as WirePayload
}

/** A short, stable, non-reversible tag for an email, so logs can correlate without holding PII. */
export function emailHash(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 12)
}
