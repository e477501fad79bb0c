/**
 * Binary encodings: round trips, order-preserving keys, and malformed input that must become a
 * DecodeError (never another exception, never a wrong value).
 */
import test from 'ava'
import { DecodeError, Reader, Writer } from '../src/codec/bytes.js'
import { decodeLogEntry, decodeRecord, encodeLogEntry, encodeRecord, encodeTombstone, historyKey, logKey, logEntryRequest, compareBytes, decodeState, encodeState, rawLogEntry } from '../src/store/codec.js'
import type { LogEntry } from '../src/store/types.js'

test('varints round-trip across the safe integer range', t => {
  const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]
  const w = new Writer(1)
  for (const v of values) w.varint(v).u64(v)
  const r = new Reader(w.finish())
  for (const v of values) {
    t.is(r.varint(), v)
    t.is(r.u64(), v)
  }
  r.end()
})

test('u64 keys sort bytewise in numeric order', t => {
  const nums = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3]
  for (let i = 1; i < nums.length; i++) {
    t.true(compareBytes(logKey(nums[i - 1]), logKey(nums[i])) < 0)
    t.true(compareBytes(historyKey('k', nums[i - 1]), historyKey('k', nums[i])) < 0)
  }
  // history of one key is contiguous: a longer key never lands between two revisions of "k"
  t.true(compareBytes(historyKey('k', 2 ** 40), historyKey('k\u0000', 0)) < 0)
})

test('records and log entries round-trip', t => {
  const record = { value: new Uint8Array([0, 1, 2, 255]), revision: 9, createRevision: 3, version: 2, expiresAt: 1_700_000_000_000 }
  t.deepEqual(decodeRecord(encodeRecord(record)), record)
  const plain = { value: new Uint8Array(0), revision: 1, createRevision: 1, version: 1 }
  t.deepEqual(decodeRecord(encodeRecord(plain)), plain)
  t.is(decodeRecord(encodeTombstone(5)), undefined)
  const entry: LogEntry = {
    index: 12,
    term: 3,
    revision: 10,
    mutations: [
      { type: 'put', key: 'ключ', existed: true, prevExpiresAt: 5, record },
      { type: 'del', key: 'gone', expired: true }
    ]
  }
  t.deepEqual(decodeLogEntry(encodeLogEntry(entry)), entry)
  const state = { index: 4, term: 2, revision: 3, keys: 1, compactedRevision: 0, firstLogIndex: 1 }
  t.deepEqual(decodeState(encodeState(state)), state)
})

test('truncated, padded or garbage log entries fail with DecodeError only', t => {
  const entry: LogEntry = { index: 1, term: 1, revision: 1, mutations: [{ type: 'put', key: 'a', existed: false, record: { value: new Uint8Array([1, 2, 3]), revision: 1, createRevision: 1, version: 1 } }] }
  const bytes = encodeLogEntry(entry)
  for (let n = 0; n < bytes.length; n++) {
    t.throws(() => decodeLogEntry(bytes.subarray(0, n)), { instanceOf: DecodeError }, `truncated to ${n}`)
  }
  t.throws(() => decodeLogEntry(Uint8Array.of(...bytes, 0)), { instanceOf: DecodeError })
  let seed = 42
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed }
  for (let i = 0; i < 2000; i++) {
    const junk = Uint8Array.from({ length: rand() % 40 }, () => rand() % 256)
    junk[0] = 1
    try {
      decodeLogEntry(junk)
    } catch (err) {
      t.true(err instanceof DecodeError, String(err))
    }
  }
})

test('varints longer than 8 bytes or beyond 2^53 are refused', t => {
  t.throws(() => new Reader(new Uint8Array(9).fill(0x80)).varint(), { instanceOf: DecodeError })
  t.throws(() => new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)).varint(), { instanceOf: DecodeError })
  t.throws(() => new Reader(Uint8Array.of(5, 1, 2)).bytes(), { instanceOf: DecodeError })
  t.throws(() => new Reader(Uint8Array.of(3, 1, 2, 3)).bytes(2), { instanceOf: DecodeError })
})

