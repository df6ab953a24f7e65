/**
 * Unicode rules for customer text: the characters no one can see or that change how the text around
 * them is shown (refused in names and email addresses), names with no letter one can see, and the
 * scripts an email address may mix. `payload.ts` applies them; they say what is wrong, never the text.
 */

/** What kind of unsafe character a text holds: the words that appear in a refusal reason. */
export type UnsafeKind =
  'control characters' | 'lone surrogates' | 'noncharacters' | 'format characters' | 'line or paragraph separators'

const ANY_UNSAFE = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}\p{Cf}\p{Zl}\p{Zp}]/u

/** In the order a refusal names them when a text holds several kinds. */
const UNSAFE_KINDS: ReadonlyArray<readonly [UnsafeKind, RegExp]> = [
  ['control characters', /\p{Cc}/u],
  ['lone surrogates', /\p{Cs}/u],
  ['noncharacters', /\p{Noncharacter_Code_Point}/u],
  ['format characters', /\p{Cf}/u],
  ['line or paragraph separators', /[\p{Zl}\p{Zp}]/u],
]

/**
 * Printable ASCII, the everyday case: none of the rules below can refuse it, and this range test costs
 * a fraction of the Unicode property tests (which made validating a customer ~60 % slower without it).
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

/** True when `text` is printable ASCII only (so no rule of this file applies to it but the ASCII ones). */
export function isPrintableAscii(text: string): boolean {
  return PRINTABLE_ASCII.test(text)
}

/**
 * The first kind of character that never belongs in a name or an address, or `undefined`: C0/C1
 * controls (NUL, tab, line breaks, DEL), lone surrogates (half of a UTF-16 pair: not text, and
 * turned into U+FFFD or an error by whatever encodes it next), noncharacters (U+FDD0–U+FDEF and
 * U+xFFFE/U+xFFFF of every plane), format characters (category Cf: bidi overrides that reorder what
 * is shown, zero-width characters, soft hyphens, BOM, tags) and the line and paragraph separators
 * U+2028/U+2029 (line breaks to many renderers and older JSON parsers). Clean text costs one regex.
 */
export function unsafeCharacter(text: string): UnsafeKind | undefined {
  if (PRINTABLE_ASCII.test(text) || !ANY_UNSAFE.test(text)) return undefined
  return UNSAFE_KINDS.find(([, pattern]) => pattern.test(text))?.[0]
}

/**
 * A letter that shows: Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) are letters to Unicode but
 * draw nothing, and are "default ignorable" as are the other invisible code points.
 */
const VISIBLE_LETTER = /(?!\p{Default_Ignorable_Code_Point})\p{L}/u

/** True when `text` has at least one letter that can be seen (so not only fillers, digits or marks). */
export function hasVisibleLetter(text: string): boolean {
  return /[A-Za-z]/.test(text) || VISIBLE_LETTER.test(text)
}

/** Space separators other than the ASCII space (U+00A0, U+2007, U+3000 …) and the ASCII space too. */
const SPACE = /\p{Zs}/u
/** Invisible code points that are not format characters: fillers, variation selectors, U+034F. */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u
/**
 * Full stops that IDNA maps to `.` (ideographic, fullwidth, halfwidth): a domain written with them
 * reads as `example.com` but is not the same string, and what a mail server makes of it varies.
 */
const NON_ASCII_DOT = /[\u3002\uFF0E\uFF61]/u

/**
 * Why a trimmed email address's characters are refused, beyond {@link unsafeCharacter} (checked first,
 * on the untrimmed text: trimming removes U+2028, U+2029 and U+FEFF); `undefined` if none.
 */
export function emailCharacterProblem(
  email: string,
): 'space characters' | 'invisible characters' | 'non-ascii dot' | undefined {
  if (PRINTABLE_ASCII.test(email)) return email.includes(' ') ? 'space characters' : undefined
  if (SPACE.test(email)) return 'space characters'
  if (IGNORABLE.test(email)) return 'invisible characters'
  if (NON_ASCII_DOT.test(email)) return 'non-ascii dot'
  return undefined
}

/**
 * Scripts whose letters may be mixed in one part of an address, after UTS #39's "highly restrictive"
 * level: Japanese writes Han, Hiragana and Katakana together, Chinese Han with Bopomofo, Korean Han
 * with Hangul, and each of these may appear beside Latin (`日本語.jp`).
 */
const MIXABLE: readonly ReadonlySet<string>[] = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
]

/**
 * The Unicode scripts (ECMAScript's `Script` values), the most used first: the first that matches
 * names a character's script. A character of a script added to Unicode after this list counts as
 * `Unknown`, one script of its own.
 */
