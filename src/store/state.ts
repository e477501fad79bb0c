/**
 * The pure part of applying log entries, shared by every store: checks that entries continue
 * the log, and computes the state after them.
 */
import { StorageError } from '../errors.js'
import type { LogEntry, LogPosition, StoreState } from './types.js'

/** State of a store that has never been written. */
export function emptyState (): StoreState {
  return { index: 0, term: 0, revision: 0, keys: 0, compactedRevision: 0, firstLogIndex: 1 }
}

/**
 * State after applying `entries` to `state`. Throws {@link StorageError} when the entries do
 * not continue the log (wrong first index, gap, revision moving by other than 0 or 1, term
 * going backwards): a caller bug that must never reach disk.
 */
export function stateAfter (state: Readonly<StoreState>, entries: readonly LogEntry[]): StoreState {
  const next = { ...state }
  for (const e of entries) {
    if (e.index !== next.index + 1) throw new StorageError(`log entry ${e.index} does not follow ${next.index}`)
    if (e.term < next.term) throw new StorageError(`log entry ${e.index} has term ${e.term} below ${next.term}`)
    const expected = e.mutations.length > 0 ? next.revision + 1 : next.revision
    if (e.revision !== expected) throw new StorageError(`log entry ${e.index} has revision ${e.revision}, expected ${expected}`)
    for (const m of e.mutations) {
      if (m.type === 'put') {
        if (!m.existed) next.keys++
      } else {
        next.keys--
      }
    }
    next.index = e.index
    next.term = e.term
    next.revision = e.revision
  }
  return next
}

/** Throws {@link StorageError} unless `p` is a plausible log position (non-negative integers). */
export function checkPosition (p: LogPosition): void {
  for (const n of [p.index, p.term, p.revision]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new StorageError(`invalid log position ${JSON.stringify(p)}`)
  }
  if (p.revision > p.index) throw new StorageError(`invalid log position ${JSON.stringify(p)}: revision beyond index`)
}
