/**
 * Binary encodings of what the store writes: records, history tombstones, log entries and
 * the persisted state, plus the LevelDB key layout. One prefix byte per keyspace:
 *
 *   'd' + utf8(key)                              → record            (data)
 *   'h' + u16 keyLen + utf8(key) + u64 revision  → record|tombstone  (per-key history)
 *   'l' + u64 index                              → log entry         (update log)
 *   'x' + u64 expiresAt + utf8(key)              → empty             (expiry index)
 *   'q' + request fingerprint (16 bytes)         → varint log index  (request index)
 *   'm' + name                                   → meta value        (state, install mark, log floor, arbiter …)
 *
 * u64 keys are big-endian so LevelDB's bytewise order is numeric order.
 */
import { isUtf8 } from 'node:buffer'
import { DecodeError, Reader, Writer, fromUtf8, utf8, varintLength, writeU64At, writeVarintAt } from '../codec/bytes.js'
import { MAX_KEY_BYTES } from '../constants.js'
import type { LogEntry, LogPosition, Mutation, PackedRecords, RawLogEntry, StoreState, StoredRecord } from './types.js'

const P_DATA = 0x64
const P_HISTORY = 0x68
const P_LOG = 0x6c
const P_EXPIRY = 0x78
const P_META = 0x6d
const P_REQUEST = 0x71

const F_EXPIRY = 1
const F_TOMBSTONE = 2
const F_EXISTED = 1
const F_PREV_EXPIRY = 2
const F_EXPIRED = 4
/** Log format 2: the mutation carries the revision it replaces (`prevRevision`). */
const F_PREV_REVISION = 8
const M_PUT = 1
const M_DEL = 2
/**
 * Written: 2 (mutations may carry `prevRevision`), or 3 for an entry made by a request with a
 * fingerprint: format 2 plus the fingerprint after the header. Read: 1, 2 and 3.
 */
const LOG_FORMAT = 2
const LOG_FORMAT_V1 = 1
const LOG_FORMAT_REQUEST = 3
/** Bytes of a request fingerprint (core/request.ts). */
export const REQUEST_BYTES = 16
const STATE_FORMAT = 1
const POSITION_FORMAT = 1

/** First byte after every data key: the exclusive upper bound of the data keyspace. */
export const DATA_END = Uint8Array.of(P_DATA + 1)
/** Inclusive start of the data keyspace. */
export const DATA_START = Uint8Array.of(P_DATA)

/**
 * Record encodings made for a log entry, waiting for the same peer's data row: a put's record is
 * written twice (inside its log entry and as the data row). {@link takeRecordEncoding} removes
 * the entry, so a record kept in the record cache does not also keep its encoding alive.
 */
const recordBytes = new WeakMap<StoredRecord, Uint8Array>()


/** Encode a record for a log entry, remembering the bytes for {@link takeRecordEncoding}. */
function encodeRecordForLog (record: StoredRecord): Uint8Array {
  let bytes = recordBytes.get(record)
  if (bytes === undefined) {
    bytes = encodeRecord(record)
    recordBytes.set(record, bytes)
  }
  return bytes
}

/** The record's encoding made for its log entry (forgotten from then on), or a fresh one. */
export function takeRecordEncoding (record: StoredRecord): Uint8Array {
  const bytes = recordBytes.get(record)
  if (bytes === undefined) return encodeRecord(record)
  recordBytes.delete(record)
  return bytes
}

/** Encode a record. */
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

/** A mutation's parts that take encoding work, prepared once to size the entry exactly. */
interface MutationParts { key: Uint8Array, record?: Uint8Array }

function mutationParts (m: Mutation): MutationParts {
  return m.type === 'put' ? { key: utf8(m.key), record: encodeRecordForLog(m.record) } : { key: utf8(m.key) }
}

function mutationSize (m: Mutation, p: MutationParts): number {
  let size = 1 + varintLength(p.key.length) + p.key.length + 1
  if (m.prevExpiresAt !== undefined) size += varintLength(m.prevExpiresAt)
  if (m.prevRevision !== undefined) size += varintLength(m.prevRevision)
  if (p.record !== undefined) size += varintLength(p.record.length) + p.record.length
  return size
}

