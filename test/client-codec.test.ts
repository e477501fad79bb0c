/**
 * The client/forwarding wire codec: every request and response field round-trips, decoded bytes
 * are independent of the frame, and no input — malformed, truncated, oversized, mutated or
 * random — makes a decoder throw; they return a typed verdict instead. Plus the error mapping:
 * every typed error crosses the wire as the same class with the same fields.
 */
import test from 'ava'
import {
  decodeFrame, decodeRequest, decodeResponse, encodeRequest, encodeResponse, errorFromWire, errorToWire,
  INTERNAL_CODE, MAX_FRAME_BYTES, MAX_UNCONFIRMED, MAX_VALUE_BYTES
} from '../src/client/index.js'
import type { DecodeFailure, Request, Response } from '../src/client/index.js'
import type { Command } from '../src/core/evaluate.js'
import {
  AbortError, ClusterUnavailableError, DataDirLockedError, FutureRevisionError, InvalidArgumentError,
  KeyTooLargeError, KvgridError, NetworkError, NotPrimaryError, OperationFailedError, PeerStoppedError,
  RevisionCompactedError, StorageError, ValueTooLargeError
} from '../src/errors.js'
import { MAX_TTL_MS } from '../src/constants.js'
import { mulberry32 } from './helpers/simnet.js'

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

const REQUESTS: Array<[string, Request]> = [
  ['minimal set', { id: 'r1', deadlineMs: 1000, command: { op: 'set', key: 'k', value: bytes(1, 2, 3) } }],
  ['set with an empty value', { id: 'r', deadlineMs: 0, command: { op: 'set', key: 'k', value: new Uint8Array(0) } }],
  ['set with every condition', { id: 'x'.repeat(128), deadlineMs: 2 ** 53 - 1, command: { op: 'set', key: 'ключ', value: bytes(0, 255), ifNotExists: true, ifExists: false, ifValue: bytes(9, 9), ifRevision: 0, ttlMs: MAX_TTL_MS } }],
  ['set with explicit false flags', { id: 'r', deadlineMs: 5, command: { op: 'set', key: 'k', value: bytes(1), ifNotExists: false, ifExists: true, ifRevision: 2 ** 53 - 1, ttlMs: 0 } }],
  ['set with an empty ifValue', { id: 'r', deadlineMs: 5, command: { op: 'set', key: 'k', value: bytes(1), ifValue: new Uint8Array(0) } }],
  ['set with a key of exactly 1024 bytes of UTF-8', { id: 'ü'.repeat(128), deadlineMs: 5, command: { op: 'set', key: 'é'.repeat(512), value: bytes(1) } }],
  ['delete', { id: 'r', deadlineMs: 5, command: { op: 'delete', key: 'k' } }],
  ['delete with ifRevision 0', { id: 'r', deadlineMs: 5, command: { op: 'delete', key: 'k', ifRevision: 0 } }],
  ['delete with ifRevision', { id: 'r', deadlineMs: 5, command: { op: 'delete', key: 'k', ifRevision: 77 } }],
  ['extend', { id: 'r', deadlineMs: 5, command: { op: 'extend', key: 'k', ttlMs: 60_000 } }],
  ['extend with 0 (remove the expiry)', { id: 'r', deadlineMs: 5, command: { op: 'extend', key: '🔑', ttlMs: 0 } }]
]

const RESPONSES: Array<[string, Response]> = [
  ['result ok', { id: 'r1', ok: true, result: { ok: true, revision: 42 } }],
  ['result not ok at revision 0', { id: 'r1', ok: true, result: { ok: false, revision: 0 } }],
  ['result at the largest revision', { id: 'r1', ok: true, result: { ok: true, revision: 2 ** 53 - 1 } }],
  ['plain error', { id: 'r1', ok: false, error: { code: 'INVALID_ARGUMENT', name: 'InvalidArgumentError', message: 'bad key' } }],
  ['error with an empty message', { id: 'r1', ok: false, error: { code: 'X', name: 'Y', message: '' } }],
  ['not-primary with a primary', { id: 'r1', ok: false, error: { code: 'NOT_PRIMARY', name: 'NotPrimaryError', message: 'm', primary: PEER } }],
  ['operation failed, none unconfirmed', { id: 'r1', ok: false, error: { code: 'OPERATION_FAILED', name: 'OperationFailedError', message: 'm', unconfirmed: [] } }],
  ['operation failed with unconfirmed', { id: 'r1', ok: false, error: { code: 'OPERATION_FAILED', name: 'OperationFailedError', message: 'ü'.repeat(100), unconfirmed: [PEER, 'b'] } }],
  ['error with both fields', { id: 'r1', ok: false, error: { code: 'C', name: 'N', message: 'm', primary: PEER, unconfirmed: ['a'] } }]
]

