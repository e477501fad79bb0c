/**
 * Binary encodings of what the store writes: records, history tombstones, log entries and
 * the persisted state, plus the LevelDB key layout. One prefix byte per keyspace:
 *
 *   'd' + utf8(key)                              → record            (data)
 *   'h' + u16 keyLen + utf8(key) + u64 revision  → record|tombstone  (per-key history)
 *   'l' + u64 index                              → log entry         (update log)
 *   'x' + u64 expiresAt + utf8(key)              → empty             (expiry index)
 *   'm' + name                                   → meta value        (state, install mark, log floor, arbiter …)
 *
 * u64 keys are big-endian so LevelDB's bytewise order is numeric order.
 */
import { DecodeError, Reader, Writer, fromUtf8, utf8, varintLength } from '../codec/bytes.js'
import type { LogEntry, LogPosition, Mutation, StoreState, StoredRecord } from './types.js'

const P_DATA = 0x64
const P_HISTORY = 0x68
const P_LOG = 0x6c
const P_EXPIRY = 0x78
const P_META = 0x6d

const F_EXPIRY = 1
const F_TOMBSTONE = 2
const F_EXISTED = 1
const F_PREV_EXPIRY = 2
const F_EXPIRED = 4
const M_PUT = 1
const M_DEL = 2
const LOG_FORMAT = 1
const STATE_FORMAT = 1
const POSITION_FORMAT = 1

/** First byte after every data key: the exclusive upper bound of the data keyspace. */
export const DATA_END = Uint8Array.of(P_DATA + 1)
/** Inclusive start of the data keyspace. */
export const DATA_START = Uint8Array.of(P_DATA)

/** Encode a record, or a tombstone at `revision` when `record` is undefined. */
export function encodeRecord (record: StoredRecord): Uint8Array {
  const hasExp = record.expiresAt !== undefined
  // Sized exactly, so `finish` hands over the buffer without a copy.
  const size = 1 + varintLength(record.revision) + varintLength(record.createRevision) + varintLength(record.version) +
    (hasExp ? varintLength(record.expiresAt as number) : 0) + record.value.length
  const w = new Writer(size)
  w.u8(hasExp ? F_EXPIRY : 0).varint(record.revision).varint(record.createRevision).varint(record.version)
  if (hasExp) w.varint(record.expiresAt as number)
  return w.raw(record.value).finish()
}

/** A history tombstone: the key was deleted at `revision`. */
export function encodeTombstone (revision: number): Uint8Array {
  return new Writer(10).u8(F_TOMBSTONE).varint(revision).finish()
}

/** Decode a record; undefined for a tombstone. */
export function decodeRecord (bytes: Uint8Array): StoredRecord | undefined {
  const r = new Reader(bytes)
  const flags = r.u8()
  if ((flags & F_TOMBSTONE) !== 0) {
    r.varint()
    r.end()
    return undefined
  }
  if ((flags & ~F_EXPIRY) !== 0) throw new DecodeError(`unknown record flags ${flags}`)
  const revision = r.varint()
  const createRevision = r.varint()
  const version = r.varint()
  const record: StoredRecord = { value: new Uint8Array(0), revision, createRevision, version }
  if ((flags & F_EXPIRY) !== 0) record.expiresAt = r.varint()
  record.value = new Uint8Array(r.rest())
  return record
}

function writeMutation (w: Writer, m: Mutation): void {
  const hasPrev = m.prevExpiresAt !== undefined
  if (m.type === 'put') {
    w.u8(M_PUT).string(m.key).u8((m.existed ? F_EXISTED : 0) | (hasPrev ? F_PREV_EXPIRY : 0))
    if (hasPrev) w.varint(m.prevExpiresAt as number)
    w.bytes(encodeRecord(m.record))
  } else {
    w.u8(M_DEL).string(m.key).u8((m.expired ? F_EXPIRED : 0) | (hasPrev ? F_PREV_EXPIRY : 0))
    if (hasPrev) w.varint(m.prevExpiresAt as number)
  }
}

function readMutation (r: Reader): Mutation {
  const kind = r.u8()
  const key = r.string()
  const flags = r.u8()
  const prevExpiresAt = (flags & F_PREV_EXPIRY) !== 0 ? r.varint() : undefined
  if (kind === M_PUT) {
    const record = decodeRecord(r.bytes())
    if (record === undefined) throw new DecodeError('put mutation holds a tombstone')
    const m: Mutation = { type: 'put', key, record, existed: (flags & F_EXISTED) !== 0 }
    if (prevExpiresAt !== undefined) m.prevExpiresAt = prevExpiresAt
    return m
  }
  if (kind === M_DEL) {
    const m: Mutation = { type: 'del', key, expired: (flags & F_EXPIRED) !== 0 }
    if (prevExpiresAt !== undefined) m.prevExpiresAt = prevExpiresAt
    return m
  }
  throw new DecodeError(`unknown mutation kind ${kind}`)
}

/**
 * Encodings of entries already encoded or decoded once: an entry is written to the primary's
 * log, sent to every member and written to each member's log, and its bytes never change.
 */
const encoded = new WeakMap<LogEntry, Uint8Array>()

/** Encode one log entry (once: later calls return the same bytes). */
export function encodeLogEntry (e: LogEntry): Uint8Array {
  const cached = encoded.get(e)
  if (cached !== undefined) return cached
  const bytes = encodeLogEntryFresh(e)
  encoded.set(e, bytes)
  return bytes
}

function encodeLogEntryFresh (e: LogEntry): Uint8Array {
  const w = new Writer(64)
  w.u8(LOG_FORMAT).varint(e.index).varint(e.term).varint(e.revision).varint(e.mutations.length)
  for (const m of e.mutations) writeMutation(w, m)
  return w.finish()
}

