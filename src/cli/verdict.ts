/**
 * The result of a pure CLI parsing step: the parsed value, or the typed error that says why the
 * input was rejected. Parsers return verdicts instead of throwing so callers handle both cases.
 */
import { InvalidArgumentError } from '../errors.js'

/** A parsed value, or the {@link InvalidArgumentError} explaining the rejection. */
export type Verdict<T> = { ok: true, value: T } | { ok: false, error: InvalidArgumentError }

/** Accept `value`. */
export function accept<T> (value: T): Verdict<T> {
  return { ok: true, value }
}

/** Reject with an {@link InvalidArgumentError} (code `INVALID_ARGUMENT`) carrying `message`. */
export function reject (message: string): Verdict<never> {
  return { ok: false, error: new InvalidArgumentError(message) }
}
