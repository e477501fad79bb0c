/**
 * The arbiter wire codec: every message round-trips, and no input — malformed, truncated,
 * oversized or random — makes decodeMessage throw; it returns a typed verdict instead.
 */
import test from 'ava'
import { decodeMessage, encodeMessage, MAX_FRAME_BYTES, MAX_MEMBERS } from '../src/arbiter/index.js'
import type { ArbiterMessage, DecodeFailure } from '../src/arbiter/index.js'
import { mulberry32 } from './helpers/simnet.js'

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const CID = '0123456789abcdef0123456789abcdef'

const SAMPLES: Array<[string, ArbiterMessage]> = [
  ['hello, fresh', { type: 'hello', cluster: 'kvgrid', term: 0, role: 'joining', log: { term: 0, index: 0 } }],
  ['hello, member', { type: 'hello', cluster: 'kvgrid', clusterId: CID, term: 7, role: 'secondary', primary: PEER, log: { term: 6, index: 1234 } }],
  ['hello, primary', { type: 'hello', cluster: 'ü-cluster', clusterId: CID, term: 2 ** 53 - 1, role: 'primary', log: { term: 2 ** 40, index: 2 ** 53 - 1 } }],
  ['hello, candidate', { type: 'hello', cluster: 'k', clusterId: CID, term: 3, role: 'candidate', log: { term: 1, index: 1 } }],
  ['join, fresh', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }],
  ['join, with cluster id', { type: 'join', cluster: 'kvgrid', clusterId: CID, log: { term: 3, index: 99 } }],
  ['join-accepted', { type: 'join-accepted', clusterId: CID, term: 4, configTerm: 4, version: 9, members: [PEER, 'b', 'c'], primary: PEER }],
  ['join-rejected, not-primary with hint', { type: 'join-rejected', reason: 'not-primary', primary: PEER }],
  ['join-rejected, not-primary', { type: 'join-rejected', reason: 'not-primary' }],
  ['join-rejected, busy', { type: 'join-rejected', reason: 'busy' }],
  ['join-rejected, other-cluster', { type: 'join-rejected', reason: 'other-cluster', clusterId: CID }],
  ['members', { type: 'members', term: 5, clusterId: CID, configTerm: 5, version: 10, members: ['a', 'b', 'c', 'd'], committed: false }],
  ['members, empty list', { type: 'members', term: 5, clusterId: CID, configTerm: 5, version: 10, members: [], committed: true }],
  ['members-ack', { type: 'members-ack', term: 5, configTerm: 5, version: 10 }],
  ['heartbeat', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 4, version: 10 }],
  ['heartbeat with members', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 11, members: ['a', 'b'] }],
  ['heartbeat-ack', { type: 'heartbeat-ack', term: 5, configTerm: 5, version: 11, log: { term: 5, index: 77 } }],
  ['heartbeat with a confirmation round', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 11, members: ['a', 'b'], probe: 300 }],
  ['heartbeat-ack echoing a round', { type: 'heartbeat-ack', term: 5, configTerm: 5, version: 11, log: { term: 5, index: 77 }, probe: 300 }],
  ['request-vote', { type: 'request-vote', term: 6, clusterId: CID, pre: false, log: { term: 5, index: 77 }, configTerm: 5, version: 11 }],
  ['request-vote, pre', { type: 'request-vote', term: 6, clusterId: CID, pre: true, log: { term: 5, index: 77 }, configTerm: 5, version: 11 }],
  ['vote-reply, granted', { type: 'vote-reply', term: 6, granted: true, pre: false }],
  ['vote-reply, pre refused with config', { type: 'vote-reply', term: 6, granted: false, pre: true, config: { configTerm: 6, version: 12, members: ['a', PEER] } }],
  ['timeout-now', { type: 'timeout-now', term: 6 }],
  ['leave', { type: 'leave', term: 6, clusterId: CID }]
]

