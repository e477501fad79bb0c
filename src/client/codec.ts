/**
 * Wire codec of the client/forwarding protocol (`/kvgrid/client/1.0.0`). A secondary (or, later,
 * a remote client) sends a write as a request; the primary answers with the command's result or
 * with the typed error it raised. One frame is one message: a type byte, then the fields in the
 * order below. Integers are unsigned LEB128 varints (safe integers only), strings and byte
 * strings are varint length + bytes (strings UTF-8), optional fields and booleans are bits of a
 * flags byte (unknown bits are rejected), a peer list is a varint count + strings.
 *
 * ```
 * 0x01 request   id deadlineMs command
 * 0x02 result    id flags(1=ok) revision
 * 0x03 error     flags(1=primary 2=unconfirmed) id code name message [primary] [unconfirmed]
 *
 * command = op(u8) body
 *   0x01 set     flags key value [ifValue] [ifRevision] [ttlMs]
 *                flags: 1=ifNotExists given 2=ifNotExists true 4=ifExists given 8=ifExists true
 *                       16=ifValue 32=ifRevision 64=ttlMs   (a "true" bit needs its "given" bit)
 *   0x02 delete  flags(1=ifRevision) key [ifRevision]
 *   0x03 extend  key ttlMs
 * ```
 *
 * `deadlineMs` is the client's remaining time budget, relative (clocks are not compared). The
 * `expire` command is internal to the primary and has no op code: encoding one is refused and
 * op 0x04 on the wire is rejected.
 *
 * Limits: request ids 1–128 characters, keys 1–1024 bytes of UTF-8, values and `ifValue` up to
 * {@link MAX_VALUE_BYTES}, TTLs up to 100 years, error codes and names 1–64 bytes, messages up
 * to 4096 bytes, peer ids 1–128 bytes, `unconfirmed` up to 1024 ids, frames up to
 * {@link MAX_FRAME_BYTES}. The decoders return a typed verdict and never throw: a frame that is
 * truncated, oversized, of an unknown type or op, has trailing bytes, unknown flag bits, a
 * non-safe integer, invalid UTF-8 or a field out of its limits is rejected with a reason (and,
 * when the frame got that far, its kind and request id, so a server can answer a malformed
 * request instead of leaving the client to time out). Decoded byte fields are copies: the frame
 * buffer may be reused.
 */
import { DecodeError, Reader, Writer, utf8 } from '../codec/bytes.js'
import { MAX_TTL_MS } from '../constants.js'
import type { CommandResult, DeleteCommand, ExtendCommand, SetCommand } from '../core/evaluate.js'
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError } from '../errors.js'
import {
  MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_FRAME_BYTES, MAX_KEY_BYTES, MAX_PEER_ID_BYTES,
  MAX_REQUEST_ID_BYTES, MAX_REQUEST_ID_LENGTH, MAX_UNCONFIRMED, MAX_VALUE_BYTES
} from './constants.js'

const T_REQUEST = 0x01
const T_RESULT = 0x02
const T_ERROR = 0x03

const OP_SET = 0x01
const OP_DELETE = 0x02
const OP_EXTEND = 0x03

const SET_NX_GIVEN = 1
const SET_NX_TRUE = 2
const SET_XX_GIVEN = 4
const SET_XX_TRUE = 8
const SET_IF_VALUE = 16
const SET_IF_REVISION = 32
const SET_TTL = 64

/** A command a client may send: `expire` is internal to the primary. */
export type ClientCommand = SetCommand | DeleteCommand | ExtendCommand

/** A write sent to the primary. */
export interface Request {
  /** Request id (1–128 characters): correlates the answer and makes retries idempotent. */
  id: string
  command: ClientCommand
  /** The client's remaining time budget in ms, relative to when the request was sent. */
  deadlineMs: number
}

/** A typed error as it travels: enough to rebuild the same class on the client. */
export interface WireError {
  /** Stable code, e.g. `NOT_PRIMARY`; `INTERNAL` for an error that was not a KvgridError. */
  code: string
  /** Class name, e.g. `NotPrimaryError`. */
  name: string
  message: string
  /** `NotPrimaryError`: the primary the server knows of. */
  primary?: string
  /** `OperationFailedError`: the members that did not confirm the write. */
  unconfirmed?: string[]
}

/** The primary's answer to one request. */
export type Response =
  | { id: string, ok: true, result: CommandResult }
  | { id: string, ok: false, error: WireError }

/** Any frame of the protocol. */
export type Frame =
  | { kind: 'request', request: Request }
  | { kind: 'response', response: Response }

/** Why a frame was rejected. */
export type DecodeFailure = 'oversized' | 'truncated' | 'unknown-type' | 'malformed'

