/**
 * A write-through cache of the latest records, bounded by bytes, least recently used out first.
 * The store fills it with every record it appends (and every delete, as a known absence) and
 * with records it reads — unless an append happened while the read was in flight, so a slow
 * read can never put an older record over a newer one. Hits are copied out: callers may keep
 * or change what they get.
 */
import type { StoredRecord } from './types.js'

/** Per-entry bookkeeping cost added to key and value bytes. */
const ENTRY_OVERHEAD = 96

/** Bounded LRU of key → record (or undefined: known absent). */
export class RecordCache {
  private readonly map = new Map<string, StoredRecord | undefined>()
  private bytes = 0
  /** Bumped by every append; reads started under an older generation do not fill the cache. */
  generation = 0

  constructor (private readonly maxBytes: number) {}

  private static cost (key: string, r: StoredRecord | undefined): number {
    return key.length * 2 + (r?.value.length ?? 0) + ENTRY_OVERHEAD
  }

  /** Whether the cache knows `key` (as a record or as absent). */
  has (key: string): boolean {
    return this.map.has(key)
  }

  /** A copy of the cached record (undefined for a known absence or a miss: check `has`). */
  get (key: string): StoredRecord | undefined {
    const r = this.map.get(key)
    if (r === undefined) return undefined
    this.map.delete(key)
    this.map.set(key, r)
    return { ...r, value: r.value.slice() }
  }

  /** Remember `key`'s current record. */
  set (key: string, r: StoredRecord | undefined): void {
    if (this.maxBytes === 0) return
    if (this.map.has(key)) {
      this.bytes -= RecordCache.cost(key, this.map.get(key))
      this.map.delete(key)
    }
    const cost = RecordCache.cost(key, r)
    if (cost > this.maxBytes / 4) return // one huge value would evict everything
    this.map.set(key, r)
    this.bytes += cost
    if (this.bytes <= this.maxBytes) return
    for (const [k, v] of this.map) {
      this.map.delete(k)
      this.bytes -= RecordCache.cost(k, v)
      if (this.bytes <= this.maxBytes) break
    }
  }

  /** Forget everything (the store's contents were replaced). */
  clear (): void {
    this.map.clear()
    this.bytes = 0
  }

  /** Bytes accounted for. */
  get size (): number {
    return this.bytes
  }
}