test('every arbiter message round-trips through encode and decode', t => {
  const types = new Set<string>()
  for (const [name, msg] of SAMPLES) {
    const v = decodeMessage(encodeMessage(msg))
    t.deepEqual(v, { ok: true, msg }, name)
    types.add(msg.type)
  }
  t.is(types.size, 12, 'all 12 message types are covered')
})

test('a full member list (1024 ids of 128 bytes) round-trips and stays under the frame limit', t => {
  const members = Array.from({ length: MAX_MEMBERS }, (_, i) => String(i).padStart(128, 'x'))
  const bytes = encodeMessage({ type: 'members', term: 1, clusterId: CID, configTerm: 1, version: 1, members, committed: true })
  t.true(bytes.length <= MAX_FRAME_BYTES)
  const v = decodeMessage(bytes)
  t.true(v.ok)
  if (v.ok && v.msg.type === 'members') t.is(v.msg.members.length, MAX_MEMBERS)
})

test('every truncation of every valid frame is rejected as truncated, never thrown', t => {
  let n = 0
  for (const [name, msg] of SAMPLES) {
    const bytes = encodeMessage(msg)
    for (let len = 0; len < bytes.length; len++) {
      const v = decodeMessage(bytes.subarray(0, len))
      t.false(v.ok, `${name} cut to ${len}`)
      if (!v.ok) t.true(v.reason === 'truncated' || v.reason === 'malformed', `${name} cut to ${len}: ${v.reason}`)
      n++
    }
  }
  t.true(n > 300)
})

/** Build a frame by hand: a type byte and raw parts. */
function frame (...parts: Array<number | number[] | Uint8Array>): Uint8Array {
  const out: number[] = []
  for (const p of parts) {
    if (typeof p === 'number') out.push(p)
    else out.push(...p)
  }
  return Uint8Array.from(out)
}

function str (s: string | Uint8Array): number[] {
  const b = typeof s === 'string' ? new TextEncoder().encode(s) : s
  if (b.length > 127) throw new Error('test helper: short strings only')
  return [b.length, ...b]
}

const BAD: Array<[string, Uint8Array, DecodeFailure]> = [
  ['empty frame', new Uint8Array(0), 'truncated'],
  ['unknown type 0x00', frame(0x00), 'unknown-type'],
  ['unknown type 0x7f', frame(0x7f, 1, 2, 3), 'unknown-type'],
  ['trailing byte', frame(0x0b, 5, 0), 'malformed'],
  ['unknown flag bit in hello', frame(0x01, 0x04, str('kvgrid'), 0, 0, 0, 0), 'malformed'],
  ['unknown role', frame(0x01, 0, str('kvgrid'), 0, 9, 0, 0), 'malformed'],
  ['unknown join-rejected reason', frame(0x04, 7, 0), 'malformed'],
  ['empty cluster name', frame(0x02, 0, str(''), 0, 0), 'malformed'],
  ['cluster name over 64 bytes', frame(0x02, 0, str('c'.repeat(65)), 0, 0), 'malformed'],
  ['invalid UTF-8 in cluster name', frame(0x02, 0, str(Uint8Array.of(0xff, 0xfe)), 0, 0), 'malformed'],
  ['varint of 2^56 - 1 (not a safe integer)', frame(0x0b, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), 'malformed'],
  ['varint of 2^49 + trailing byte', frame(0x0b, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0), 'malformed'],
  ['varint longer than 8 bytes', frame(0x0b, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'malformed'],
  ['duplicate member', frame(0x05, 0, 1, str(CID), 1, 1, 2, str('a'), str('a')), 'malformed'],
  ['member count over the limit', frame(0x05, 0, 1, str(CID), 1, 1, [0x81, 0x08], ...Array(2050).fill(0)), 'malformed'],
  ['member count larger than the frame', frame(0x05, 0, 1, str(CID), 1, 1, [0xff, 0x07]), 'truncated'],
  ['peer id over 128 bytes', frame(0x04, 1, 1, [129, 1], ...Array(129).fill(0x61)), 'malformed'],
  ['vote-reply flag bit 8', frame(0x0a, 0x08, 1), 'malformed']
]

for (const [name, bytes, reason] of BAD) {
  test(`a frame with ${name} is rejected (${reason}), not thrown`, t => {
    const v = decodeMessage(bytes)
    t.false(v.ok)
    if (!v.ok) {
      t.is(v.reason, reason, v.detail)
      t.true(v.detail.length > 0)
    }
  })
}

test('an oversized frame is rejected before decoding', t => {
  const v = decodeMessage(new Uint8Array(MAX_FRAME_BYTES + 1))
  t.deepEqual(v.ok ? undefined : v.reason, 'oversized')
})

test('decodeMessage never throws on non-bytes', t => {
  for (const x of [undefined, null, 'hello', 42, {}, [1, 2]]) {
    const v = decodeMessage(x as unknown as Uint8Array)
    t.false(v.ok)
  }
})

test('encodeMessage refuses values the decoder would reject (a caller bug)', t => {
  t.throws(() => encodeMessage({ type: 'timeout-now', term: -1 }), { instanceOf: RangeError })
  t.throws(() => encodeMessage({ type: 'timeout-now', term: 1.5 }), { instanceOf: RangeError })
  t.throws(() => encodeMessage({ type: 'leave', term: 1, clusterId: '' }), { instanceOf: RangeError })
  t.throws(() => encodeMessage({ type: 'join-rejected', reason: 'busy', primary: 'x'.repeat(129) }), { instanceOf: RangeError })
  const tooMany = Array.from({ length: MAX_MEMBERS + 1 }, (_, i) => `m${i}`)
  t.throws(() => encodeMessage({ type: 'members', term: 1, clusterId: CID, configTerm: 1, version: 1, members: tooMany, committed: false }), { instanceOf: RangeError })
})

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 5000)