/** Result of the decoders. On failure `kind` and `id` are set when the frame got that far. */
export type DecodeVerdict<T> =
  | { ok: true, value: T }
  | { ok: false, reason: DecodeFailure, detail: string, kind?: Frame['kind'], id?: string }

// ---------------------------------------------------------------------------------------------
// Encoding

function wellFormed (s: string): boolean {
  return (s as any).isWellFormed?.() ?? !/\p{Surrogate}/u.test(s)
}

function checkRequestId (id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH || !wellFormed(id)) {
    throw new InvalidArgumentError(`id must be a well-formed string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`)
  }
  return id
}

function keyBytes (key: unknown): Uint8Array {
  if (typeof key !== 'string') throw new InvalidArgumentError(`key must be a string, got ${typeof key}`)
  if (key.length === 0) throw new InvalidArgumentError('key must not be empty')
  if (!wellFormed(key)) throw new InvalidArgumentError('key is not well-formed Unicode (lone surrogate)')
  const b = utf8(key)
  if (b.length > MAX_KEY_BYTES) throw new KeyTooLargeError(b.length, MAX_KEY_BYTES)
  return b
}

function valueBytes (v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`)
  if (v.length > MAX_VALUE_BYTES) throw new ValueTooLargeError(v.length, MAX_VALUE_BYTES)
  return v
}

function uint (n: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new InvalidArgumentError(`${what} must be an integer from 0 to ${max}, got ${String(n)}`)
  }
  return n
}

function flag (b: unknown, what: string): boolean | undefined {
  if (b === undefined) return undefined
  if (typeof b !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean`)
  return b
}

function writeCommand (w: Writer, c: ClientCommand): void {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError('command must be an object')
  switch ((c as { op?: unknown }).op) {
    case 'set': {
      const key = keyBytes(c.key)
      const value = valueBytes((c as SetCommand).value, 'value')
      const s = c as SetCommand
      const nx = flag(s.ifNotExists, 'ifNotExists')
      const xx = flag(s.ifExists, 'ifExists')
      const ifValue = s.ifValue === undefined ? undefined : valueBytes(s.ifValue, 'ifValue')
      const ifRevision = s.ifRevision === undefined ? undefined : uint(s.ifRevision, 'ifRevision')
      const ttl = s.ttlMs === undefined ? undefined : uint(s.ttlMs, 'ttlMs', MAX_TTL_MS)
      const flags = (nx !== undefined ? SET_NX_GIVEN : 0) | (nx === true ? SET_NX_TRUE : 0) |
        (xx !== undefined ? SET_XX_GIVEN : 0) | (xx === true ? SET_XX_TRUE : 0) |
        (ifValue !== undefined ? SET_IF_VALUE : 0) | (ifRevision !== undefined ? SET_IF_REVISION : 0) |
        (ttl !== undefined ? SET_TTL : 0)
      w.u8(OP_SET).u8(flags).bytes(key).bytes(value)
      if (ifValue !== undefined) w.bytes(ifValue)
      if (ifRevision !== undefined) w.varint(ifRevision)
      if (ttl !== undefined) w.varint(ttl)
      return
    }
    case 'delete': {
      const key = keyBytes(c.key)
      const ifRevision = (c as DeleteCommand).ifRevision === undefined ? undefined : uint((c as DeleteCommand).ifRevision, 'ifRevision')
      w.u8(OP_DELETE).u8(ifRevision !== undefined ? 1 : 0).bytes(key)
      if (ifRevision !== undefined) w.varint(ifRevision)
      return
    }
    case 'extend':
      w.u8(OP_EXTEND).bytes(keyBytes(c.key)).varint(uint((c as ExtendCommand).ttlMs, 'ttlMs', MAX_TTL_MS))
      return
    case 'expire':
      throw new InvalidArgumentError('expire commands are internal to the primary and cannot be sent')
    default:
      throw new InvalidArgumentError(`unknown command op ${String((c as { op?: unknown }).op)}`)
  }
}

/**
 * Encode a request. Throws the typed error the peer API would raise for the same input
 * (`InvalidArgumentError`, `KeyTooLargeError`, `ValueTooLargeError`), so nothing undecodable
 * is ever sent.
 */
export function encodeRequest (req: Request): Uint8Array {
  const w = new Writer(128 + ((req.command as SetCommand)?.value?.length ?? 0) + ((req.command as SetCommand)?.ifValue?.length ?? 0))
  w.u8(T_REQUEST).string(checkRequestId(req.id)).varint(uint(req.deadlineMs, 'deadlineMs'))
  writeCommand(w, req.command)
  return w.finish()
}

function wireString (s: unknown, what: string, max: number): Uint8Array {
  if (typeof s !== 'string') throw new RangeError(`${what} must be a string`)
  const b = utf8(s)
  if (b.length === 0 || b.length > max) throw new RangeError(`${what} must be 1..${max} bytes of UTF-8, got ${b.length}`)
  return b
}