function writeMutation (w: Writer, m: Mutation, p: MutationParts): void {
  const hasPrev = m.prevExpiresAt !== undefined
  const hasPrevRevision = m.prevRevision !== undefined
  const common = (hasPrev ? F_PREV_EXPIRY : 0) | (hasPrevRevision ? F_PREV_REVISION : 0)
  if (m.type === 'put') w.u8(M_PUT).bytes(p.key).u8((m.existed ? F_EXISTED : 0) | common)
  else w.u8(M_DEL).bytes(p.key).u8((m.expired ? F_EXPIRED : 0) | common)
  if (hasPrev) w.varint(m.prevExpiresAt as number)
  if (hasPrevRevision) w.varint(m.prevRevision as number)
  if (m.type === 'put') w.bytes(p.record as Uint8Array)
}

function readMutation (r: Reader, format: number): Mutation {
  const kind = r.u8()
  const key = r.string()
  const flags = r.u8()
  const known = F_EXISTED | F_PREV_EXPIRY | F_EXPIRED | (format !== LOG_FORMAT_V1 ? F_PREV_REVISION : 0)
  if ((flags & ~known) !== 0) throw new DecodeError(`unknown mutation flags ${flags}`)
  const prevExpiresAt = (flags & F_PREV_EXPIRY) !== 0 ? r.varint() : undefined
  const prevRevision = (flags & F_PREV_REVISION) !== 0 ? r.varint() : undefined
  let m: Mutation
  if (kind === M_PUT) {
    const record = decodeRecord(r.bytes())
    if (record === undefined) throw new DecodeError('put mutation holds a tombstone')
    m = { type: 'put', key, record, existed: (flags & F_EXISTED) !== 0 }
  } else if (kind === M_DEL) {
    m = { type: 'del', key, expired: (flags & F_EXPIRED) !== 0 }
  } else {
    throw new DecodeError(`unknown mutation kind ${kind}`)
  }
  if (prevExpiresAt !== undefined) m.prevExpiresAt = prevExpiresAt
  if (prevRevision !== undefined) m.prevRevision = prevRevision
  return m
}

/** Where a {@link storedLogEntry} keeps its stored bytes (encodeLogEntry returns them). */
const STORED = Symbol('kvgrid.storedLogEntry')

/**
 * Encodings of entries already encoded or decoded once: an entry is written to the primary's
 * log, sent to every member and written to each member's log, and its bytes never change.
 */
const encoded = new WeakMap<LogEntry, Uint8Array>()

/** Encode one log entry (once: later calls return the same bytes). */
export function encodeLogEntry (e: LogEntry): Uint8Array {
  const stored = (e as { [STORED]?: Uint8Array })[STORED]
  if (stored !== undefined) return stored
  const cached = encoded.get(e)
  if (cached !== undefined) return cached
  const bytes = encodeLogEntryFresh(e)
  encoded.set(e, bytes)
  return bytes
}

function encodeLogEntryFresh (e: LogEntry): Uint8Array {
  // Sized exactly, so `finish` hands over the buffer without growing or copying it.
  const parts = e.mutations.map(mutationParts)
  const request = e.request
  if (request !== undefined && request.length !== REQUEST_BYTES) throw new RangeError(`a request fingerprint has ${REQUEST_BYTES} bytes, got ${request.length}`)
  let size = 1 + varintLength(e.index) + varintLength(e.term) + varintLength(e.revision) + varintLength(e.mutations.length)
  if (request !== undefined) size += REQUEST_BYTES
  e.mutations.forEach((m, i) => { size += mutationSize(m, parts[i]) })
  const w = new Writer(size)
  w.u8(request === undefined ? LOG_FORMAT : LOG_FORMAT_REQUEST).varint(e.index).varint(e.term).varint(e.revision)
  if (request !== undefined) w.raw(request)
  w.varint(e.mutations.length)
  e.mutations.forEach((m, i) => { writeMutation(w, m, parts[i]) })
  return w.finish()
}

/** Decode one log entry; throws {@link DecodeError} when malformed. */
export function decodeLogEntry (bytes: Uint8Array): LogEntry {
  const entry = decodeLogEntryFresh(bytes)
  encoded.set(entry, bytes.slice()) // a copy: the frame's buffer may be reused by the transport
  return entry
}

