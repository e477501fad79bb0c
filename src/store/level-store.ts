/**
 * The LevelDB store (classic-level). One database per peer; every `append` is one atomic
 * `batch` holding the log entries, the data puts/deletes, the history entries, the expiry-index
 * changes and the new state, so a crash leaves either all of a group of revisions or none.
 * Key layout: see ./codec.ts.
 */
import { ClassicLevel } from 'classic-level'
import type { Logger } from '@libp2p/logger'
import { DataDirLockedError, StorageError } from '../errors.js'
import {
  compareBytes, dataBounds, EXPIRY_END, EXPIRY_START, LOG_END, dataKey, decodeExpiryKey, decodeLogEntry,
  decodeRecord, decodeState, encodeLogEntry, encodeRecord, encodeState, encodeTombstone, expiryBounds,
  expiryKey, historyKey, keyOfDataKey, logKey, metaKey
} from './codec.js'
import { emptyState, stateAfter } from './state.js'
import { RecordCache } from './record-cache.js'
import type { ExpiryCandidate, KeyBounds, LogEntry, Store, StoreState, StoredRecord } from './types.js'

type Bytes = Uint8Array
type BatchOp = { type: 'put', key: Bytes, value: Bytes } | { type: 'del', key: Bytes }

const STATE_KEY = metaKey('state')
const EMPTY = new Uint8Array(0)
/** How many log entries one compaction step reads (bounds the work per step). */
const COMPACTION_CHUNK = 256

function isLocked (err: any): boolean {
  return err?.code === 'LEVEL_LOCKED' || err?.cause?.code === 'LEVEL_LOCKED' ||
    /lock/i.test(String(err?.cause?.message ?? ''))
}

/** Options of {@link LevelStore}. */
export interface LevelStoreInit {
  /** Directory of the LevelDB database. */
  location: string
  /** Directory named in errors (the peer's dataDir). */
  dataDir?: string
  /** Bytes of latest records kept in memory (0 disables). @default 33554432 (32 MiB) */
  cacheBytes?: number
  log?: Logger
}

/** {@link Store} on classic-level. */
export class LevelStore implements Store {
  private readonly db: ClassicLevel<Bytes, Bytes>
  private readonly dataDir: string
  private readonly log?: Logger
  private current: StoreState = emptyState()
  private opened = false
  private readonly cache: RecordCache
  /** Serialises state-changing batches (append, compaction steps). */
  private writing: Promise<unknown> = Promise.resolve()

  constructor (init: LevelStoreInit) {
    this.db = new ClassicLevel<Bytes, Bytes>(init.location, { keyEncoding: 'view', valueEncoding: 'view' })
    this.dataDir = init.dataDir ?? init.location
    this.cache = new RecordCache(init.cacheBytes ?? 32 * 1024 * 1024)
    this.log = init.log
  }

  get state (): Readonly<StoreState> {
    return this.current
  }

  async open (): Promise<void> {
    if (this.opened) return
    try {
      await this.db.open()
    } catch (err: any) {
      if (isLocked(err)) throw new DataDirLockedError(this.dataDir, { cause: err })
      throw new StorageError(`cannot open the store in ${this.dataDir}: ${err?.cause?.message ?? err?.message}`, { cause: err })
    }
    try {
      const raw = await this.db.get(STATE_KEY)
      this.current = raw === undefined ? emptyState() : decodeState(raw)
    } catch (err: any) {
      await this.db.close()
      throw new StorageError(`cannot read the store state in ${this.dataDir}: ${err?.message}`, { cause: err })
    }
    this.opened = true
    this.log?.('opened %s at index %d revision %d', this.dataDir, this.current.index, this.current.revision)
  }

  async close (): Promise<void> {
    if (!this.opened) return
    this.opened = false
    await this.writing
    await this.db.close()
  }

  async get (key: string): Promise<StoredRecord | undefined> {
    return (await this.getMany([key]))[0]
  }

  async getMany (keys: string[]): Promise<Array<StoredRecord | undefined>> {
    const out: Array<StoredRecord | undefined> = new Array(keys.length)
    const misses: number[] = []
    for (let i = 0; i < keys.length; i++) {
      if (this.cache.has(keys[i])) out[i] = this.cache.get(keys[i])
      else misses.push(i)
    }
    if (misses.length === 0) return out
    const generation = this.cache.generation
    const raws = await this.db.getMany(misses.map(i => dataKey(keys[i])))
    const fill = generation === this.cache.generation
    misses.forEach((i, j) => {
      const raw = raws[j]
      out[i] = raw === undefined ? undefined : decodeRecord(raw)
      if (fill) this.cache.set(keys[i], out[i] === undefined ? undefined : { ...out[i] as StoredRecord, value: (out[i] as StoredRecord).value.slice() })
    })
    return out
  }

  async getAt (key: string, revision: number): Promise<StoredRecord | undefined> {
    const values = await this.db.values({
      gte: historyKey(key, 0),
      lte: historyKey(key, revision),
      reverse: true,
      limit: 1
    }).all()
    return values.length === 0 ? undefined : decodeRecord(values[0])
  }