/**
 * Encode a response. Throws `RangeError` on a value the decoder would reject (a server bug:
 * {@link errorToWire} always produces a valid error).
 */
export function encodeResponse (res: Response): Uint8Array {
  const id = wireString(res.id, 'id', MAX_REQUEST_ID_BYTES)
  if (res.id.length > MAX_REQUEST_ID_LENGTH) throw new RangeError(`id longer than ${MAX_REQUEST_ID_LENGTH} characters`)
  const w = new Writer(64)
  if (res.ok) {
    const { ok, revision } = res.result
    if (typeof ok !== 'boolean') throw new RangeError('result.ok must be a boolean')
    if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`result.revision must be a non-negative safe integer, got ${revision}`)
    w.u8(T_RESULT).bytes(id).u8(ok ? 1 : 0).varint(revision)
    return w.finish()
  }
  const e = res.error
  const message = utf8(e.message)
  if (message.length > MAX_ERROR_MESSAGE_BYTES) throw new RangeError(`error message longer than ${MAX_ERROR_MESSAGE_BYTES} bytes`)
  if (e.unconfirmed !== undefined && e.unconfirmed.length > MAX_UNCONFIRMED) throw new RangeError(`more than ${MAX_UNCONFIRMED} unconfirmed peers`)
  w.u8(T_ERROR).u8((e.primary !== undefined ? 1 : 0) | (e.unconfirmed !== undefined ? 2 : 0)).bytes(id)
  w.bytes(wireString(e.code, 'error code', MAX_ERROR_CODE_BYTES))
  w.bytes(wireString(e.name, 'error name', MAX_ERROR_CODE_BYTES))
  w.bytes(message)
  if (e.primary !== undefined) w.bytes(wireString(e.primary, 'primary', MAX_PEER_ID_BYTES))
  if (e.unconfirmed !== undefined) {
    w.varint(e.unconfirmed.length)
    for (const p of e.unconfirmed) w.bytes(wireString(p, 'unconfirmed peer', MAX_PEER_ID_BYTES))
  }
  return w.finish()
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A frame that decodes but breaks a rule (limits, flag bits, ops). */
class Malformed extends Error {}

/** What the decoder learned before it failed. */
interface Progress { kind?: Frame['kind'], id?: string }

function rFlags (r: Reader, allowed: number): number {
  const f = r.u8()
  if ((f & ~allowed) !== 0) throw new Malformed(`unknown flag bits 0x${f.toString(16)}`)
  return f
}

function rString (r: Reader, what: string, max: number): string {
  const s = r.string(max)
  if (s.length === 0) throw new Malformed(`empty ${what}`)
  return s
}

function rId (r: Reader): string {
  const id = rString(r, 'request id', MAX_REQUEST_ID_BYTES)
  if (id.length > MAX_REQUEST_ID_LENGTH) throw new Malformed(`request id longer than ${MAX_REQUEST_ID_LENGTH} characters`)
  return id
}

function rTtl (r: Reader): number {
  const ttl = r.varint()
  if (ttl > MAX_TTL_MS) throw new Malformed(`ttlMs ${ttl} exceeds ${MAX_TTL_MS}`)
  return ttl
}

/** A copy of a byte field (the frame buffer may be reused by the caller). */
function rValue (r: Reader, what: string): Uint8Array {
  const n = r.varint()
  if (n > MAX_VALUE_BYTES) throw new Malformed(`${what} of ${n} bytes exceeds ${MAX_VALUE_BYTES}`)
  return new Uint8Array(r.raw(n)) // a plain copy (frames may be Buffers, whose slice() is a view)
}

function rCommand (r: Reader): ClientCommand {
  const op = r.u8()
  switch (op) {
    case OP_SET: {
      const f = rFlags(r, 0x7f)
      if ((f & SET_NX_TRUE) !== 0 && (f & SET_NX_GIVEN) === 0) throw new Malformed('ifNotExists value bit without its given bit')
      if ((f & SET_XX_TRUE) !== 0 && (f & SET_XX_GIVEN) === 0) throw new Malformed('ifExists value bit without its given bit')
      const key = rString(r, 'key', MAX_KEY_BYTES)
      const c: SetCommand = { op: 'set', key, value: rValue(r, 'value') }
      if ((f & SET_NX_GIVEN) !== 0) c.ifNotExists = (f & SET_NX_TRUE) !== 0
      if ((f & SET_XX_GIVEN) !== 0) c.ifExists = (f & SET_XX_TRUE) !== 0
      if ((f & SET_IF_VALUE) !== 0) c.ifValue = rValue(r, 'ifValue')
      if ((f & SET_IF_REVISION) !== 0) c.ifRevision = r.varint()
      if ((f & SET_TTL) !== 0) c.ttlMs = rTtl(r)
      return c
    }
    case OP_DELETE: {
      const f = rFlags(r, 1)
      const c: DeleteCommand = { op: 'delete', key: rString(r, 'key', MAX_KEY_BYTES) }
      if ((f & 1) !== 0) c.ifRevision = r.varint()
      return c
    }
    case OP_EXTEND:
      return { op: 'extend', key: rString(r, 'key', MAX_KEY_BYTES), ttlMs: rTtl(r) }
    case 0x04:
      throw new Malformed('expire commands are internal to the primary')
    default:
      throw new Malformed(`unknown command op 0x${op.toString(16)}`)
  }
}

