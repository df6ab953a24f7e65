/**
 * The customer a mapper returns, its validation, and its wire form: the only place where camelCase
 * names meet the API's snake_case field names.
 *
 * Validation never throws, whatever a mapper returns: each known field is read exactly once, inside
 * try/catch (ORM lazy getters and Proxies throw), and parsed by a small typed parser that looks only
 * at primitives and measures a string's length before any regex touches it. Unknown keys, prototypes
 * and nested values are never walked.
 */
import { domainToUnicode } from 'node:url'
import type Joi from 'joi'
import { loadDependency } from './load-dependency'
import { normalizeCountry } from './country'
import {
  emailCharacterProblem,
  hasVisibleLetter,
  isPrintableAscii,
  isSingleScript,
  unsafeCharacter,
  type UnsafeKind,
} from './unicode'

/** The customer data of one completed order, as a mapper returns it. */
export interface Customer {
  /**
   * The customer's email address. Required. Refused when it holds control, format (bidi controls,
   * zero-width characters, soft hyphens), invisible or space characters, lone surrogates,
   * noncharacters, line/paragraph separators or a non-ASCII dot (`。`), or when its local part or a
   * label of its domain mixes scripts (`pаypal.com` with a Cyrillic `а`); an IDN domain whose labels
   * are each in one script (`università.it`, `пример.рф`) is fine.
   */
  email: string
  /**
   * The customer's first name; the email is personalised with it. Required. Refused when it holds
   * control characters (NUL, tab, line breaks …), format characters (bidi controls, zero-width
   * characters, soft hyphens), lone surrogates, noncharacters or line/paragraph separators, or when
   * it has no letter one can see (only Hangul fillers, digits or punctuation).
   */
  firstName: string
  /**
   * Country of the order: an ISO 3166-1 alpha-2 code (`IT`), an alpha-3 code or a country name
   * (see `normalizeCountry`). Required unless the factory option `country` gives a default, which is
   * then used whenever this one is missing or not a known country.
   */
  country?: string
  /** Zip / postal code; geo-targeted offers are preferred when present. */
  zipCode?: string
  /** The customer's surname. Same rules as `firstName`, but optional: a bad one is left out. */
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
   * The shop's own order id, of any length (a number is turned into a string). Never sent to
   * Transactionale: it identifies the order in logs and hooks and deduplicates double submissions.
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
      /** Fields replaced by their configured default because the mapper's value was unusable (names only). */
      readonly defaulted: readonly string[]
    }
  | {
      readonly ok: false
      /** `field: reason` for each problem, e.g. `email: not a valid email address`; never values. */
      readonly reasons: readonly string[]
    }

/** Why a field's value was refused: a short text, never the value itself. */
class Refusal {
  constructor(readonly reason: string) {}
}

const MISSING = new Refusal('required')
const UNREADABLE = new Refusal('could not be read')
const NOT_TEXT = new Refusal('must be a string')
const TOO_LONG = new Refusal('too long')
const NO_VISIBLE_LETTER = new Refusal('no visible letter')
const NOT_AN_EMAIL = new Refusal('not a valid email address')
const UNKNOWN_COUNTRY = new Refusal('not a known country or code')
const NOT_A_NUMBER = new Refusal('must be a finite number')
const OUT_OF_RANGE = new Refusal('out of range')
const NOT_A_YEAR = new Refusal('not a four-digit year from 1900 to this year')
const NOT_AN_ID = new Refusal('must be a non-empty string or a finite number')
const BAD_FORMAT = new Refusal('not in the expected format')
const UNSAFE_NUMBER = new Refusal('a number too large to be exact')
const MIXED_LOCAL_PART = new Refusal('local part mixes scripts')
const MIXED_DOMAIN = new Refusal('domain mixes scripts')
/** One refusal per kind of character, named by the kind (`firstName: format characters`). */
const UNSAFE: Readonly<Record<UnsafeKind | NonNullable<ReturnType<typeof emailCharacterProblem>>, Refusal>> = {
  'control characters': new Refusal('control characters'),
  'lone surrogates': new Refusal('lone surrogates'),
  noncharacters: new Refusal('noncharacters'),
  'format characters': new Refusal('format characters'),
  'line or paragraph separators': new Refusal('line or paragraph separators'),
  'space characters': new Refusal('space characters'),
  'invisible characters': new Refusal('invisible characters'),
  'non-ascii dot': new Refusal('non-ascii dot'),
}

