/** Small statistics for the benchmark: medians, percentiles and the spread of rounds. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index] ?? NaN
}

export const median = (values: readonly number[]): number => percentile(values, 50)

/** (max - min) / median of the rounds, as a fraction. */
export function spread(values: readonly number[]): number {
  if (values.length === 0) return NaN
  return (Math.max(...values) - Math.min(...values)) / median(values)
}
