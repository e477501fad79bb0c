/**
 * An in-memory {@link Store} with the same semantics as the LevelDB one: for tests and for the
 * simulated network, where thousands of peers are created and crashed per second. Records are
 * copied in and out, so callers can never alias stored bytes. Closing and reopening keeps
 * everything (it models a synced disk), including an unfinished snapshot install, which `open`
 * then clears as the LevelDB store does.
 */
import type { Logger } from '@libp2p/logger'
import { StorageError } from '../errors.js'
import { checkPosition, emptyState, stateAfter } from './state.js'
import { fromUtf8 } from '../codec/bytes.js'
import { compareBytes, decodeRecord, encodeLogEntry, encodeRecord, PackedReader, RecordPacker } from './codec.js'
import { checkRowsBelow, RequestIndex } from './request-index.js'
import type {
  ExpiryCandidate, KeyBounds, LogEntry, LogPosition, PackedRecords, PackOptions, RawLogEntry, RequestEntry, RequestRow, Store, StoreSnapshot, StoreState, StoredRecord
} from './types.js'

const encoder = new TextEncoder()
/** Meta names the LevelDB store uses itself (reserved here too, so both behave the same). */
const RESERVED_META = new Set(['state', 'install', 'logFloor'])

function copy (r: StoredRecord): StoredRecord {
  return { ...r, value: r.value.slice() }
}

/** Bytewise (UTF-8) comparison of two strings, the order LevelDB uses. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(encoder.encode(a), encoder.encode(b))
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreInit {
  log?: Logger
}

/** An install in progress. */
interface Installing {
  position: LogPosition
  written: number
  lastKey?: Buffer
}

/** {@link Store} in memory. */
export class MemoryStore implements Store {
  private current: StoreState = emptyState()
  private readonly data = new Map<string, StoredRecord>()
  /** key → [revision, record | undefined (tombstone)] in ascending revision. */
  private readonly history = new Map<string, Array<[number, StoredRecord | undefined]>>()
  private readonly log = new Map<number, LogEntry>()
  private readonly requests = new RequestIndex()
  private readonly meta = new Map<string, Uint8Array>()
  private opened = false
  private install?: Installing
  /** Position of the entry just below the log (firstLogIndex - 1). */
  private logFloor: LogPosition = { index: 0, term: 0, revision: 0 }
  private readonly logger?: Logger

  constructor (init: MemoryStoreInit = {}) {
    this.logger = init.log
  }

  get state (): Readonly<StoreState> {
    return this.current
  }

  get installing (): boolean {
    return this.install !== undefined
  }

  async open (): Promise<void> {
    if (this.opened) return
    if (this.install !== undefined) {
      this.logger?.('the store holds an interrupted snapshot install: clearing it to catch up from scratch')
      this.clearContents()
      this.current = emptyState()
      this.install = undefined
    }
    this.opened = true
  }

  async close (): Promise<void> {
    this.opened = false
  }

  private check (): void {
    if (!this.opened) throw new StorageError('store is not open')
  }

  async get (key: string): Promise<StoredRecord | undefined> {
    this.check()
    const r = this.data.get(key)
    return r === undefined ? undefined : copy(r)
  }

  async getMany (keys: string[]): Promise<Array<StoredRecord | undefined>> {
    return Promise.all(keys.map(async k => this.get(k)))
  }

  async getAt (key: string, revision: number): Promise<StoredRecord | undefined> {
    this.check()
    const h = this.history.get(key) ?? []
    for (let i = h.length - 1; i >= 0; i--) {
      if (h[i][0] <= revision) return h[i][1] === undefined ? undefined : copy(h[i][1] as StoredRecord)
    }
    return undefined
  }

  async * range (bounds: KeyBounds): AsyncIterable<[string, StoredRecord]> {
    this.check()
    const keys = [...this.data.keys()]
      .filter(k => bounds.prefix === undefined || k.startsWith(bounds.prefix))
      .filter(k => (bounds.gte === undefined || compareKeys(k, bounds.gte) >= 0) && (bounds.lt === undefined || compareKeys(k, bounds.lt) < 0))
      .sort(compareKeys)
    if (bounds.reverse === true) keys.reverse()
    for (const k of keys) {
      const r = this.data.get(k)
      if (r !== undefined) yield [k, copy(r)]
    }
  }

  async append (entries: LogEntry[], _options?: { sync?: boolean }): Promise<void> {
    this.check()
    this.refuseDuringInstall('append')
    if (entries.length === 0) return
    const next = stateAfter(this.current, entries)
    for (const e of entries) {
      this.log.set(e.index, structuredClone(e))
      if (e.request !== undefined) this.requests.add(e.request, e.index)
      for (const m of e.mutations) {
        let h = this.history.get(m.key)
        if (h === undefined) this.history.set(m.key, h = [])
        if (m.type === 'put') {
          this.data.set(m.key, copy(m.record))
          h.push([e.revision, copy(m.record)])
        } else {
          this.data.delete(m.key)
          h.push([e.revision, undefined])
        }
      }
    }
    this.current = next
  }

