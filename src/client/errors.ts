/**
 * Typed errors across the client/forwarding protocol. The server turns whatever its `execute`
 * threw into a {@link WireError} ({@link errorToWire}); the client rebuilds an instance of the
 * same class with the same `code`, `name`, `message` and fields ({@link errorFromWire}), so a
 * write forwarded by a secondary fails exactly as it would have on the primary.
 *
 * - A `KvgridError` travels as its `code`, `name` and `message`, plus `primary` for
 *   `NotPrimaryError` and `unconfirmed` for `OperationFailedError` (whose `id` is the request id).
 * - Anything else (a bug on the primary) travels as code `INTERNAL`, name `InternalError`.
 * - Codes the client does not know (a newer primary) become a plain `KvgridError` with that
 *   code and name.
 */
import {
  AbortError, ClusterUnavailableError, DataDirLockedError, FutureRevisionError, InvalidArgumentError,
  KeyTooLargeError, KvgridError, NetworkError, NotPrimaryError, OperationFailedError, PeerStoppedError,
  RevisionCompactedError, StorageError, ValueTooLargeError
} from '../errors.js'
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_PEER_ID_BYTES, MAX_UNCONFIRMED } from './constants.js'
import type { WireError } from './codec.js'

/** Code of an error that was not a KvgridError on the server. */
export const INTERNAL_CODE = 'INTERNAL'

const encoder = new TextEncoder()

function bytesOf (s: string): number { return encoder.encode(s).length }

/** `s` cut to at most `max` bytes of UTF-8 without splitting a character. */
function clip (s: string, max: number): string {
  if (s.length * 3 <= max || bytesOf(s) <= max) return s
  let out = ''
  let n = 0
  for (const ch of s) {
    const b = bytesOf(ch)
    if (n + b > max - 3) return `${out}…`
    out += ch
    n += b
  }
  return out
}

function validId (s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && bytesOf(s) <= MAX_PEER_ID_BYTES
}

function validCode (s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && bytesOf(s) <= MAX_ERROR_CODE_BYTES
}

/** The wire form of anything `execute` threw. Always encodable. */
export function errorToWire (err: unknown): WireError {
  if (!(err instanceof KvgridError) || !validCode(err.code) || !validCode(err.name)) {
    const message = err instanceof Error ? err.message : String(err)
    return { code: INTERNAL_CODE, name: 'InternalError', message: clip(`internal error on the primary: ${message}`, MAX_ERROR_MESSAGE_BYTES) }
  }
  const e: WireError = { code: err.code, name: err.name, message: clip(String(err.message), MAX_ERROR_MESSAGE_BYTES) }
  if (err instanceof NotPrimaryError && validId(err.primary)) e.primary = err.primary
  if (err instanceof OperationFailedError) e.unconfirmed = (Array.isArray(err.unconfirmed) ? err.unconfirmed : []).filter(validId).slice(0, MAX_UNCONFIRMED)
  return e
}

function withMessage<E extends Error> (err: E, message: string): E {
  if (err.message !== message) Object.defineProperty(err, 'message', { value: message, writable: true, configurable: true, enumerable: false })
  return err
}

/**
 * Rebuild the typed error of a {@link WireError}. `id` is the request id (it becomes the `id` of
 * an `OperationFailedError`).
 */
export function errorFromWire (e: WireError, id: string): KvgridError {
  switch (e.code) {
    case OperationFailedError.code:
      return new OperationFailedError(e.message, id, { unconfirmed: [...(e.unconfirmed ?? [])] })
    case NotPrimaryError.code:
      return withMessage(new NotPrimaryError(e.primary), e.message)
    case ClusterUnavailableError.code:
      return new ClusterUnavailableError(e.message)
    case InvalidArgumentError.code:
      return new InvalidArgumentError(e.message)
    case KeyTooLargeError.code:
      return withMessage(new KeyTooLargeError(0, 0), e.message)
    case ValueTooLargeError.code:
      return withMessage(new ValueTooLargeError(0, 0), e.message)
    case PeerStoppedError.code:
      return withMessage(new PeerStoppedError(), e.message)
    case AbortError.code:
      return new AbortError(e.message)
    case StorageError.code:
      return new StorageError(e.message)
    case NetworkError.code:
      return new NetworkError(e.message)
    case DataDirLockedError.code:
      return withMessage(new DataDirLockedError(''), e.message)
    case RevisionCompactedError.code:
      return withMessage(new RevisionCompactedError(0, 0), e.message)
    case FutureRevisionError.code:
      return withMessage(new FutureRevisionError(0, 0), e.message)
    default: {
      const err = new KvgridError(e.message, e.code)
      Object.defineProperty(err, 'name', { value: e.name, writable: true, configurable: true, enumerable: false })
      return err
    }
  }
}
