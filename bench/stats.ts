/** Small statistics helpers for the benchmark harness (pure). */

/** The q-quantile (0..1) of a list of numbers (nearest rank); NaN for an empty list. */
export function quantile (values: number[], q: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Median, min and max of repeated runs. */
export interface Spread { median: number, min: number, max: number }

/**
 * Spread of repeated measurements. Non-finite values (a run that measured nothing) are left
 * out; with none left every field is NaN (written as `null` in JSON).
 */
export function spread (values: number[]): Spread {
  const ok = values.filter(v => Number.isFinite(v))
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN }
  return { median: quantile(ok, 0.5), min: Math.min(...ok), max: Math.max(...ok) }
}
