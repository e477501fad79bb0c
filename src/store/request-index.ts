/**
 * In-memory index of the request fingerprints carried by a store's log entries: fingerprint →
 * log index. Both stores keep one next to their log (the LevelDB store also persists it as
 * 'q' rows, loaded at open) and check every hit against the log entry itself, so a stale row
 * (its entry compacted away, truncated, or replaced by a snapshot install) is never an answer.
 *
 * Beside it, the rows an installed snapshot brought: their entries lie below the log floor, so
 * each carries its entry's position and is the answer itself, until compaction passes its
 * revision (as the sender dropped the row when it compacted that entry).
 */
import { StorageError } from '../errors.js'
import { REQUEST_BYTES } from './codec.js'
import type { LogEntry, LogPosition, RequestEntry, RequestRow } from './types.js'

/**
 * A fingerprint as a Map key: 16 bytes as a 16-character string, one char per byte (the one
 * key form of a fingerprint: the store's index, the sequencer's and the forwarder's maps).
 */
export function requestKeyOf (request: Uint8Array): string {
  return String.fromCharCode.apply(null, request as unknown as number[])
}

/** Request fingerprint → index of the log entry that carries it, and the rows below the log. */
export class RequestIndex {
  private readonly byRequest = new Map<string, number>()
  private readonly below = new Map<string, RequestRow>()

  /** Index of the entry that carries `request`, as last recorded (check it against the log). */
  get (request: Uint8Array): number | undefined {
    return this.byRequest.get(requestKeyOf(request))
  }

  /** The entry at `index` carries `request`. */
  add (request: Uint8Array, index: number): void {
    const key = requestKeyOf(request)
    this.byRequest.set(key, index)
    this.below.delete(key) // a log entry carries it now: that is the answer
  }

  /** The entry `request` made below the log floor, as an installed snapshot said (a copy). */
  getBelow (request: Uint8Array): RequestEntry | undefined {
    const row = this.below.get(requestKeyOf(request))
    return row === undefined ? undefined : { index: row.index, term: row.term, revision: row.revision }
  }

  /** A row an installed snapshot brought (its entry is below the log floor); kept as a copy. */
  addBelow (row: RequestRow): void {
    const key = requestKeyOf(row.request)
    if (!this.byRequest.has(key)) this.below.set(key, { request: row.request.slice(), index: row.index, term: row.term, revision: row.revision })
  }

  /** The rows below the log floor whose revision is below `revision` (compaction drops them). */
  belowBefore (revision: number): RequestRow[] {
    const out: RequestRow[] = []
    for (const row of this.below.values()) if (row.revision < revision) out.push(row)
    return out
  }

  /** Forget rows below the log floor (after their persisted rows were deleted). */
  dropBelow (rows: readonly RequestRow[]): void {
    for (const row of rows) this.below.delete(requestKeyOf(row.request))
  }

  /** Every row below the log floor. */
  rowsBelow (): IterableIterator<RequestRow> {
    return this.below.values()
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
    this.below.clear()
  }
}

/**
 * Check request rows a snapshot brings (Store.installRequests): a 16-byte fingerprint and an
 * entry at or below the snapshot's `position` — index, term and revision each from 1 up to the
 * position's. StorageError naming the first bad row otherwise.
 */
export function checkRowsBelow (rows: readonly RequestRow[], position: LogPosition): void {
  const within = (v: unknown, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= max
  for (const [i, row] of rows.entries()) {
    if (!(row.request instanceof Uint8Array) || row.request.length !== REQUEST_BYTES ||
      !within(row.index, position.index) || !within(row.term, position.term) || !within(row.revision, position.revision)) {
      throw new StorageError(`snapshot request row ${i} is malformed or beyond the snapshot (index ${String(row.index)}, term ${String(row.term)}, revision ${String(row.revision)})`)
    }
  }
}
