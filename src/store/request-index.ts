/**
 * In-memory index of the request fingerprints carried by a store's log entries: fingerprint →
 * log index. Both stores keep one next to their log (the LevelDB store also persists it as
 * 'q' rows, loaded at open) and check every hit against the log entry itself, so a stale row
 * (its entry compacted away, truncated, or replaced by a snapshot install) is never an answer.
 */

/** A fingerprint as a Map key: 16 bytes as a 16-character latin1 string (one char per byte). */
function keyOf (request: Uint8Array): string {
  return String.fromCharCode.apply(null, request as unknown as number[])
}

/** Request fingerprint → index of the log entry that carries it. */
export class RequestIndex {
  private readonly byRequest = new Map<string, number>()

  /** Entries indexed. */
  get size (): number {
    return this.byRequest.size
  }

  /** Index of the entry that carries `request`, as last recorded (check it against the log). */
  get (request: Uint8Array): number | undefined {
    return this.byRequest.get(keyOf(request))
  }

  /** The entry at `index` carries `request`. */
  add (request: Uint8Array, index: number): void {
    this.byRequest.set(keyOf(request), index)
  }

  /** The entry at `index` is gone (compacted or truncated): forget `request` if it pointed there. */
  delete (request: Uint8Array, index: number): void {
    const key = keyOf(request)
    if (this.byRequest.get(key) === index) this.byRequest.delete(key)
  }

  clear (): void {
    this.byRequest.clear()
  }
}

/** Whether two fingerprints are equal. */
export function sameRequest (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