test('every request field round-trips: values, flags, ifValue, ifRevision 0, ttlMs, delete ifRevision, extend ttlMs', t => {
  for (const [name, req] of REQUESTS) {
    t.deepEqual(decodeRequest(encodeRequest(req)), { ok: true, value: req }, name)
    t.deepEqual(decodeFrame(encodeRequest(req)), { ok: true, value: { kind: 'request', request: req } }, name)
  }
})

test('every response form round-trips', t => {
  for (const [name, res] of RESPONSES) {
    t.deepEqual(decodeResponse(encodeResponse(res)), { ok: true, value: res }, name)
  }
})

test('a value at the 64 MiB limit round-trips; one byte more is refused on encode and on decode', t => {
  const value = new Uint8Array(MAX_VALUE_BYTES).fill(7)
  const req: Request = { id: 'big', deadlineMs: 1, command: { op: 'set', key: 'k', value, ifValue: value } }
  const frame = encodeRequest(req)
  t.true(frame.length <= MAX_FRAME_BYTES, 'a value and an ifValue at the limit fit one frame')
  const v = decodeRequest(frame)
  t.true(v.ok)
  if (v.ok && v.value.command.op === 'set') {
    t.is(v.value.command.value.length, MAX_VALUE_BYTES)
    t.is(v.value.command.ifValue?.length, MAX_VALUE_BYTES)
  }
  t.throws(() => encodeRequest({ id: 'big', deadlineMs: 1, command: { op: 'set', key: 'k', value: new Uint8Array(MAX_VALUE_BYTES + 1) } }), { instanceOf: ValueTooLargeError })
  // A frame announcing a value one byte over the limit (the bytes need not follow).
  const over = frame.slice(0, 1 + 1 + 3 + 1 + 1 + 1 + 2) // type, id, deadline, op, flags, key
  const announced = Uint8Array.from([...over, 0x81, 0x80, 0x80, 0x20]) // varint 2^26 + 1
  const bad = decodeRequest(announced)
  t.false(bad.ok)
  if (!bad.ok) t.regex(bad.detail, /exceeds/)
})

test('decoded byte fields are copies: reusing the frame buffer does not change them', t => {
  const frame = encodeRequest({ id: 'r', deadlineMs: 1, command: { op: 'set', key: 'k', value: bytes(1, 2, 3), ifValue: bytes(4, 5) } })
  const v = decodeRequest(frame)
  frame.fill(0)
  t.true(v.ok)
  if (v.ok && v.value.command.op === 'set') {
    t.deepEqual(v.value.command.value, bytes(1, 2, 3))
    t.deepEqual(v.value.command.ifValue, bytes(4, 5))
  }
  // Frames from libp2p streams are often Buffers, whose slice() is a view, not a copy.
  const buf = Buffer.from(encodeRequest({ id: 'r', deadlineMs: 1, command: { op: 'set', key: 'k', value: bytes(1, 2, 3) } }))
  const w = decodeRequest(buf)
  buf.fill(0)
  t.true(w.ok)
  if (w.ok && w.value.command.op === 'set') {
    t.deepEqual(w.value.command.value, bytes(1, 2, 3), 'a plain Uint8Array copy')
    t.false(Buffer.isBuffer(w.value.command.value))
  }
})