  async getMeta (name: string): Promise<Uint8Array | undefined> {
    this.check()
    if (RESERVED_META.has(name)) throw new StorageError(`meta name "${name}" is reserved`)
    return this.meta.get(name)?.slice()
  }

  async putMeta (name: string, value: Uint8Array): Promise<void> {
    this.check()
    if (RESERVED_META.has(name)) throw new StorageError(`meta name "${name}" is reserved`)
    this.meta.set(name, value.slice())
  }

  async readLog (fromIndex: number, limit: number): Promise<LogEntry[]> {
    this.check()
    const out: LogEntry[] = []
    for (let i = Math.max(fromIndex, this.current.firstLogIndex); i <= this.current.index && out.length < limit; i++) {
      const e = this.log.get(i)
      if (e !== undefined) out.push(structuredClone(e))
    }
    return out
  }

  async findRequest (request: Uint8Array): Promise<RequestEntry | undefined> {
    this.check()
    const index = this.requests.get(request)
    if (index === undefined) return this.requests.getBelow(request)
    const e = this.log.get(index)
    if (e?.request === undefined || compareBytes(e.request, request) !== 0) return undefined
    return { index: e.index, term: e.term, revision: e.revision }
  }

  async readLogRaw (fromIndex: number, limit: number, maxBytes = Infinity): Promise<RawLogEntry[]> {
    this.check()
    const out: RawLogEntry[] = []
    let bytes = 0
    for (let i = Math.max(fromIndex, this.current.firstLogIndex); i <= this.current.index && out.length < limit && bytes < maxBytes; i++) {
      const e = this.log.get(i)
      if (e === undefined) continue
      const raw = encodeLogEntry(e).slice() // a copy: the cached encoding is shared
      out.push({ index: e.index, term: e.term, revision: e.revision, bytes: raw })
      bytes += raw.length
    }
    return out
  }

  async expiring (now: number, limit: number): Promise<ExpiryCandidate[]> {
    this.check()
    const due: ExpiryCandidate[] = []
    for (const [key, r] of this.data) {
      if (r.expiresAt !== undefined && r.expiresAt <= now) due.push({ key, expiresAt: r.expiresAt })
    }
    due.sort((a, b) => a.expiresAt - b.expiresAt || compareKeys(a.key, b.key))
    return due.slice(0, limit)
  }

  async nextExpiry (): Promise<number | undefined> {
    this.check()
    let min: number | undefined
    for (const r of this.data.values()) {
      if (r.expiresAt !== undefined && (min === undefined || r.expiresAt < min)) min = r.expiresAt
    }
    return min
  }

  async compact (revision: number, _options?: { signal?: AbortSignal }): Promise<void> {
    this.check()
    this.refuseDuringInstall('compact')
    if (revision <= this.current.compactedRevision) return
    if (revision > this.current.revision) throw new StorageError(`cannot compact to ${revision}, beyond revision ${this.current.revision}`)
    this.requests.dropBelow(this.requests.belowBefore(revision))
    for (const [key, h] of this.history) {
      let keep = -1
      for (let i = 0; i < h.length && h[i][0] <= revision; i++) keep = i
      if (keep < 0) continue
      const dropThrough = h[keep][1] === undefined
      h.splice(0, dropThrough ? keep + 1 : keep)
      if (h.length === 0) this.history.delete(key)
    }
    let first = this.current.firstLogIndex
    for (; first <= this.current.index; first++) {
      const e = this.log.get(first)
      if (e === undefined || e.revision >= revision) break
      this.log.delete(first)
      this.requests.forget([e])
      this.logFloor = { index: e.index, term: e.term, revision: e.revision }
    }
    this.current = { ...this.current, compactedRevision: revision, firstLogIndex: first }
  }

  private refuseDuringInstall (what: string): void {
    if (this.install !== undefined) throw new StorageError(`cannot ${what}: a snapshot install is in progress`)
  }

  private clearContents (): void {
    this.data.clear()
    this.history.clear()
    this.log.clear()
    this.requests.clear()
    this.logFloor = { index: 0, term: 0, revision: 0 }
  }

  snapshot (): StoreSnapshot {
    this.check()
    this.refuseDuringInstall('take a snapshot')
    // Records in `data` are replaced, never changed in place: a shallow copy is a snapshot.
    const data = new Map(this.data)
    const state = { ...this.current }
    // The requests as findRequest answers them now: the log's entries' and those below the floor.
    const rows: RequestRow[] = [...this.requests.rowsBelow()].map(r => ({ ...r, request: r.request.slice() }))
    for (let i = state.firstLogIndex; i <= state.index; i++) {
      const e = this.log.get(i)
      if (e?.request !== undefined && this.requests.get(e.request) === i) rows.push({ request: e.request.slice(), index: i, term: e.term, revision: e.revision })
    }
    let closed = false
    const records = async function * (): AsyncGenerator<[string, StoredRecord]> {
      if (closed) throw new StorageError('snapshot is closed')
      const keys = [...data.keys()].map(k => [Buffer.from(k), k] as const).sort((a, b) => Buffer.compare(a[0], b[0]))
      for (const [, k] of keys) {
        if (closed) throw new StorageError('snapshot is closed')
        yield [k, copy(data.get(k) as StoredRecord)]
      }
    }
    return {
      state,
      records,
      async * packed (options: PackOptions) {
        const packer = new RecordPacker(options.maxBytes + 4096)
        for await (const [key, r] of records()) {
          packer.add(encoder.encode(key), encodeRecord(r))
          if (packer.count >= options.maxRecords || packer.size >= options.maxBytes) yield packer.take()
        }
        if (packer.count > 0) yield packer.take()
      },
      async * requests (maxRows: number) {
        for (let i = 0; i < rows.length; i += maxRows) {
          if (closed) throw new StorageError('snapshot is closed')
          yield rows.slice(i, i + maxRows)
        }
      },
      async close () {
        closed = true
        data.clear()
      }
    }
  }

