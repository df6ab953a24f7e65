/**
 * Country normalisation: turns what shops really store (alpha-2 or alpha-3 codes, English or local
 * names, any case, stray spaces or accents) into the ISO 3166-1 alpha-2 code the API wants.
 * The lookup table is built once, on first use, from i18n-iso-countries.
 */
import type { LocaleData } from 'i18n-iso-countries'
import { loadDependency } from './load-dependency'

/** Locales whose country names are recognised (Transactionale's markets and their neighbours). */
export const COUNTRY_NAME_LOCALES = ['en', 'it', 'de', 'fr', 'es', 'nl', 'pt'] as const

let lookup: Map<string, string> | undefined

/** Lower case, no accents, single spaces, no dots: "  Côte d'Ivoire " and "cote d'ivoire" meet. */
function fold(value: string): string {
  return value
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\./g, '')
    .replace(/\s+/g, ' ')
    .trim()
}

function buildLookup(): Map<string, string> {
  // The package's browser entry: its Node entry registers all 78 locales when loaded, and we need seven.
  const countries = loadDependency<typeof import('i18n-iso-countries')>('i18n-iso-countries/index')
  for (const locale of COUNTRY_NAME_LOCALES) {
    countries.registerLocale(loadDependency<LocaleData>(`i18n-iso-countries/langs/${locale}.json`))
  }
  const table = new Map<string, string>()
  for (const [alpha2, alpha3] of Object.entries(countries.getAlpha2Codes())) {
    table.set(fold(alpha2), alpha2)
    table.set(fold(alpha3), alpha2)
  }
  for (const locale of COUNTRY_NAME_LOCALES) {
    for (const [alpha2, names] of Object.entries(countries.getNames(locale, { select: 'all' }))) {
      for (const name of names) {
        const key = fold(name)
        // Codes win over names; the first locale that names a country wins over later ones.
        if (!table.has(key)) table.set(key, alpha2)
      }
    }
  }
  return table
}

/**
 * Normalises a country to its ISO 3166-1 alpha-2 code.
 *
 * Accepts an alpha-2 or alpha-3 code in any case (`"it"`, `"DEU"`), or a country name in English,
 * Italian, German, French, Spanish, Dutch or Portuguese (`"Germany"`, `"germania"`, `"Italia"`);
 * surrounding spaces, case and accents do not matter. `"UK"` is accepted for `GB`.
 *
 * @returns the alpha-2 code (`"DE"`), or `undefined` when the value is not a known country.
 */
export function normalizeCountry(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 100) return undefined
  lookup ??= buildLookup()
  // Shops mostly store a clean code or name, which lower case alone turns into a key: skip the fold.
  const lower = value.toLowerCase()
  const key = lookup.has(lower) ? lower : fold(value)
  if (key === 'uk') return 'GB'
  return lookup.get(key)
}