/** Decode one log entry; throws {@link DecodeError} when malformed. */
export function decodeLogEntry (bytes: Uint8Array): LogEntry {
  const r = new Reader(bytes)
  const format = r.u8()
  if (format !== LOG_FORMAT) throw new DecodeError(`unknown log entry format ${format}`)
  const index = r.varint()
  const term = r.varint()
  const revision = r.varint()
  const n = r.varint()
  if (n > r.remaining) throw new DecodeError(`mutation count ${n} exceeds frame`)
  const mutations: Mutation[] = []
  for (let i = 0; i < n; i++) mutations.push(readMutation(r))
  r.end()
  const entry = { index, term, revision, mutations }
  encoded.set(entry, bytes.slice()) // a copy: the frame's buffer may be reused by the transport
  return entry
}

/** Encode the persisted state. */
export function encodeState (s: StoreState): Uint8Array {
  return new Writer(48).u8(STATE_FORMAT).varint(s.index).varint(s.term).varint(s.revision)
    .varint(s.keys).varint(s.compactedRevision).varint(s.firstLogIndex).finish()
}

/** Decode the persisted state. */
export function decodeState (bytes: Uint8Array): StoreState {
  const r = new Reader(bytes)
  const format = r.u8()
  if (format !== STATE_FORMAT) throw new DecodeError(`unknown state format ${format}`)
  const s = { index: r.varint(), term: r.varint(), revision: r.varint(), keys: r.varint(), compactedRevision: r.varint(), firstLogIndex: r.varint() }
  r.end()
  return s
}

/** LevelDB key of a data record. */
export function dataKey (key: string): Uint8Array {
  const kb = utf8(key)
  return new Writer(kb.length + 1).u8(P_DATA).raw(kb).finish()
}

/**
 * LevelDB bounds of the data keyspace for a prefix and optional start/end (UTF-8 byte order):
 * the tighter of each pair wins.
 */
export function dataBounds (prefix?: string, gte?: string, lt?: string): { gte: Uint8Array, lt: Uint8Array } {
  let lo = gte === undefined ? DATA_START : dataKey(gte)
  let hi = lt === undefined ? DATA_END : dataKey(lt)
  if (prefix !== undefined && prefix.length > 0) {
    const p = dataKey(prefix)
    if (compareBytes(p, lo) > 0) lo = p
    const end = prefixEnd(p)
    if (compareBytes(end, hi) < 0) hi = end
  }
  return { gte: lo, lt: hi }
}

/** Smallest byte string greater than every string starting with `p` (p never all 0xff here: it starts with 'd'). */
function prefixEnd (p: Uint8Array): Uint8Array {
  const end = p.slice()
  let i = end.length - 1
  while (i >= 0 && end[i] === 0xff) i--
  end[i]++
  return end.subarray(0, i + 1)
}

/** Bytewise comparison. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

/** User key of a data key. */
export function keyOfDataKey (k: Uint8Array): string {
  return fromUtf8(k.subarray(1))
}

/** LevelDB key of a history entry. */
export function historyKey (key: string, revision: number): Uint8Array {
  const kb = utf8(key)
  return new Writer(kb.length + 11).u8(P_HISTORY).u16(kb.length).raw(kb).u64(revision).finish()
}

/** LevelDB key of a log entry. */
export function logKey (index: number): Uint8Array {
  return new Writer(9).u8(P_LOG).u64(index).finish()
}

/** LevelDB key of an expiry-index entry. */
export function expiryKey (expiresAt: number, key: string): Uint8Array {
  const kb = utf8(key)
  return new Writer(kb.length + 9).u8(P_EXPIRY).u64(expiresAt).raw(kb).finish()
}

/** Decode an expiry-index key. */
export function decodeExpiryKey (k: Uint8Array): { expiresAt: number, key: string } {
  const r = new Reader(k)
  r.u8()
  const expiresAt = r.u64()
  return { expiresAt, key: fromUtf8(r.rest()) }
}

/** Bounds of the expiry-index entries due at or before `now`. */
export function expiryBounds (now: number): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: Uint8Array.of(P_EXPIRY), lt: new Writer(9).u8(P_EXPIRY).u64(now + 1).finish() }
}

/** Upper bound (exclusive) of the expiry index. */
export const EXPIRY_END = Uint8Array.of(P_EXPIRY + 1)
/** Lower bound of the expiry index. */
export const EXPIRY_START = Uint8Array.of(P_EXPIRY)
/** Lower and upper bounds of the log keyspace. */
export const LOG_START = Uint8Array.of(P_LOG)
export const LOG_END = Uint8Array.of(P_LOG + 1)

/** Lower and upper bounds of the history keyspace. */
export const HISTORY_START = Uint8Array.of(P_HISTORY)
export const HISTORY_END = Uint8Array.of(P_HISTORY + 1)

/** Encode a log position (install mark, log floor). */
export function encodePosition (p: LogPosition): Uint8Array {
  return new Writer(32).u8(POSITION_FORMAT).varint(p.index).varint(p.term).varint(p.revision).finish()
}

/** Decode a log position. */
export function decodePosition (bytes: Uint8Array): LogPosition {
  const r = new Reader(bytes)
  const format = r.u8()
  if (format !== POSITION_FORMAT) throw new DecodeError(`unknown position format ${format}`)
  const p = { index: r.varint(), term: r.varint(), revision: r.varint() }
  r.end()
  return p
}

/** LevelDB key of a meta value. */
export function metaKey (name: string): Uint8Array {
  const nb = utf8(name)
  return new Writer(nb.length + 1).u8(P_META).raw(nb).finish()
}