const SCRIPT_NAMES = [
  'Latin', 'Cyrillic', 'Greek', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Arabic', 'Hebrew', 'Thai',
  'Devanagari', 'Bengali', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Gujarati', 'Gurmukhi', 'Oriya',
  'Sinhala', 'Armenian', 'Georgian', 'Ethiopic', 'Khmer', 'Lao', 'Myanmar', 'Tibetan', 'Thaana', 'Bopomofo',
  'Mongolian', 'Syriac', 'Cherokee', 'Canadian_Aboriginal', 'Tifinagh', 'Nko', 'Vai', 'Yi', 'Adlam',
  'Ahom', 'Anatolian_Hieroglyphs', 'Avestan', 'Balinese', 'Bamum', 'Bassa_Vah', 'Batak', 'Bhaiksuki',
  'Brahmi', 'Braille', 'Buginese', 'Buhid', 'Carian', 'Caucasian_Albanian', 'Chakma', 'Cham', 'Chorasmian',
  'Coptic', 'Cuneiform', 'Cypriot', 'Cypro_Minoan', 'Deseret', 'Dives_Akuru', 'Dogra', 'Duployan',
  'Egyptian_Hieroglyphs', 'Elbasan', 'Elymaic', 'Glagolitic', 'Gothic', 'Grantha', 'Gunjala_Gondi',
  'Hanifi_Rohingya', 'Hanunoo', 'Hatran', 'Imperial_Aramaic', 'Inscriptional_Pahlavi',
  'Inscriptional_Parthian', 'Javanese', 'Kaithi', 'Kawi', 'Kayah_Li', 'Kharoshthi', 'Khitan_Small_Script',
  'Khojki', 'Khudawadi', 'Lepcha', 'Limbu', 'Linear_A', 'Linear_B', 'Lisu', 'Lycian', 'Lydian', 'Mahajani',
  'Makasar', 'Mandaic', 'Manichaean', 'Marchen', 'Masaram_Gondi', 'Medefaidrin', 'Meetei_Mayek',
  'Mende_Kikakui', 'Meroitic_Cursive', 'Meroitic_Hieroglyphs', 'Miao', 'Modi', 'Mro', 'Multani',
  'Nabataean', 'Nag_Mundari', 'Nandinagari', 'New_Tai_Lue', 'Newa', 'Nushu', 'Nyiakeng_Puachue_Hmong',
  'Ogham', 'Ol_Chiki', 'Old_Hungarian', 'Old_Italic', 'Old_North_Arabian', 'Old_Permic', 'Old_Persian',
  'Old_Sogdian', 'Old_South_Arabian', 'Old_Turkic', 'Old_Uyghur', 'Osage', 'Osmanya', 'Pahawh_Hmong',
  'Palmyrene', 'Pau_Cin_Hau', 'Phags_Pa', 'Phoenician', 'Psalter_Pahlavi', 'Rejang', 'Runic', 'Samaritan',
  'Saurashtra', 'Sharada', 'Shavian', 'Siddham', 'SignWriting', 'Sogdian', 'Sora_Sompeng', 'Soyombo',
  'Sundanese', 'Syloti_Nagri', 'Tagalog', 'Tagbanwa', 'Tai_Le', 'Tai_Tham', 'Tai_Viet', 'Takri', 'Tangsa',
  'Tangut', 'Tirhuta', 'Toto', 'Ugaritic', 'Vithkuqi', 'Wancho', 'Warang_Citi', 'Yezidi', 'Zanabazar_Square',
] // prettier-ignore

/** Characters of no script in particular: digits, punctuation, `-`, `.`, combining marks. */
const NO_SCRIPT = /[\p{Script=Common}\p{Script=Inherited}]/u

/**
 * The script tests, compiled on the first non-ASCII address (most shops never see one). A name the
 * running Node does not know (an older Unicode) is skipped: its characters count as `Unknown`.
 */
let scriptTests: ReadonlyArray<readonly [string, RegExp]> | undefined
function compiledScripts(): ReadonlyArray<readonly [string, RegExp]> {
  scriptTests ??= SCRIPT_NAMES.flatMap((name): Array<readonly [string, RegExp]> => {
    try {
      return [[name, new RegExp(`\\p{Script=${name}}`, 'u')]]
    } catch {
      return []
    }
  })
  return scriptTests
}

/** The scripts of `text`'s characters (those of no particular script left out). */
function scriptsOf(text: string): Set<string> {
  const scripts = new Set<string>()
  // ASCII letters are Latin, everything else ASCII is of no script: skip the regexes for them.
  if (/[A-Za-z]/.test(text)) scripts.add('Latin')
  for (const char of text) {
    if (char.charCodeAt(0) < 0x80 || NO_SCRIPT.test(char)) continue
    scripts.add(compiledScripts().find(([, pattern]) => pattern.test(char))?.[0] ?? 'Unknown')
  }
  return scripts
}

/**
 * True when the letters of `text` (one part of an address: the local part, or one label of the
 * domain) are of one script, or of one of the {@link MIXABLE} sets. `pаypal` with a Cyrillic `а` is
 * two scripts; `università`, `пример` and `日本語` are fine.
 */
export function isSingleScript(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- the ASCII range, not control characters
  if (!/[^\u0000-\u007f]/.test(text)) return true
  const scripts = scriptsOf(text)
  if (scripts.size <= 1) return true
  return MIXABLE.some((set) => [...scripts].every((script) => set.has(script)))
}
