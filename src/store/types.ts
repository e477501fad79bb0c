/**
 * The storage contract. A store holds four things: the data (latest record per key), per-key
 * history (record or tombstone per revision, for reads at an older revision), the update log
 * (log index → entry, for catch-up and repair) and meta (committed position, cluster identity).
 *
 * The only way to change data is {@link Store.append}: a group of consecutive log entries
 * written in one atomic batch. Entries are *physical*: they carry the resulting records, not the
 * commands, so the primary and every replica apply exactly the same bytes and never re-evaluate
 * conditions or clocks. Both implementations (LevelDB, memory) pass the same test suite.
 */

/** A key's stored record. */
export interface StoredRecord {
  value: Uint8Array
  /** Revision of the last change (set or extend). */
  revision: number
  /** Revision at which the key was (last) created. */
  createRevision: number
  /** Value changes since creation. */
  version: number
  /** Absolute expiry in ms since the epoch. */
  expiresAt?: number
}

/** Set a key to a record. */
export interface PutMutation {
  type: 'put'
  key: string
  record: StoredRecord
  /** A record (live or expired) existed before: the key count does not grow. */
  existed: boolean
  /** Expiry of the record this one replaces, so its expiry-index entry is removed. */
  prevExpiresAt?: number
}

/** Remove a present key. */
export interface DelMutation {
  type: 'del'
  key: string
  /** Expiry of the removed record, so its expiry-index entry is removed. */
  prevExpiresAt?: number
  /** The delete was issued because the key expired. */
  expired: boolean
}

/** One change to one key. */
export type Mutation = PutMutation | DelMutation

/**
 * One log entry: one committed revision. `index` orders the whole log (later also membership
 * changes, which carry no mutations and keep the revision), `term` is the primary's term.
 */
export interface LogEntry {
  index: number
  term: number
  /** Revision after this entry. Data entries advance it by exactly 1. */
  revision: number
  mutations: Mutation[]
}

/** Committed position and counters, kept in memory and persisted with every batch. */
export interface StoreState {
  /** Index of the last applied log entry (0: empty). */
  index: number
  /** Term of the last applied log entry. */
  term: number
  /** Revision after the last applied entry (0: empty). */
  revision: number
  /** Number of stored keys (records, including ones past expiry not yet deleted). */
  keys: number
  /** Oldest revision readable with `getAt`; history before it is compacted. */
  compactedRevision: number
  /** Index of the oldest log entry still stored (index + 1 when the log is empty). */
  firstLogIndex: number
}

/** Key bounds for range reads: `gte` inclusive, `lt` exclusive, by UTF-8 byte order; all combine. */
export interface KeyBounds {
  prefix?: string
  gte?: string
  lt?: string
  reverse?: boolean
}

/** A key whose indexed expiry is due. */
export interface ExpiryCandidate {
  key: string
  expiresAt: number
}

/** Persistent storage of one peer. */
export interface Store {
  /** Committed state (in memory; updated only after a batch is durable). */
  readonly state: Readonly<StoreState>
  open (): Promise<void>
  close (): Promise<void>
  /** The latest record of a key (expired or not), or undefined. */
  get (key: string): Promise<StoredRecord | undefined>
  /** Records of several keys, in order. */
  getMany (keys: string[]): Promise<Array<StoredRecord | undefined>>
  /** The record of a key as of `revision` (undefined when absent then). */
  getAt (key: string, revision: number): Promise<StoredRecord | undefined>
  /** Records in key order within bounds. */
  range (bounds: KeyBounds): AsyncIterable<[string, StoredRecord]>
  /**
   * Apply consecutive log entries atomically (one batch) and durably when `sync`.
   * Entries must start at `state.index + 1`.
   */
  append (entries: LogEntry[], options?: { sync?: boolean }): Promise<void>
  /** Up to `limit` log entries from `fromIndex` on. */
  readLog (fromIndex: number, limit: number): Promise<LogEntry[]>
  /** Up to `limit` keys whose indexed expiry is at or before `now`, earliest first. */
  expiring (now: number, limit: number): Promise<ExpiryCandidate[]>
  /** Earliest indexed expiry, or undefined when no key has one. */
  nextExpiry (): Promise<number | undefined>
  /**
   * Forget history and log before `revision`: afterwards `getAt` works for revisions at or
   * above it. Not a logged change; the revision does not move. Works in bounded steps that
   * interleave with appends; an aborted `signal` stops it between steps (the floor already moved).
   */
  compact (revision: number, options?: { signal?: AbortSignal }): Promise<void>
  /** A named meta value (e.g. the arbiter's persisted state), or undefined. */
  getMeta (name: string): Promise<Uint8Array | undefined>
  /** Durably (fsync) write a named meta value, ordered with appends. Not a logged change. */
  putMeta (name: string, value: Uint8Array): Promise<void>
}