function decodeLogEntryFresh (bytes: Uint8Array): LogEntry {
  const r = new Reader(bytes)
  const { format, index, term, revision } = readLogHeader(r)
  const request = format === LOG_FORMAT_REQUEST ? new Uint8Array(r.raw(REQUEST_BYTES)) : undefined // a copy, as a plain Uint8Array
  const n = r.varint()
  if (n > r.remaining) throw new DecodeError(`mutation count ${n} exceeds frame`)
  const mutations: Mutation[] = []
  for (let i = 0; i < n; i++) mutations.push(readMutation(r, format))
  r.end()
  const entry: LogEntry = { index, term, revision, mutations }
  if (request !== undefined) entry.request = request
  return entry
}

function readLogHeader (r: Reader): { format: number, index: number, term: number, revision: number } {
  const format = r.u8()
  if (format !== LOG_FORMAT && format !== LOG_FORMAT_V1 && format !== LOG_FORMAT_REQUEST) throw new DecodeError(`unknown log entry format ${format}`)
  return { format, index: r.varint(), term: r.varint(), revision: r.varint() }
}

/**
 * The request fingerprint of an encoded log entry (a view into `bytes`), undefined when the
 * entry has none; reads the header only. Throws {@link DecodeError} when the header is malformed.
 */
export function logEntryRequest (bytes: Uint8Array): Uint8Array | undefined {
  const r = new Reader(bytes)
  return readLogHeader(r).format === LOG_FORMAT_REQUEST ? r.raw(REQUEST_BYTES) : undefined
}

/**
 * A stored log entry's header fields with its bytes ({@link RawLogEntry}), reading the header
 * and nothing else; throws {@link DecodeError} when the header is malformed. `bytes` is kept, not
 * copied.
 */
export function rawLogEntry (bytes: Uint8Array): RawLogEntry {
  const { index, term, revision } = readLogHeader(new Reader(bytes))
  return { index, term, revision, bytes }
}

/**
 * A {@link LogEntry} over a {@link RawLogEntry}, to send on without decoding it: `index`, `term`
 * and `revision` are the raw entry's, `mutations` are decoded from the bytes only when first read
 * (a primary's delta answer never reads them), and {@link encodeLogEntry} returns `raw.bytes` as
 * they are — so the append encoder copies the stored bytes into the frame. The bytes must be a
 * well-formed entry (they came from the store); reading `mutations` of a malformed one throws
 * {@link DecodeError}. Like every entry once encoded, never modify it (nor a spread copy, which
 * keeps the bytes too). A plain object with an own getter and a symbol-keyed property, so copies
 * (spread, structuredClone) hold the mutations; measured much cheaper than a WeakMap entry or a
 * defineProperty per entry, which cost about as much as decoding.
 */