/**
 * No string longer than this is trimmed, stripped or matched: every field's limit is far below it
 * (the longest, email, is 254), so a 1 MB string is refused after one length check. The order id,
 * which has no limit, is only trimmed.
 */
const RAW_MAX = 1024

/** Parses a field's value (never `undefined`: absence is handled once, by the caller). */
type Parse<T> = (value: unknown) => T | Refusal

interface FieldRule<T> {
  /** A refused required field makes the whole customer invalid; a refused optional one is dropped. */
  readonly required: boolean
  readonly parse: Parse<T>
}

/** A trimmed, non-empty string of at most `max` characters. */
function text(value: unknown, max: number): string | Refusal {
  if (typeof value !== 'string') return value === null ? MISSING : NOT_TEXT
  if (value.length > RAW_MAX) return TOO_LONG
  const trimmed = value.trim()
  if (trimmed === '') return MISSING
  return trimmed.length > max ? TOO_LONG : trimmed
}

/** `text`, upper-cased if asked, then matched against `pattern`. */
function matching(max: number, pattern: RegExp, upperCase = false): Parse<string> {
  return (value) => {
    const trimmed = text(value, max)
    if (trimmed instanceof Refusal) return trimmed
    const normalised = upperCase ? trimmed.toUpperCase() : trimmed
    return pattern.test(normalised) ? normalised : BAD_FORMAT
  }
}

/**
 * Joi's email rule (from @hapi/address) is the authority on addresses; it costs ~4 µs per call.
 * Joi is loaded when the factory starts (see {@link prepareValidation}), not at import: it is a
 * third of what importing the package would cost.
 */
let emailRule: Joi.StringSchema | undefined

/** Loads and compiles what validation needs; the factory calls it, so no order pays for it. */
export function prepareValidation(): void {
  emailRule ??= loadDependency<typeof Joi>('joi')
    .string()
    .email({ tlds: { allow: false } })
  normalizeCountry('IT') // builds the country table
}

/**
 * The everyday address shape, a strict subset of what the email rule accepts (test/payload-email.test.ts
 * checks both agree), so the common case skips the ~4 µs of the full rule. `xn--` labels
 * are left to the full rule, which decodes punycode.
 */