test('encodeRequest refuses what the decoder would reject, with the typed error the peer API raises', t => {
  const req = (command: unknown, id = 'r', deadlineMs = 1): Request => ({ id, deadlineMs, command: command as Request['command'] })
  const bad: Array<[string, Request, new (...a: any[]) => Error]> = [
    ['expire (internal)', req({ op: 'expire', key: 'k', expiresAt: 1 }), InvalidArgumentError],
    ['unknown op', req({ op: 'put', key: 'k' }), InvalidArgumentError],
    ['no command', req(undefined), InvalidArgumentError],
    ['empty key', req({ op: 'delete', key: '' }), InvalidArgumentError],
    ['non-string key', req({ op: 'delete', key: 1 }), InvalidArgumentError],
    ['lone surrogate in key', req({ op: 'delete', key: '\ud800' }), InvalidArgumentError],
    ['key of 1025 bytes', req({ op: 'delete', key: 'é'.repeat(512) + 'x' }), KeyTooLargeError],
    ['value not bytes', req({ op: 'set', key: 'k', value: 'text' }), InvalidArgumentError],
    ['ifValue not bytes', req({ op: 'set', key: 'k', value: bytes(), ifValue: 'x' }), InvalidArgumentError],
    ['non-boolean ifExists', req({ op: 'set', key: 'k', value: bytes(), ifExists: 1 }), InvalidArgumentError],
    ['negative ifRevision', req({ op: 'delete', key: 'k', ifRevision: -1 }), InvalidArgumentError],
    ['fractional ttlMs', req({ op: 'extend', key: 'k', ttlMs: 1.5 }), InvalidArgumentError],
    ['ttlMs over 100 years', req({ op: 'set', key: 'k', value: bytes(), ttlMs: MAX_TTL_MS + 1 }), InvalidArgumentError],
    ['empty id', req({ op: 'delete', key: 'k' }, ''), InvalidArgumentError],
    ['id of 129 characters', req({ op: 'delete', key: 'k' }, 'x'.repeat(129)), InvalidArgumentError],
    ['negative deadline', req({ op: 'delete', key: 'k' }, 'r', -1), InvalidArgumentError]
  ]
  for (const [name, r, cls] of bad) t.throws(() => encodeRequest(r), { instanceOf: cls }, name)
})

test('encodeResponse refuses values the decoder would reject (a server bug)', t => {
  const bad: Response[] = [
    { id: '', ok: true, result: { ok: true, revision: 1 } },
    { id: 'r', ok: true, result: { ok: true, revision: -1 } },
    { id: 'r', ok: true, result: { ok: 'yes' as unknown as boolean, revision: 1 } },
    { id: 'r', ok: false, error: { code: '', name: 'n', message: 'm' } },
    { id: 'r', ok: false, error: { code: 'c'.repeat(65), name: 'n', message: 'm' } },
    { id: 'r', ok: false, error: { code: 'c', name: 'n', message: 'm'.repeat(4097) } },
    { id: 'r', ok: false, error: { code: 'c', name: 'n', message: 'm', primary: 'p'.repeat(129) } },
    { id: 'r', ok: false, error: { code: 'c', name: 'n', message: 'm', unconfirmed: Array(MAX_UNCONFIRMED + 1).fill('p') } }
  ]
  for (const r of bad) t.throws(() => encodeResponse(r), { instanceOf: RangeError }, JSON.stringify(r).slice(0, 80))
})

/** Build a frame by hand from bytes and short strings. */
function frame (...parts: Array<number | string | number[]>): Uint8Array {
  const out: number[] = []
  for (const p of parts) {
    if (typeof p === 'number') out.push(p)
    else if (typeof p === 'string') {
      const b = new TextEncoder().encode(p)
      if (b.length > 127) throw new Error('test helper: short strings only')
      out.push(b.length, ...b)
    } else out.push(...p)
  }
  return Uint8Array.from(out)
}