export function storedLogEntry (raw: RawLogEntry): LogEntry {
  const bytes = raw.bytes
  let mutations: Mutation[] | undefined
  const entry: LogEntry & { [STORED]: Uint8Array } = {
    index: raw.index,
    term: raw.term,
    revision: raw.revision,
    get mutations (): Mutation[] {
      return (mutations ??= decodeLogEntryFresh(bytes).mutations)
    },
    [STORED]: bytes
  }
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

/** Lower and upper bounds of the request index. */
export const REQUEST_START = Uint8Array.of(P_REQUEST)
export const REQUEST_END = Uint8Array.of(P_REQUEST + 1)

/** LevelDB key of a request-index row. */
export function requestKey (request: Uint8Array): Uint8Array {
  return new Writer(1 + REQUEST_BYTES).u8(P_REQUEST).raw(request).finish()
}

/** Request fingerprint of a request-index key (a view); DecodeError when it is not one. */
export function requestOfKey (k: Uint8Array): Uint8Array {
  if (k.length !== 1 + REQUEST_BYTES || k[0] !== P_REQUEST) throw new DecodeError('not a request-index key')
  return k.subarray(1)
}

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

// ---------------------------------------------------------------------------------------------
// Packed records (snapshot chunks): rows copied as stored, checked without decoding them.

/**
 * Builds {@link PackedRecords} from rows as stored (UTF-8 key, record bytes), copying bytes
 * only: one buffer per chunk, no object per record.
 */
export class RecordPacker {
  private buf: Buffer
  private pos = 0
  /** Records added since the last {@link take}. */
  count = 0

  /** `capacity`: initial buffer size of each chunk (it grows for a larger record). */
  constructor (private readonly capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity))
  }

  /** Bytes added since the last {@link take}. */
  get size (): number {
    return this.pos
  }

  /** Room for a row of `keyLength` + `recordLength` bytes (two varints of at most 8 bytes each). */
  private room (keyLength: number, recordLength: number): Buffer {
    const need = this.pos + 16 + keyLength + recordLength
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
      next.set(this.buf.subarray(0, this.pos))
      this.buf = next
    }
    return this.buf
  }

  /** Add one row: the key's UTF-8 bytes and its stored record encoding. */
  add (key: Uint8Array, record: Uint8Array): void {
    const b = this.room(key.length, record.length)
    let p = writeVarintAt(b, this.pos, key.length)
    b.set(key, p)
    p = writeVarintAt(b, p + key.length, record.length)
    b.set(record, p)
    this.pos = p + record.length
    this.count++
  }

  /**
   * Add one row whose key is given as text: `text` from UTF-16 index `from` on (LevelDB rows read
   * with a UTF-8 key encoding, prefix byte included: reading keys as strings is cheaper than as
   * buffers). The store writes only keys encoded from strings, so the text is exact.
   */
  addText (text: string, from: number, record: Uint8Array): void {
    const key = from === 0 ? text : text.substring(from)
    const keyLen = Buffer.byteLength(key, 'utf8')
    const b = this.room(keyLen, record.length)
    let p = writeVarintAt(b, this.pos, keyLen)
    p += b.write(key, p, 'utf8')
    p = writeVarintAt(b, p, record.length)
    b.set(record, p)
    this.pos = p + record.length
    this.count++
  }

  /** The records added so far (a view of a buffer never written again); starts a new chunk. */
  take (): PackedRecords {
    const out = { count: this.count, bytes: new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos) }
    this.buf = Buffer.allocUnsafe(Math.max(64, this.capacity))
    this.pos = 0
    this.count = 0
    return out
  }
}

/** A key's bytes as text for messages (invalid UTF-8 replaced, never throws). */
export function keyText (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8')
}

/** Whether a stored record encoding is a tombstone (history only; never in the data keyspace). */
export function isTombstone (record: Uint8Array): boolean {
  return record.length > 0 && (record[0] & F_TOMBSTONE) !== 0
}

/**
 * Cursor over {@link PackedRecords} that checks every record as it steps onto it, without
 * decoding it or allocating per record: both lengths within bounds, key 1–1024 bytes of valid
 * UTF-8 and strictly above the previous one (the first above `after`, when given), record header
 * well formed (known flags, varints inside the record, no tombstone). After `next()` returned
 * true the fields describe the current record; the count must match the bytes exactly. Throws
 * {@link DecodeError} only.
 */
export class PackedReader {
  /** Offsets into `bytes` of the current record's key and record encoding. */
  keyStart = 0
  keyEnd = 0
  recordStart = 0
  recordEnd = 0
  /** The current record's revision and expiry (undefined: none). */
  revision = 0
  expiresAt: number | undefined
  private pos = 0
  private left: number
  private readonly bytes: Uint8Array
  private readonly reader: Reader

  constructor (records: PackedRecords, private readonly after?: Uint8Array) {
    if (!Number.isSafeInteger(records.count) || records.count < 0) throw new DecodeError(`bad record count ${records.count}`)
    this.bytes = records.bytes
    this.reader = new Reader(records.bytes)
    this.left = records.count
  }

