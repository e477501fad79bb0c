/**
 * Wire encoding of replication messages (same bytes on the direct stream and on gossipsub):
 *
 *   u8 type · fields
 *   1 append         varint term · varint prevIndex · varint prevTerm · varint n · n × bytes(log entry)
 *   2 ack            varint term · varint index · varint entryTerm
 *   3 need           varint term · varint from · u8 snapshot(0|1)
 *   4 snapshot-begin varint term · varint index · varint entryTerm · varint revision · varint keys
 *   5 snapshot-chunk varint term · varint index · varint n · n × (string key · bytes record)
 *                    (PackedRecords)
 *   6 snapshot-end   varint term · varint index · varint count · varint requests
 *   7 snapshot-requests varint term · varint index · varint n · n × (16 bytes fingerprint ·
 *                    varint index · varint entry term · varint revision)
 * (the index after the term of 5–7 is the snapshot's, as in its begin)
 *
 * Log entries and records use the store's encodings (store/codec.ts); a snapshot chunk's body is
 * the store's PackedRecords as is, and an append copies each entry's known encoding (for a delta
 * answer, the bytes as stored in the primary's log: see {@link encodeAppend}). `decodeMessage` returns a typed verdict and never throws; it
 * also checks that an append's entries are consecutive and follow prevIndex, and every record of
 * a snapshot chunk (bounds, keys, ascending order, record headers) without decoding it, so a
 * replica never has to trust a malformed batch.
 */
import { DecodeError, Reader, Writer, varintLength } from '../codec/bytes.js'
import { MAX_KEY_BYTES } from '../constants.js'
import { checkPacked, decodeLogEntry, encodeLogEntry, REQUEST_BYTES } from '../store/codec.js'
import type { RequestRow } from '../store/types.js'
import type { ReplicationMessage } from './types.js'

const T_APPEND = 1
const T_ACK = 2
const T_NEED = 3
const T_SNAP_BEGIN = 4
const T_SNAP_CHUNK = 5
const T_SNAP_END = 6
const T_SNAP_REQUESTS = 7

/**
 * Encode an append from its header and its entries' encodings (store/codec.ts), copying each into
 * the frame as is: the entries are neither decoded nor re-encoded. `encodeMessage` uses it with
 * {@link encodeLogEntry}, which returns an entry's known encoding — the stored bytes, for the
 * entries of a delta answer (`storedLogEntry`), or the bytes it was encoded or decoded as once.
 */
function encodeAppend (term: number, prevIndex: number, prevTerm: number, entries: readonly Uint8Array[]): Uint8Array {
  // Sized exactly up front: an append can carry megabytes, so no growing and no final copy.
  let size = 1 + varintLength(term) + varintLength(prevIndex) + varintLength(prevTerm) + varintLength(entries.length)
  for (const b of entries) size += varintLength(b.length) + b.length
  const w = new Writer(size).u8(T_APPEND).varint(term).varint(prevIndex).varint(prevTerm).varint(entries.length)
  for (const b of entries) w.bytes(b)
  return w.finish()
}

/** Encode a replication message. */
export function encodeMessage (m: ReplicationMessage): Uint8Array {
  if (m.type === 'append') return encodeAppend(m.term, m.prevIndex, m.prevTerm, m.entries.map(e => encodeLogEntry(e)))
  if (m.type === 'snapshot-chunk') {
    // The packed records are already the wire body: one copy behind the header.
    const { count, bytes } = m.records
    return new Writer(1 + varintLength(m.term) + varintLength(m.index) + varintLength(count) + bytes.length)
      .u8(T_SNAP_CHUNK).varint(m.term).varint(m.index).varint(count).raw(bytes).finish()
  }
  if (m.type === 'snapshot-requests') {
    let size = 1 + varintLength(m.term) + varintLength(m.index) + varintLength(m.rows.length)
    for (const r of m.rows) size += REQUEST_BYTES + varintLength(r.index) + varintLength(r.term) + varintLength(r.revision)
    const w = new Writer(size).u8(T_SNAP_REQUESTS).varint(m.term).varint(m.index).varint(m.rows.length)
    for (const r of m.rows) w.raw(r.request).varint(r.index).varint(r.term).varint(r.revision)
    return w.finish()
  }
  const w = new Writer(64)
  switch (m.type) {
    case 'ack':
      w.u8(T_ACK).varint(m.term).varint(m.index).varint(m.entryTerm)
      break
    case 'need':
      w.u8(T_NEED).varint(m.term).varint(m.from).u8(m.snapshot ? 1 : 0)
      break
    case 'snapshot-begin':
      w.u8(T_SNAP_BEGIN).varint(m.term).varint(m.index).varint(m.entryTerm).varint(m.revision).varint(m.keys)
      break
    case 'snapshot-end':
      w.u8(T_SNAP_END).varint(m.term).varint(m.index).varint(m.count).varint(m.requests)
      break
  }
  return w.finish()
}

