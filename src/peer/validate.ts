/**
 * Argument checks at the API boundary. Each function either returns the normalised value or
 * throws a typed error, before anything reaches the sequencer or the store.
 */
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError } from '../errors.js'
import { MAX_REQUEST_ID_LENGTH, MAX_TTL_MS } from '../constants.js'

const encoder = new TextEncoder()

function wellFormed (s: string): boolean {
  return (s as any).isWellFormed?.() ?? !/\p{Surrogate}/u.test(s)
}

/** A key: non-empty, well-formed string of at most `maxBytes` UTF-8 bytes. */
export function checkKey (key: unknown, maxBytes: number, what = 'key'): string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${typeof key}`)
  if (key.length === 0) throw new InvalidArgumentError(`${what} must not be empty`)
  if (!wellFormed(key)) throw new InvalidArgumentError(`${what} is not well-formed Unicode (lone surrogate)`)
  if (key.length > maxBytes / 3) {
    const bytes = encoder.encode(key).length
    if (bytes > maxBytes) throw new KeyTooLargeError(bytes, maxBytes)
  }
  return key
}

/** A bound string for range (may be empty). */
export function checkBound (s: unknown, what: string): string | undefined {
  if (s === undefined) return undefined
  if (typeof s !== 'string') throw new InvalidArgumentError(`${what} must be a string`)
  if (!wellFormed(s)) throw new InvalidArgumentError(`${what} is not well-formed Unicode (lone surrogate)`)
  return s
}

/**
 * A value as bytes, at most `maxBytes`. Strings are UTF-8 encoded; byte arrays are copied so the
 * caller may reuse its buffer as soon as the call returns.
 */
export function checkValue (value: unknown, maxBytes: number, what = 'value'): Uint8Array {
  let bytes: Uint8Array
  if (typeof value === 'string') {
    if (!wellFormed(value)) throw new InvalidArgumentError(`${what} is not well-formed Unicode (lone surrogate)`)
    if (value.length > maxBytes) throw new ValueTooLargeError(Buffer.byteLength(value), maxBytes)
    bytes = encoder.encode(value)
  } else if (value instanceof Uint8Array) {
    bytes = new Uint8Array(value)
  } else {
    throw new InvalidArgumentError(`${what} must be a string or Uint8Array, got ${value === null ? 'null' : typeof value}`)
  }
  if (bytes.length > maxBytes) throw new ValueTooLargeError(bytes.length, maxBytes)
  return bytes
}

/** An integer in [min, max], or undefined when not given. */
export function checkInt (n: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (n === undefined) return undefined
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}, got ${String(n)}`)
  }
  return n
}

/** A TTL in ms: 0 (no expiry) up to 100 years. */
export function checkTtl (n: unknown, what = 'ttlMs'): number | undefined {
  return checkInt(n, what, 0, MAX_TTL_MS)
}

/** A boolean flag, or undefined. */
export function checkFlag (b: unknown, what: string): boolean | undefined {
  if (b === undefined) return undefined
  if (typeof b !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean`)
  return b
}

/** A request id: 1–128 characters. */
export function checkId (id: unknown): string | undefined {
  if (id === undefined) return undefined
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) {
    throw new InvalidArgumentError(`id must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`)
  }
  return id
}

/** An options argument: undefined or a plain object. */
export function checkOptions<T extends object> (o: unknown, what: string): Partial<T> {
  if (o === undefined || o === null) return {}
  if (typeof o !== 'object') throw new InvalidArgumentError(`${what} options must be an object`)
  return o as Partial<T>
}

/** An AbortSignal, or undefined. */
export function checkSignal (s: unknown): AbortSignal | undefined {
  if (s === undefined) return undefined
  if (!(s instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal')
  return s
}