  async * range (bounds: KeyBounds): AsyncIterable<[string, StoredRecord]> {
    const { gte, lt } = dataBounds(bounds.prefix, bounds.gte, bounds.lt)
    if (compareBytes(gte, lt) >= 0) return
    const it = this.db.iterator({ gte, lt, reverse: bounds.reverse === true })
    try {
      for await (const [k, v] of it) {
        const record = decodeRecord(v)
        if (record !== undefined) yield [keyOfDataKey(k), record]
      }
    } finally {
      await it.close()
    }
  }

  /** Run `fn` after every earlier state-changing batch. */
  private exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn)
    this.writing = run.catch(() => {})
    return run
  }

  async append (entries: LogEntry[], options?: { sync?: boolean }): Promise<void> {
    if (entries.length === 0) return
    return this.exclusive(async () => this.appendNow(entries, options?.sync ?? true))
  }

  private async appendNow (entries: LogEntry[], sync: boolean): Promise<void> {
    const next = stateAfter(this.current, entries)
    // A chained batch: measured several times cheaper per op than the array form here.
    const batch = this.db.batch()
    for (const e of entries) {
      batch.put(logKey(e.index), encodeLogEntry(e))
      for (const m of e.mutations) {
        if (m.prevExpiresAt !== undefined) batch.del(expiryKey(m.prevExpiresAt, m.key))
        if (m.type === 'put') {
          const value = encodeRecord(m.record)
          batch.put(dataKey(m.key), value)
          batch.put(historyKey(m.key, e.revision), value)
          if (m.record.expiresAt !== undefined) batch.put(expiryKey(m.record.expiresAt, m.key), EMPTY)
        } else {
          batch.del(dataKey(m.key))
          batch.put(historyKey(m.key, e.revision), encodeTombstone(e.revision))
        }
      }
    }
    batch.put(STATE_KEY, encodeState(next))
    this.cache.generation++
    try {
      await batch.write({ sync })
    } finally {
      this.cache.generation++
    }
    this.current = next
    for (const e of entries) {
      for (const m of e.mutations) this.cache.set(m.key, m.type === 'put' ? m.record : undefined)
    }
  }

  async getMeta (name: string): Promise<Uint8Array | undefined> {
    if (name === 'state') throw new StorageError('meta name "state" is reserved')
    const v = await this.db.get(metaKey(name))
    return v === undefined ? undefined : new Uint8Array(v)
  }

  async putMeta (name: string, value: Uint8Array): Promise<void> {
    if (name === 'state') throw new StorageError('meta name "state" is reserved')
    await this.exclusive(async () => { await this.db.put(metaKey(name), value, { sync: true }) })
  }

  async readLog (fromIndex: number, limit: number): Promise<LogEntry[]> {
    const values = await this.db.values({ gte: logKey(fromIndex), lt: LOG_END, limit }).all()
    return values.map(decodeLogEntry)
  }

  async expiring (now: number, limit: number): Promise<ExpiryCandidate[]> {
    const keys = await this.db.keys({ ...expiryBounds(now), limit }).all()
    return keys.map(decodeExpiryKey)
  }

  async nextExpiry (): Promise<number | undefined> {
    const keys = await this.db.keys({ gte: EXPIRY_START, lt: EXPIRY_END, limit: 1 }).all()
    return keys.length === 0 ? undefined : decodeExpiryKey(keys[0]).expiresAt
  }

  async compact (revision: number, options?: { signal?: AbortSignal }): Promise<void> {
    if (revision <= this.current.compactedRevision) return
    if (revision > this.current.revision) throw new StorageError(`cannot compact to ${revision}, beyond revision ${this.current.revision}`)
    // 1. Move the readable floor first: from now on nothing below `revision` is read.
    await this.exclusive(async () => {
      const next = { ...this.current, compactedRevision: revision }
      await this.db.put(STATE_KEY, encodeState(next))
      this.current = next
    })
    // 2. Walk the log entries below the floor in chunks; for every key they touched, drop the
    //    history entries that no read at or above the floor can reach.
    while (options?.signal?.aborted !== true && await this.exclusive(async () => this.compactStep(revision))) {}
  }

  /** One bounded compaction step; true when there may be more to do. */
  private async compactStep (revision: number): Promise<boolean> {
    const entries = (await this.readLog(this.current.firstLogIndex, COMPACTION_CHUNK))
      .filter(e => e.revision < revision)
    if (entries.length === 0) return false
    const touched = new Set<string>()
    for (const e of entries) for (const m of e.mutations) touched.add(m.key)
    const ops: BatchOp[] = []
    for (const key of touched) {
      const newest = await this.db.iterator({ gte: historyKey(key, 0), lte: historyKey(key, revision), reverse: true, limit: 1 }).all()
      if (newest.length === 0) continue
      const [hk, hv] = newest[0]
      const dropThrough = decodeRecord(hv) === undefined // a tombstone reads the same as nothing
      const olds = await this.db.keys({ gte: historyKey(key, 0), [dropThrough ? 'lte' : 'lt']: hk }).all()
      for (const k of olds) ops.push({ type: 'del', key: k })
    }
    for (const e of entries) ops.push({ type: 'del', key: logKey(e.index) })
    const next = { ...this.current, firstLogIndex: entries[entries.length - 1].index + 1 }
    ops.push({ type: 'put', key: STATE_KEY, value: encodeState(next) })
    await this.db.batch(ops, { sync: false })
    this.current = next
    return entries.length === COMPACTION_CHUNK
  }
}