const BAD: Array<[string, Uint8Array, DecodeFailure, { kind?: 'request' | 'response', id?: string }]> = [
  ['an empty frame', new Uint8Array(0), 'truncated', {}],
  ['unknown type 0x00', frame(0x00), 'unknown-type', {}],
  ['unknown type 0x04', frame(0x04, 'r'), 'unknown-type', {}],
  ['an expire command (op 4)', frame(0x01, 'r', 1, 0x04, 'k', 5), 'malformed', { kind: 'request', id: 'r' }],
  ['an unknown op', frame(0x01, 'r', 1, 0x09), 'malformed', { kind: 'request', id: 'r' }],
  ['an empty key', frame(0x01, 'r', 1, 0x02, 0, ''), 'malformed', { kind: 'request', id: 'r' }],
  ['a key of 1025 bytes', frame(0x01, 'r', 1, 0x02, 0, [0x81, 0x08], Array(1025).fill(0x61)), 'malformed', { kind: 'request', id: 'r' }],
  ['invalid UTF-8 in the key', frame(0x01, 'r', 1, 0x02, 0, [2, 0xff, 0xfe]), 'malformed', { kind: 'request', id: 'r' }],
  ['an empty id', frame(0x01, '', 1, 0x02, 0, 'k'), 'malformed', { kind: 'request' }],
  ['an id of 129 characters', frame(0x01, [0x81, 0x01], Array(129).fill(0x61), 1, 0x02, 0, 'k'), 'malformed', { kind: 'request' }],
  ['unknown set flag bit', frame(0x01, 'r', 1, 0x01, 0x80, 'k', 0), 'malformed', { kind: 'request', id: 'r' }],
  ['an ifNotExists value bit without its given bit', frame(0x01, 'r', 1, 0x01, 0x02, 'k', 0), 'malformed', { kind: 'request', id: 'r' }],
  ['an ifExists value bit without its given bit', frame(0x01, 'r', 1, 0x01, 0x08, 'k', 0), 'malformed', { kind: 'request', id: 'r' }],
  ['unknown delete flag bit', frame(0x01, 'r', 1, 0x02, 0x02, 'k'), 'malformed', { kind: 'request', id: 'r' }],
  ['a ttl over 100 years', frame(0x01, 'r', 1, 0x03, 'k', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 'malformed', { kind: 'request', id: 'r' }],
  ['a varint that is not a safe integer', frame(0x01, 'r', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 0x02, 0, 'k'), 'malformed', { kind: 'request', id: 'r' }],
  ['a trailing byte after a request', frame(0x01, 'r', 1, 0x02, 0, 'k', 0), 'malformed', { kind: 'request', id: 'r' }],
  ['a trailing byte after a result', frame(0x02, 'r', 1, 5, 0), 'malformed', { kind: 'response', id: 'r' }],
  ['unknown result flag bit', frame(0x02, 'r', 2, 5), 'malformed', { kind: 'response', id: 'r' }],
  ['unknown error flag bit', frame(0x03, 4, 'r', 'C', 'N', 'm'), 'malformed', { kind: 'response' }],
  ['an empty error code', frame(0x03, 0, 'r', '', 'N', 'm'), 'malformed', { kind: 'response', id: 'r' }],
  ['an unconfirmed list over the limit', frame(0x03, 2, 'r', 'C', 'N', 'm', [0x81, 0x08], Array(2050).fill(0)), 'malformed', { kind: 'response', id: 'r' }],
  ['an unconfirmed list larger than the frame', frame(0x03, 2, 'r', 'C', 'N', 'm', [0xff, 0x07]), 'truncated', { kind: 'response', id: 'r' }]
]

for (const [name, input, reason, at] of BAD) {
  test(`a frame with ${name} is rejected (${reason}) with what was learned, not thrown`, t => {
    const v = decodeFrame(input)
    t.false(v.ok)
    if (!v.ok) {
      t.is(v.reason, reason, v.detail)
      t.true(v.detail.length > 0)
      t.is(v.kind, at.kind)
      t.is(v.id, at.id)
    }
  })
}

test('every truncation of every valid frame is rejected, never thrown', t => {
  let n = 0
  const frames = [...REQUESTS.map(([, r]) => encodeRequest(r)), ...RESPONSES.map(([, r]) => encodeResponse(r))]
  for (const f of frames) {
    for (let len = 0; len < f.length; len++) {
      const v = decodeFrame(f.subarray(0, len))
      t.false(v.ok)
      if (!v.ok) t.true(v.reason === 'truncated' || v.reason === 'malformed', `cut to ${len}: ${v.reason}`)
      n++
    }
  }
  t.true(n > 2000)
})

test('a request frame is not a response and vice versa', t => {
  const req = encodeRequest(REQUESTS[0][1])
  const res = encodeResponse(RESPONSES[0][1])
  t.like(decodeResponse(req), { ok: false, reason: 'unknown-type', kind: 'request', id: 'r1' })
  t.like(decodeRequest(res), { ok: false, reason: 'unknown-type', kind: 'response', id: 'r1' })
})

test('an oversized frame is rejected before decoding, and non-bytes never throw', t => {
  t.like(decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)), { ok: false, reason: 'oversized' })
  for (const x of [undefined, null, 'hello', 42, {}, [1, 2]]) t.false(decodeFrame(x as unknown as Uint8Array).ok)
})

