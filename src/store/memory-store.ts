/**
 * An in-memory {@link Store} with the same semantics as the LevelDB one: for tests and for the
 * simulated network, where thousands of peers are created and crashed per second. Records are
 * copied in and out, so callers can never alias stored bytes. `crash()` loses nothing that
 * `append` resolved (it models a synced disk).
 */
import { StorageError } from '../errors.js'
import { emptyState, stateAfter } from './state.js'
import type { ExpiryCandidate, KeyBounds, LogEntry, Store, StoreState, StoredRecord } from './types.js'

const encoder = new TextEncoder()

function copy (r: StoredRecord): StoredRecord {
  return { ...r, value: r.value.slice() }
}

/** Bytewise (UTF-8) comparison of two strings, the order LevelDB uses. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(encoder.encode(a), encoder.encode(b))
}

/** {@link Store} in memory. */
export class MemoryStore implements Store {
  private current: StoreState = emptyState()
  private readonly data = new Map<string, StoredRecord>()
  /** key → [revision, record | undefined (tombstone)] in ascending revision. */
  private readonly history = new Map<string, Array<[number, StoredRecord | undefined]>>()
  private readonly log = new Map<number, LogEntry>()
  private readonly meta = new Map<string, Uint8Array>()
  private opened = false

  get state (): Readonly<StoreState> {
    return this.current
  }

  async open (): Promise<void> {
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
    if (entries.length === 0) return
    const next = stateAfter(this.current, entries)
    for (const e of entries) {
      this.log.set(e.index, structuredClone(e))
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
    return this.meta.get(name)?.slice()
  }

  async putMeta (name: string, value: Uint8Array): Promise<void> {
    this.check()
    if (name === 'state') throw new StorageError('meta name "state" is reserved')
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
    if (revision <= this.current.compactedRevision) return
    if (revision > this.current.revision) throw new StorageError(`cannot compact to ${revision}, beyond revision ${this.current.revision}`)
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
    }
    this.current = { ...this.current, compactedRevision: revision, firstLogIndex: first }
  }
}