const PLAIN_EMAIL =
  /^[a-z0-9_+'-]+(?:\.[a-z0-9_+'-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** Whether `email` (trimmed, lower-cased) is a valid address, as joi's `email({ tlds: { allow: false } })` decides. */
function isEmailAddress(email: string): boolean {
  if (email.length <= 254 && email.indexOf('@') <= 64 && !email.includes('xn--') && PLAIN_EMAIL.test(email)) return true
  prepareValidation()
  return (emailRule as Joi.StringSchema).validate(email).error === undefined
}

/**
 * The characters are checked before the syntax (so the reason names the kind of character), and the
 * scripts after it (see `isSingleScript`): the local part must be in one script, and so must each
 * label of the domain, a punycode (`xn--`) label judged by what it decodes to. A label is what is
 * registered, and what registries' IDN tables and browsers' look-alike checks judge, so a Greek or
 * Cyrillic name under a Latin TLD (`παράδειγμα.gr`, `пример.com`) is fine while `pаypal.com` with a
 * Cyrillic `а` is not. The local part gets the same rule: it cannot send mail elsewhere, but a mixed
 * one is a look-alike or a keyboard-layout slip, not a mailbox anyone has.
 */
function parseEmail(value: unknown): string | Refusal {
  if (typeof value !== 'string') return value === null ? MISSING : NOT_TEXT
  if (value.length > RAW_MAX) return TOO_LONG
  const unsafe = unsafeCharacter(value)
  if (unsafe !== undefined) return UNSAFE[unsafe]
  const email = value.trim().toLowerCase()
  if (email === '') return MISSING
  if (email.length > 254) return TOO_LONG
  const characters = emailCharacterProblem(email)
  if (characters !== undefined) return UNSAFE[characters]
  if (!isEmailAddress(email)) return NOT_AN_EMAIL
  // ASCII letters are all Latin: only a punycode label can hide another script.
  if (isPrintableAscii(email) && !email.includes('xn--')) return email
  const at = email.lastIndexOf('@')
  let domain = email.slice(at + 1)
  if (domain.includes('xn--')) {
    domain = domainToUnicode(domain)
    if (domain === '') return NOT_AN_EMAIL
    const hidden = unsafeCharacter(domain) ?? emailCharacterProblem(domain)
    if (hidden !== undefined) return UNSAFE[hidden]
  }
  if (!isSingleScript(email.slice(0, at))) return MIXED_LOCAL_PART
  return domain.split('.').every(isSingleScript) ? email : MIXED_DOMAIN
}

function parseName(value: unknown): string | Refusal {
  if (typeof value !== 'string') return value === null ? MISSING : NOT_TEXT
  if (value.length > RAW_MAX) return TOO_LONG
  // Before trimming, which would remove U+2028, U+2029 and U+FEFF from the ends.
  const unsafe = unsafeCharacter(value)
  if (unsafe !== undefined) return UNSAFE[unsafe]
  const name = value.trim()
  if (name === '') return MISSING
  if (name.length > 100) return TOO_LONG
  return hasVisibleLetter(name) ? name : NO_VISIBLE_LETTER
}

function parseCountry(value: unknown): string | Refusal {
  if (value === null || (typeof value === 'string' && value.length <= RAW_MAX && value.trim() === '')) return MISSING
  return normalizeCountry(value) ?? UNKNOWN_COUNTRY
}

/** A decimal number as a string, as shops' DECIMAL columns hold prices (joi's rule, which we kept). */
const NUMERIC = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?\s*$/i

function parseAmount(value: unknown): number | Refusal {
  let amount: number
  if (typeof value === 'number') amount = value
  else if (typeof value === 'string' && value.length <= 64 && NUMERIC.test(value)) amount = parseFloat(value)
  else return NOT_A_NUMBER
  if (!Number.isFinite(amount)) return NOT_A_NUMBER
  if (amount < 0 || amount > 1e12) return OUT_OF_RANGE
  return amount === 0 ? 0 : amount // no -0 on the wire
}

/** Any year up to this one is not in the future, whenever it is checked: saves a Date per order. */
const A_PAST_YEAR = new Date().getFullYear()

function parseBirthYear(value: unknown): string | Refusal {
  const year =
    typeof value === 'number' ? String(value) : typeof value === 'string' && value.length <= RAW_MAX ? value.trim() : ''
  if (!/^\d{4}$/.test(year)) return NOT_A_YEAR
  const number = Number(year)
  return number >= 1900 && (number <= A_PAST_YEAR || number <= new Date().getFullYear()) ? year : NOT_A_YEAR
}

/**
 * Beyond ±2^53 a number has already lost digits, so two orders could share one id (and one dedupe
 * key): such ids are refused, as joi's number rule did.
 */
function parseOrderId(value: unknown): string | Refusal {
  if (typeof value === 'string') {
    const id = value.trim()
    return id === '' ? NOT_AN_ID : id
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return NOT_AN_ID
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return UNSAFE_NUMBER
  return String(value)
}

/** Every field a mapper may return, with its rule: the compiler checks none is missing or mistyped. */
const RULES = {
  email: { required: true, parse: parseEmail },
  firstName: { required: true, parse: parseName },
  country: { required: true, parse: parseCountry },
  zipCode: { required: false, parse: matching(16, /^[A-Za-z0-9][A-Za-z0-9 -]*$/) },
  lastName: { required: false, parse: parseName },
  transactionValue: { required: false, parse: parseAmount },
  transactionCurrency: { required: false, parse: matching(RAW_MAX, /^[A-Z]{3}$/, true) },
  nationalIdentificationNumber: { required: false, parse: matching(32, /^[A-Za-z0-9 -]+$/) },
  birthYear: { required: false, parse: parseBirthYear },
  gender: { required: false, parse: matching(RAW_MAX, /^[MF]$/, true) },
  phone: { required: false, parse: matching(32, /^\+?[0-9 ()./-]{4,31}$/) },
  orderId: { required: false, parse: parseOrderId },
} as const satisfies { readonly [K in keyof ValidCustomer]-?: FieldRule<NonNullable<ValidCustomer[K]>> }

const FIELDS = Object.entries(RULES) as ReadonlyArray<[keyof ValidCustomer, FieldRule<unknown>]>

const NONE: readonly string[] = Object.freeze([])
const COUNTRY: readonly string[] = Object.freeze(['country'])
const NOT_AN_OBJECT: ValidationResult = Object.freeze({
  ok: false,
  reasons: Object.freeze(['customer: must be an object']),
})
const CUSTOMER_UNREADABLE: ValidationResult = Object.freeze({
  ok: false,
  reasons: Object.freeze(['customer: could not be read']),
})

/**
 * Validates and normalises a mapper's result; never throws. A bad required field makes the whole
 * customer invalid; a bad optional field is dropped (an order is worth more than its zip code). With
 * `defaultCountry`, a missing or unknown country falls back to it and is listed in `defaulted`.
 */
export function validateCustomer(input: unknown, defaultCountry?: string): ValidationResult {
  if (typeof input !== 'object' || input === null) return NOT_AN_OBJECT
  try {
    if (Array.isArray(input)) return NOT_AN_OBJECT
  } catch {
    return CUSTOMER_UNREADABLE // a revoked Proxy
  }
  const source = input as Record<string, unknown>
  const customer: Record<string, unknown> = {}
  let reasons: string[] | undefined
  let dropped: string[] | undefined
  let defaulted = NONE
  for (const [name, rule] of FIELDS) {
    let outcome: unknown
    try {
      const value = source[name]
      outcome = value === undefined ? (rule.required ? MISSING : undefined) : rule.parse(value)
    } catch {
      outcome = UNREADABLE
    }
    if (!(outcome instanceof Refusal)) {
      if (outcome !== undefined) customer[name] = outcome
      continue
    }
    if (name === 'country' && defaultCountry !== undefined) {
      const fallback = normalizeCountry(defaultCountry)
      if (fallback !== undefined) {
        customer.country = fallback
        defaulted = COUNTRY
        continue
      }
    }
    if (rule.required) (reasons ??= []).push(`${name}: ${outcome.reason}`)
    else (dropped ??= []).push(name)
  }
  if (reasons !== undefined) return { ok: false, reasons }
  return { ok: true, customer: customer as ValidCustomer, dropped: dropped ?? NONE, defaulted }
}

const WIRE_ENTRIES = Object.entries(WIRE_NAMES) as ReadonlyArray<[keyof typeof WIRE_NAMES, keyof WirePayload]>

/** The exact JSON body for a validated customer: wire names, absent fields omitted, no orderId. */
export function toWirePayload(customer: ValidCustomer): WirePayload {
  const body: Record<string, unknown> = {}
  for (const [name, wire] of WIRE_ENTRIES) {
    const value = customer[name]
    if (value !== undefined) body[wire] = value
  }
  return body as unknown as WirePayload
}

export { dedupeKeyOf, emailHash } from './keys'