  async beginInstall (position: LogPosition): Promise<void> {
    this.check()
    checkPosition(position)
    this.install = { position: { index: position.index, term: position.term, revision: position.revision }, written: 0 }
    this.clearContents()
    this.current = emptyState()
  }

  async installChunk (records: Array<[string, StoredRecord]>): Promise<void> {
    this.check()
    const inst = this.requireInstall()
    let last = inst.lastKey
    for (const [key, r] of records) {
      const k = Buffer.from(key)
      if (last !== undefined && Buffer.compare(k, last) <= 0) throw new StorageError(`snapshot record ${JSON.stringify(key)} is out of key order`)
      if (r.revision > inst.position.revision) throw new StorageError(`snapshot record ${JSON.stringify(key)} has revision ${r.revision}, beyond ${inst.position.revision}`)
      last = k
    }
    for (const [key, r] of records) {
      this.data.set(key, copy(r))
      this.history.set(key, [[r.revision, copy(r)]])
    }
    inst.written += records.length
    inst.lastKey = last
  }

  async installPacked (records: PackedRecords): Promise<void> {
    this.check()
    const inst = this.requireInstall()
    // Decoded here (tests and simulation), checked first exactly as LevelStore does.
    const decoded: Array<[string, StoredRecord]> = []
    try {
      const r = new PackedReader(records, inst.lastKey)
      while (r.next()) {
        const record = decodeRecord(records.bytes.subarray(r.recordStart, r.recordEnd)) as StoredRecord
        decoded.push([fromUtf8(records.bytes.subarray(r.keyStart, r.keyEnd)), record])
      }
    } catch (err: any) {
      throw new StorageError(`malformed snapshot records: ${err?.message}`, { cause: err })
    }
    await this.installChunk(decoded)
  }

  async installRequests (rows: RequestRow[]): Promise<void> {
    this.check()
    const inst = this.requireInstall()
    checkRowsBelow(rows, inst.position)
    for (const row of rows) this.requests.addBelow(row)
  }

  async finishInstall (): Promise<void> {
    this.check()
    const inst = this.requireInstall()
    const { index, term, revision } = inst.position
    this.current = { index, term, revision, keys: inst.written, compactedRevision: revision, firstLogIndex: index + 1 }
    this.logFloor = { ...inst.position }
    this.install = undefined
  }

  private requireInstall (): Installing {
    if (this.install === undefined) throw new StorageError('no snapshot install is in progress')
    return this.install
  }

  async truncateAfter (index: number): Promise<void> {
    this.check()
    if (!Number.isSafeInteger(index) || index < 0) throw new StorageError(`invalid log index ${index}`)
    this.refuseDuringInstall('truncate the log')
    const cur = this.current
    if (index >= cur.index) return
    if (index < cur.firstLogIndex - 1) throw new StorageError(`cannot truncate after ${index}: the log starts at ${cur.firstLogIndex} (install a snapshot instead)`)
    const base = index >= cur.firstLogIndex ? this.log.get(index) : this.logFloor
    if (base?.index !== index) throw new StorageError(`cannot truncate after ${index}: its log entry is missing`)
    if (base.revision < cur.compactedRevision) throw new StorageError(`cannot truncate after ${index}: revision ${base.revision} is below the compacted revision ${cur.compactedRevision}`)
    let keys = cur.keys
    const touched = new Set<string>()
    for (let i = cur.index; i > index; i--) {
      const e = this.log.get(i)
      if (e === undefined) throw new StorageError(`cannot truncate after ${index}: the log after it is incomplete`)
      for (const m of e.mutations) {
        touched.add(m.key)
        if (m.type === 'put') { if (!m.existed) keys-- } else keys++
      }
    }
    for (let i = cur.index; i > index; i--) {
      const e = this.log.get(i)
      if (e !== undefined) this.requests.forget([e])
      this.log.delete(i)
    }
    for (const key of touched) {
      const h = (this.history.get(key) ?? []).filter(([rev]) => rev <= base.revision)
      if (h.length === 0) this.history.delete(key)
      else this.history.set(key, h)
      const before = h.length === 0 ? undefined : h[h.length - 1][1]
      if (before === undefined) this.data.delete(key)
      else this.data.set(key, copy(before))
    }
    this.current = { ...cur, index, term: base.term, revision: base.revision, keys }
  }
}
