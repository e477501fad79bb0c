/** Small statistics helpers for the benchmark harness. */

/** The q-quantile (0..1) of a list of numbers (nearest rank). */
export function quantile (values: number[], q: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Median, min and max of repeated runs. */
export interface Spread { median: number, min: number, max: number }

/** Spread of repeated measurements. */
export function spread (values: number[]): Spread {
  return { median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values) }
}