function rError (r: Reader, p: Progress): Response {
  const f = rFlags(r, 3)
  const id = p.id = rId(r)
  const error: WireError = {
    code: rString(r, 'error code', MAX_ERROR_CODE_BYTES),
    name: rString(r, 'error name', MAX_ERROR_CODE_BYTES),
    message: r.string(MAX_ERROR_MESSAGE_BYTES)
  }
  if ((f & 1) !== 0) error.primary = rString(r, 'primary', MAX_PEER_ID_BYTES)
  if ((f & 2) !== 0) {
    const n = r.varint()
    if (n > MAX_UNCONFIRMED) throw new Malformed(`unconfirmed list of ${n} exceeds ${MAX_UNCONFIRMED}`)
    // Each id takes at least 2 bytes: refuse counts the frame cannot hold before allocating.
    if (n * 2 > r.remaining) throw new DecodeError(`truncated: unconfirmed list of ${n} in ${r.remaining} bytes`)
    const list: string[] = []
    for (let i = 0; i < n; i++) list.push(rString(r, 'unconfirmed peer', MAX_PEER_ID_BYTES))
    error.unconfirmed = list
  }
  return { id, ok: false, error }
}

function rFrame (r: Reader, p: Progress): Frame | undefined {
  const type = r.u8()
  switch (type) {
    case T_REQUEST: {
      p.kind = 'request'
      const id = p.id = rId(r)
      const deadlineMs = r.varint()
      return { kind: 'request', request: { id, command: rCommand(r), deadlineMs } }
    }
    case T_RESULT: {
      p.kind = 'response'
      const id = p.id = rId(r)
      const ok = (rFlags(r, 1) & 1) !== 0
      return { kind: 'response', response: { id, ok: true, result: { ok, revision: r.varint() } } }
    }
    case T_ERROR:
      p.kind = 'response'
      return { kind: 'response', response: rError(r, p) }
    default:
      return undefined
  }
}

/**
 * Decode any frame of the protocol into a typed verdict. Never throws: every failure, including
 * anything unexpected, becomes `{ ok: false, reason, detail }`.
 */
export function decodeFrame (bytes: Uint8Array): DecodeVerdict<Frame> {
  const p: Progress = {}
  const fail = (reason: DecodeFailure, detail: string): DecodeVerdict<Frame> => {
    const v: DecodeVerdict<Frame> = { ok: false, reason, detail }
    if (p.kind !== undefined) v.kind = p.kind
    if (p.id !== undefined) v.id = p.id
    return v
  }
  try {
    if (!(bytes instanceof Uint8Array)) return fail('malformed', 'not a byte array')
    if (bytes.length > MAX_FRAME_BYTES) return fail('oversized', `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`)
    if (bytes.length === 0) return fail('truncated', 'empty frame')
    const r = new Reader(bytes)
    const frame = rFrame(r, p)
    if (frame === undefined) return fail('unknown-type', `unknown frame type 0x${bytes[0].toString(16)}`)
    if (r.remaining !== 0) return fail('malformed', `${r.remaining} trailing bytes`)
    return { ok: true, value: frame }
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    if (err instanceof DecodeError && detail.startsWith('truncated')) return fail('truncated', detail)
    return fail('malformed', detail)
  }
}

/** Decode a request frame; any other frame type is `unknown-type`. Never throws. */
export function decodeRequest (bytes: Uint8Array): DecodeVerdict<Request> {
  const v = decodeFrame(bytes)
  if (!v.ok) return v
  if (v.value.kind !== 'request') return { ok: false, reason: 'unknown-type', detail: 'not a request frame', kind: v.value.kind, id: v.value.response.id }
  return { ok: true, value: v.value.request }
}

/** Decode a response frame; any other frame type is `unknown-type`. Never throws. */
export function decodeResponse (bytes: Uint8Array): DecodeVerdict<Response> {
  const v = decodeFrame(bytes)
  if (!v.ok) return v
  if (v.value.kind !== 'response') return { ok: false, reason: 'unknown-type', detail: 'not a response frame', kind: v.value.kind, id: v.value.request.id }
  return { ok: true, value: v.value.response }
}