test('30 000 random and mutated frames never make a decoder throw; whatever decodes re-encodes to a frame that decodes the same', t => {
  const random = mulberry32(0xc11e47)
  const int = (n: number): number => Math.floor(random() * n)
  const seeds = [...REQUESTS.map(([, r]) => encodeRequest(r)), ...RESPONSES.map(([, r]) => encodeResponse(r))].filter(f => f.length < 4096)
  let accepted = 0
  for (let i = 0; i < 30_000; i++) {
    let f: Uint8Array
    if (i % 3 === 0) {
      f = Uint8Array.from({ length: int(64) }, () => int(256))
      if (f.length > 0 && random() < 0.7) f[0] = 1 + int(3)
    } else {
      const base = seeds[int(seeds.length)]
      const m = Array.from(base)
      const edits = 1 + int(3)
      for (let e = 0; e < edits; e++) {
        const at = int(m.length + 1)
        switch (int(4)) {
          case 0: if (m.length > 0) m[at % m.length] ^= 1 << int(8); break
          case 1: m.splice(at, 0, int(256)); break
          case 2: m.splice(at, 1); break
          default: if (m.length > 0) m[at % m.length] = int(256)
        }
      }
      f = Uint8Array.from(m)
    }
    let v
    try {
      v = decodeFrame(f)
    } catch (err) {
      t.fail(`decodeFrame threw on [${Array.from(f).join(',')}]: ${String(err)}`)
      return
    }
    if (v.ok) {
      accepted++
      // Varints may be overlong on the wire, so compare decoded values rather than bytes.
      const again = v.value.kind === 'request' ? encodeRequest(v.value.request) : encodeResponse(v.value.response)
      t.deepEqual(decodeFrame(again), v)
    } else {
      t.true(['oversized', 'truncated', 'unknown-type', 'malformed'].includes(v.reason))
    }
  }
  t.true(accepted > 100, `${accepted} mutated frames still decoded (the canonical check ran on them)`)
})

// ---------------------------------------------------------------------------------------------
// Error mapping

function roundTrip (err: unknown, id = 'req-1'): KvgridError {
  const wire = errorToWire(err)
  const v = decodeResponse(encodeResponse({ id, ok: false, error: wire }))
  if (!v.ok || v.value.ok) throw new Error('did not round-trip')
  return errorFromWire(v.value.error, id)
}

test('every typed error crosses the wire as the same class with the same code, name, message and fields', t => {
  const errors: KvgridError[] = [
    new OperationFailedError('not confirmed by every member within 1000 ms', 'req-1', { unconfirmed: [PEER, 'b'] }),
    new OperationFailedError('write failed in storage: disk full', 'req-1'),
    new NotPrimaryError(PEER),
    new NotPrimaryError(),
    new ClusterUnavailableError('no primary is known (this peer is candidate)'),
    new InvalidArgumentError('ifExists and ifNotExists cannot both be set'),
    new KeyTooLargeError(2000, 1024),
    new ValueTooLargeError(5, 4),
    new PeerStoppedError(),
    new AbortError(),
    new StorageError('corrupt'),
    new NetworkError('down'),
    new DataDirLockedError('/tmp/x'),
    new RevisionCompactedError(3, 10),
    new FutureRevisionError(30, 10)
  ]
  for (const err of errors) {
    const back = roundTrip(err)
    t.is(back.constructor, err.constructor, err.name)
    t.true(back instanceof KvgridError)
    t.is(back.code, err.code)
    t.is(back.name, err.name)
    t.is(back.message, err.message)
    if (err instanceof NotPrimaryError) t.is((back as NotPrimaryError).primary, err.primary)
    if (err instanceof OperationFailedError) {
      t.is((back as OperationFailedError).id, 'req-1')
      t.deepEqual((back as OperationFailedError).unconfirmed, err.unconfirmed)
    }
  }
})

test('an error that is not a KvgridError arrives as code INTERNAL; an unknown code keeps its code and name', t => {
  const internal = roundTrip(new TypeError('x is undefined'))
  t.true(internal instanceof KvgridError)
  t.is(internal.code, INTERNAL_CODE)
  t.regex(internal.message, /x is undefined/)
  t.is(roundTrip('a string was thrown').code, INTERNAL_CODE)
  const future = roundTrip(new KvgridError('from a newer primary', 'SOMETHING_NEW'))
  t.is(future.constructor, KvgridError)
  t.is(future.code, 'SOMETHING_NEW')
  t.is(future.message, 'from a newer primary')
})

test('an overlong message is cut to the wire limit and oversized fields are dropped, so any error can be sent', t => {
  const huge = new InvalidArgumentError('é'.repeat(10_000))
  const back = roundTrip(huge)
  t.true(new TextEncoder().encode(back.message).length <= 4096)
  t.true(back.message.endsWith('…'))
  const failed = new OperationFailedError('m', 'req-1', { unconfirmed: [...Array(MAX_UNCONFIRMED + 5).fill(PEER), 'x'.repeat(200)] })
  t.is((roundTrip(failed) as OperationFailedError).unconfirmed.length, MAX_UNCONFIRMED)
  const weird = new NotPrimaryError('p'.repeat(200))
  t.is((roundTrip(weird) as NotPrimaryError).primary, undefined)
})

// Type-level check: Command includes expire, the client codec's commands do not.
const _expire: Command = { op: 'expire', key: 'k', expiresAt: 1 }
void _expire