test('a log entry is encoded once: decoding keeps its bytes, and they are a copy of the frame', t => {
  const entry: LogEntry = { index: 3, term: 2, revision: 3, mutations: [{ type: 'del', key: 'k', expired: false }] }
  const bytes = encodeLogEntry(entry)
  t.is(encodeLogEntry(entry), bytes, 'the same bytes, not a second encoding')
  const frame = Uint8Array.of(...bytes)
  const decoded = decodeLogEntry(frame)
  frame.fill(0) // the transport reuses its buffer
  t.deepEqual(encodeLogEntry(decoded), bytes)
})

test('log format 2 carries the revision each mutation replaces; format 1 entries still decode, without it', t => {
  const record = { value: new Uint8Array([7]), revision: 10, createRevision: 4, version: 3 }
  const entry: LogEntry = {
    index: 12,
    term: 3,
    revision: 10,
    mutations: [
      { type: 'put', key: 'a', existed: true, prevExpiresAt: 5, prevRevision: 9, record },
      { type: 'put', key: 'new', existed: false, prevRevision: 0, record },
      { type: 'del', key: 'gone', expired: false, prevRevision: 300_000 }
    ]
  }
  const bytes = encodeLogEntry(entry)
  t.is(bytes[0], 2)
  t.deepEqual(decodeLogEntry(bytes), entry)
  // The same entry as a format-1 writer made it: no prevRevision (unknown to compaction).
  const old: LogEntry = { ...entry, index: 13, mutations: entry.mutations.map(({ prevRevision, ...m }) => m) as LogEntry['mutations'] }
  const v1 = encodeLogEntry(old).slice()
  v1[0] = 1
  const decoded = decodeLogEntry(v1)
  t.deepEqual(decoded, old)
  t.true(decoded.mutations.every(m => m.prevRevision === undefined))
  // A format-1 entry with a format-2 flag, or any entry with an unknown flag, is refused.
  const flagged = bytes.slice()
  flagged[0] = 1
  t.throws(() => decodeLogEntry(flagged), { instanceOf: DecodeError })
  const unknownFlag = encodeLogEntry({ index: 1, term: 1, revision: 1, mutations: [{ type: 'del', key: 'k', expired: false }] }).slice()
  unknownFlag[unknownFlag.length - 1] |= 0x40 // the flags byte ends a delete without prev fields
  t.throws(() => decodeLogEntry(unknownFlag), { instanceOf: DecodeError, message: /unknown mutation flags/ })
})

test('log format 3: an entry made by a repeatable request carries its 16-byte fingerprint; entries without one stay format 2', t => {
  const record = { value: new Uint8Array([7]), revision: 10, createRevision: 4, version: 3 }
  const request = Uint8Array.from({ length: 16 }, (_, i) => 200 + i)
  const entry: LogEntry = { index: 12, term: 3, revision: 10, mutations: [{ type: 'put', key: 'a', existed: true, prevRevision: 9, record }], request }
  const bytes = encodeLogEntry(entry)
  t.is(bytes[0], 3)
  const decoded = decodeLogEntry(bytes)
  t.deepEqual(decoded, entry)
  t.is(Object.getPrototypeOf(decoded.request), Uint8Array.prototype, 'a plain copy, not a view of the frame')
  t.deepEqual(logEntryRequest(bytes), request)
  t.like(rawLogEntry(bytes), { index: 12, term: 3, revision: 10 })
  const { request: _, ...plain } = entry
  const v2 = encodeLogEntry({ ...plain, index: 13 })
  t.is(v2[0], 2)
  t.is(logEntryRequest(v2), undefined)
  // An empty entry (a primary's barrier) round-trips too.
  const barrier: LogEntry = { index: 14, term: 4, revision: 10, mutations: [] }
  t.deepEqual(decodeLogEntry(encodeLogEntry(barrier)), barrier)
  // Truncated anywhere, including inside the fingerprint: DecodeError.
  for (let n = 0; n < bytes.length; n++) t.throws(() => decodeLogEntry(bytes.subarray(0, n)), { instanceOf: DecodeError }, `truncated to ${n}`)
  // A fingerprint of another size is refused when encoding.
  t.throws(() => encodeLogEntry({ ...plain, index: 15, request: new Uint8Array(8) }), { instanceOf: RangeError })
})
