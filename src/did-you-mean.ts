/**
 * "unknown option "x"; did you mean "y"?": the hint every options parser gives for a misspelt name
 * (the middleware's, the stores', the worker's), in one place.
 */

/** "unknown option "x"; did you mean "y"?" — the hint only when a known name is close enough. */
export function unknownName(what: string, key: string, known: readonly string[]): string {
  const hint = closest(key, known)
  return `unknown ${what} "${key}"${hint ? `; did you mean "${hint}"?` : ''}`
}

/**
 * Reports each key of an options object that is not a known option, with the hint above. Every
 * options parser (the middleware's, the stores', the worker's) starts with this.
 */
export function reportUnknownKeys(
  raw: object,
  known: readonly string[],
  report: (key: string, message: string) => void,
): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) report(key, unknownName('option', key, known))
  }
}

/** The known option nearest to a misspelt one (case-insensitive, edit distance ≤ 3). */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 4
  for (const candidate of candidates) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
