/**
 * Replication messages. Entries are the store's physical log entries (see store/types.ts).
 */
import type { LogEntry, PackedRecords, RequestRow } from '../store/types.js'

/** Ordered entries from the primary: the entry before them is (prevIndex, prevTerm). */
export interface AppendMessage {
  type: 'append'
  /** The sender's (primary's) term. */
  term: number
  prevIndex: number
  prevTerm: number
  entries: LogEntry[]
}

/** Cumulative acknowledgement: the replica durably holds every entry up to `index`. */
export interface AckMessage {
  type: 'ack'
  term: number
  index: number
  /** Term of the entry at `index` (for the primary's divergence check). */
  entryTerm: number
}

/** Replica → primary: send me entries from `from` on (or a snapshot when the log no longer has them). */
export interface NeedMessage {
  type: 'need'
  term: number
  from: number
  /** The replica cannot use a delta (diverged or empty beyond repair): send a snapshot. */
  snapshot: boolean
}

/** Primary → replica: a snapshot as of (index, entryTerm, revision) follows. */
export interface SnapshotBeginMessage {
  type: 'snapshot-begin'
  term: number
  index: number
  entryTerm: number
  revision: number
  /** Records that will follow (for progress). */
  keys: number
}

/**
 * A chunk of snapshot records, in key order, packed as the store holds them (neither side
 * decodes the records: the primary copies rows, the replica checks and writes them).
 */
export interface SnapshotChunkMessage {
  type: 'snapshot-chunk'
  term: number
  /** The snapshot's index (its begin's): a chunk of another transfer is never taken for this one's. */
  index: number
  records: PackedRecords
}

/**
 * Request rows of the snapshot (after its records): the requests the primary answers repeats of,
 * each with its entry's position, so the replica does too once its log starts after them.
 */
export interface SnapshotRequestsMessage {
  type: 'snapshot-requests'
  term: number
  /** The snapshot's index. */
  index: number
  rows: RequestRow[]
}

/** The snapshot is complete. */
export interface SnapshotEndMessage {
  type: 'snapshot-end'
  term: number
  /** The snapshot's index. */
  index: number
  /** Records sent in total (the receiver checks it). */
  count: number
  /** Request rows sent in total (the receiver checks it). */
  requests: number
}

/** Every replication message. */
export type ReplicationMessage = AppendMessage | AckMessage | NeedMessage | SnapshotBeginMessage | SnapshotChunkMessage |
  SnapshotRequestsMessage | SnapshotEndMessage