/** Result of decoding a frame. */
export type DecodeVerdict = { ok: true, msg: ReplicationMessage } | { ok: false, reason: string }

function decode (bytes: Uint8Array): ReplicationMessage {
  const r = new Reader(bytes)
  const type = r.u8()
  let msg: ReplicationMessage
  switch (type) {
    case T_APPEND: {
      const term = r.varint()
      const prevIndex = r.varint()
      const prevTerm = r.varint()
      const n = r.varint()
      if (n > r.remaining) throw new DecodeError(`entry count ${n} exceeds the frame`)
      const entries = []
      let expect = prevIndex + 1
      for (let i = 0; i < n; i++) {
        const e = decodeLogEntry(r.bytes())
        if (e.index !== expect) throw new DecodeError(`entry ${e.index} does not follow ${expect - 1}`)
        if (e.term > term) throw new DecodeError(`entry ${e.index} has term ${e.term} above the sender's ${term}`)
        for (const m of e.mutations) {
          if (m.key.length === 0 || Buffer.byteLength(m.key, 'utf8') > MAX_KEY_BYTES) throw new DecodeError('bad key in entry')
        }
        entries.push(e)
        expect++
      }
      msg = { type: 'append', term, prevIndex, prevTerm, entries }
      break
    }
    case T_ACK:
      msg = { type: 'ack', term: r.varint(), index: r.varint(), entryTerm: r.varint() }
      break
    case T_NEED: {
      const term = r.varint()
      const from = r.varint()
      const flag = r.u8()
      if (flag > 1) throw new DecodeError(`bad snapshot flag ${flag}`)
      if (from < 1) throw new DecodeError('need from 0')
      msg = { type: 'need', term, from, snapshot: flag === 1 }
      break
    }
    case T_SNAP_BEGIN:
      msg = { type: 'snapshot-begin', term: r.varint(), index: r.varint(), entryTerm: r.varint(), revision: r.varint(), keys: r.varint() }
      break
    case T_SNAP_CHUNK: {
      const term = r.varint()
      const index = r.varint()
      const count = r.varint()
      if (count > r.remaining) throw new DecodeError(`record count ${count} exceeds the frame`)
      // Checked record by record without decoding (bounds, keys, order, headers), then copied
      // out of the transport's buffer: the store installs it later.
      const records = { count, bytes: r.rest().slice() }
      checkPacked(records)
      msg = { type: 'snapshot-chunk', term, index, records }
      break
    }
    case T_SNAP_REQUESTS: {
      const term = r.varint()
      const at = r.varint()
      const n = r.varint()
      if (n * (REQUEST_BYTES + 3) > r.remaining) throw new DecodeError(`request row count ${n} exceeds the frame`)
      const rows: RequestRow[] = []
      for (let i = 0; i < n; i++) {
        // Copied out of the transport's buffer: the store keeps the fingerprints.
        const request = r.raw(REQUEST_BYTES).slice()
        const index = r.varint()
        const entryTerm = r.varint()
        const revision = r.varint()
        if (index < 1 || entryTerm < 1 || revision < 1) throw new DecodeError(`request row ${i} names no entry`)
        rows.push({ request, index, term: entryTerm, revision })
      }
      msg = { type: 'snapshot-requests', term, index: at, rows }
      break
    }
    case T_SNAP_END:
      msg = { type: 'snapshot-end', term: r.varint(), index: r.varint(), count: r.varint(), requests: r.varint() }
      break
    default:
      throw new DecodeError(`unknown replication message type ${type}`)
  }
  r.end()
  return msg
}

/**
 * The header of an append frame — sender's term and the last index it carries — without
 * decoding its entries; undefined for any other (or a malformed) frame. Lets a replica drop a
 * gossiped append it already holds at the cost of a few varints instead of every entry.
 */
export function peekAppend (bytes: Uint8Array): { term: number, last: number } | undefined {
  try {
    const r = new Reader(bytes)
    if (r.u8() !== T_APPEND) return undefined
    const term = r.varint()
    const prevIndex = r.varint()
    r.varint()
    return { term, last: prevIndex + r.varint() }
  } catch {
    return undefined
  }
}

/** Decode a frame into a typed verdict; never throws. */
export function decodeMessage (bytes: Uint8Array): DecodeVerdict {
  try {
    return { ok: true, msg: decode(bytes) }
  } catch (err: any) {
    return { ok: false, reason: err instanceof DecodeError ? err.message : `malformed: ${String(err?.message ?? err)}` }
  }
}