test(`fuzz: ${FUZZ_RUNS} random byte strings and ${FUZZ_RUNS} mutated valid frames never make decodeMessage throw; whatever decodes re-encodes to the same message`, t => {
  const rnd = mulberry32(0xc0dec)
  const byte = (): number => Math.floor(rnd() * 256)
  let accepted = 0
  const check = (bytes: Uint8Array, what: string): void => {
    let v
    try {
      v = decodeMessage(bytes)
    } catch (err) {
      t.fail(`${what} threw: ${String(err)} on [${[...bytes].join(',')}]`)
      return
    }
    if (v.ok) {
      accepted++
      const again = decodeMessage(encodeMessage(v.msg))
      if (!again.ok || JSON.stringify(again.msg) !== JSON.stringify(v.msg)) t.fail(`${what}: re-encoding changed [${[...bytes].join(',')}]`)
    } else if (typeof v.reason !== 'string' || typeof v.detail !== 'string') {
      t.fail(`${what}: verdict without reason`)
    }
  }
  for (let i = 0; i < FUZZ_RUNS; i++) {
    const len = Math.floor(rnd() * 64)
    // Bias the first byte towards known types so the fuzz reaches the field decoders.
    const bytes = Uint8Array.from({ length: len }, (_, k) => (k === 0 && rnd() < 0.8 ? 1 + Math.floor(rnd() * 12) : byte()))
    check(bytes, `random #${i}`)
  }
  const valid = SAMPLES.map(([, m]) => encodeMessage(m))
  for (let i = 0; i < FUZZ_RUNS; i++) {
    const src = valid[i % valid.length]
    const bytes = Uint8Array.from(src)
    const flips = 1 + Math.floor(rnd() * 3)
    for (let k = 0; k < flips; k++) bytes[Math.floor(rnd() * bytes.length)] = byte()
    const cut = rnd() < 0.3 ? Math.floor(rnd() * bytes.length) : bytes.length
    const extra = rnd() < 0.1 ? Uint8Array.of(byte()) : new Uint8Array(0)
    const out = new Uint8Array(cut + extra.length)
    out.set(bytes.subarray(0, cut))
    out.set(extra, cut)
    check(out, `mutation #${i}`)
  }
  t.log(`${accepted} of ${2 * FUZZ_RUNS} fuzzed frames decoded to a valid message`)
  t.pass()
})
