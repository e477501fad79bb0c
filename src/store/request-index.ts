/**
 * In-memory index of the request fingerprints carried by a store's log entries: fingerprint →
 * log index. Both stores keep one next to their log (the LevelDB store also persists it as
 * 'q' rows, loaded at open) and check every hit against the log entry itself, so a stale row
 * (its entry compacted away, truncated, or replaced by a snapshot install) is never an answer.
 */
import type { LogEntry } from './types.js'

/**
 * A fingerprint as a Map key: 16 bytes as a 16-character string, one char per byte (the one
 * key form of a fingerprint: the store's index, the sequencer's and the forwarder's maps).
 */
export function requestKeyOf (request: Uint8Array): string {
  return String.fromCharCode.apply(null, request as unknown as number[])
}

/** Request fingerprint → index of the log entry that carries it. */
export class RequestIndex {
  private readonly byRequest = new Map<string, number>()

  /** Index of the entry that carries `request`, as last recorded (check it against the log). */
  get (request: Uint8Array): number | undefined {
    return this.byRequest.get(requestKeyOf(request))
  }

  /** The entry at `index` carries `request`. */
  add (request: Uint8Array, index: number): void {
    this.byRequest.set(requestKeyOf(request), index)
  }

  /** The entry at `index` is gone (compacted or truncated): forget `request` if it pointed there. */
  delete (request: Uint8Array, index: number): void {
    const key = requestKeyOf(request)
    if (this.byRequest.get(key) === index) this.byRequest.delete(key)
  }

  /** Fingerprints whose index points at one of `entries` (their rows go when the entries go). */
  heldBy (entries: readonly LogEntry[]): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const e of entries) if (e.request !== undefined && this.get(e.request) === e.index) out.push(e.request)
    return out
  }

  /** `entries` left the log: forget the fingerprints that pointed at them. */
  forget (entries: readonly LogEntry[]): void {
    for (const e of entries) if (e.request !== undefined) this.delete(e.request, e.index)
  }

  clear (): void {
    this.byRequest.clear()
  }
}