  /** Step onto the next record; false after the last (then every byte was consumed). */
  next (): boolean {
    const b = this.bytes
    if (this.left === 0) {
      if (this.pos !== b.length) throw new DecodeError(`${b.length - this.pos} bytes after the last packed record`)
      return false
    }
    const r = this.reader
    r.offset = this.pos
    const keyLen = r.varint()
    const keyStart = r.offset
    if (keyLen === 0 || keyLen > MAX_KEY_BYTES) throw new DecodeError(`packed key of ${keyLen} bytes`)
    if (keyStart + keyLen > b.length) throw new DecodeError('packed key beyond the chunk')
    r.offset = keyStart + keyLen
    const recLen = r.varint()
    const recStart = r.offset
    const recEnd = recStart + recLen
    if (recLen === 0 || recEnd > b.length) throw new DecodeError('packed record beyond the chunk')
    const key = b.subarray(keyStart, keyStart + keyLen)
    if (!isUtf8(key)) throw new DecodeError('packed key is not valid UTF-8')
    const first = this.keyEnd === 0
    if (first ? (this.after !== undefined && compareBytes(key, this.after) <= 0) : compareBytes(key, b.subarray(this.keyStart, this.keyEnd)) <= 0) {
      throw new DecodeError('packed keys out of order')
    }
    const flags = b[recStart]
    if ((flags & F_TOMBSTONE) !== 0) throw new DecodeError('tombstone among packed records')
    if ((flags & ~F_EXPIRY) !== 0) throw new DecodeError(`unknown record flags ${flags}`)
    r.offset = recStart + 1
    this.revision = r.varint()
    r.varint() // createRevision
    r.varint() // version
    this.expiresAt = (flags & F_EXPIRY) !== 0 ? r.varint() : undefined
    if (r.offset > recEnd) throw new DecodeError('packed record header beyond the record')
    this.keyStart = keyStart
    this.keyEnd = keyStart + keyLen
    this.recordStart = recStart
    this.recordEnd = recEnd
    this.pos = recEnd
    this.left--
    return true
  }
}

/**
 * LevelDB rows for the records of a checked packed chunk, built in three buffers for the whole
 * chunk (data keys, history keys, expiry keys) instead of one per record. `rows[i]` lists the
 * offsets {@link PackedReader} reported: keyStart, keyEnd, recordStart, recordEnd, revision,
 * expiresAt (NaN: none) — six numbers per record.
 */
export function packedRows (bytes: Uint8Array, rows: Float64Array, count: number, put: (key: Uint8Array, value: Uint8Array) => void): void {
  let keyBytes = 0
  let expiring = 0
  for (let i = 0; i < count; i++) {
    const o = i * 6
    keyBytes += rows[o + 1] - rows[o]
    if (!Number.isNaN(rows[o + 5])) expiring++
  }
  const data = new Uint8Array(count + keyBytes)
  const history = new Uint8Array(count * 11 + keyBytes)
  const expiry = expiring === 0 ? EMPTY_BYTES : new Uint8Array(expiring * 9 + keyBytes)
  let d = 0
  let h = 0
  let x = 0
  for (let i = 0; i < count; i++) {
    const o = i * 6
    const key = bytes.subarray(rows[o], rows[o + 1])
    const record = bytes.subarray(rows[o + 2], rows[o + 3])
    const dk = data.subarray(d, d + 1 + key.length)
    dk[0] = P_DATA
    dk.set(key, 1)
    d += dk.length
    const hk = history.subarray(h, h + 11 + key.length)
    hk[0] = P_HISTORY
    hk[1] = key.length >>> 8
    hk[2] = key.length & 0xff
    hk.set(key, 3)
    writeU64At(hk, 3 + key.length, rows[o + 4])
    h += hk.length
    put(dk, record)
    put(hk, record)
    if (!Number.isNaN(rows[o + 5])) {
      const xk = expiry.subarray(x, x + 9 + key.length)
      xk[0] = P_EXPIRY
      writeU64At(xk, 1, rows[o + 5])
      xk.set(key, 9)
      x += xk.length
      put(xk, EMPTY_BYTES)
    }
  }
}

const EMPTY_BYTES = new Uint8Array(0)

/**
 * Check every record of a packed chunk with a {@link PackedReader} (the first key above
 * `after`, when given) and return its rows for {@link packedRows}: six numbers per record.
 * Throws {@link DecodeError} only.
 */
export function checkPacked (records: PackedRecords, after?: Uint8Array): Float64Array {
  const r = new PackedReader(records, after) // checks the count first
  const rows = new Float64Array(Math.min(records.count, records.bytes.length) * 6)
  for (let o = 0; r.next(); o += 6) {
    rows[o] = r.keyStart
    rows[o + 1] = r.keyEnd
    rows[o + 2] = r.recordStart
    rows[o + 3] = r.recordEnd
    rows[o + 4] = r.revision
    rows[o + 5] = r.expiresAt ?? NaN
  }
  return rows
}
