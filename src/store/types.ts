/**
 * The storage contract. A store holds four things: the data (latest record per key), per-key
 * history (record or tombstone per revision, for reads at an older revision), the update log
 * (log index → entry, for catch-up and repair) and meta (committed position, cluster identity).
 *
 * Data changes by {@link Store.append}: a group of consecutive log entries written in one
 * atomic batch. Entries are *physical*: they carry the resulting records, not the commands, so
 * the primary and every replica apply exactly the same bytes and never re-evaluate conditions or
 * clocks. Catch-up adds two more ways: installing another peer's {@link StoreSnapshot}
 * (`beginInstall` → `installChunk` or `installPacked`… → `finishInstall`) and undoing a diverged log suffix
 * (`truncateAfter`). Both implementations (LevelDB, memory) pass the same test suite.
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
  /** See {@link DelMutation.prevRevision}. */
  prevRevision?: number
}

/** Remove a present key. */
export interface DelMutation {
  type: 'del'
  key: string
  /** Expiry of the removed record, so its expiry-index entry is removed. */
  prevExpiresAt?: number
  /** The delete was issued because the key expired. */
  expired: boolean
  /**
   * Revision of the record this mutation replaces (its newest history row), 0 when the key had
   * no record; undefined when unknown (entries written before log format 2). Lets compaction
   * drop that history row once this entry is below the floor without reading the key's history.
   */
  prevRevision?: number
}

/** One change to one key. */
export type Mutation = PutMutation | DelMutation

/**
 * One log entry: one committed revision. `index` orders the whole log (also empty entries, which
 * carry no mutations and keep the revision: a new primary's barrier), `term` is the primary's
 * term.
 */
export interface LogEntry {
  index: number
  term: number
  /** Revision after this entry. Data entries advance it by exactly 1. */
  revision: number
  mutations: Mutation[]
  /**
   * Fingerprint (16 bytes, core/request.ts) of the request that made this entry, when the request
   * can be repeated (it carried an id its sender may send again): any peer holding the entry
   * answers a repeat from it instead of applying the write twice ({@link Store.findRequest}).
   */
  request?: Uint8Array
}

/** The entry a request made ({@link Store.findRequest}). */
export interface RequestEntry {
  index: number
  term: number
  revision: number
}

/**
 * A request fingerprint with the position of the entry it made: what a snapshot carries of the
 * sender's request index ({@link StoreSnapshot.requests}), so that the receiver, whose log starts
 * after the snapshot, still recognises repeats of the writes the snapshot holds.
 */
export interface RequestRow extends RequestEntry {
  request: Uint8Array
}

/**
 * A log entry as stored, read without decoding it (see {@link Store.readLogRaw}): its encoding
 * (store/codec.ts) and the header fields a sender needs. What a primary sends a catching-up peer:
 * the bytes are copied into the frame as they are, the receiver decodes and checks them.
 */
export interface RawLogEntry {
  index: number
  term: number
  /** Revision after the entry (also in the header). */
  revision: number
  /**
   * The entry's encoding, exactly as {@link Store.readLog} would decode it. Read-only; may be a
   * Node Buffer (whose `slice` is a view, not a copy).
   */
  bytes: Uint8Array
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

/** A point in the log: the last entry's index and term, and the revision after it. */
export interface LogPosition {
  index: number
  term: number
  revision: number
}

/**
 * Snapshot records packed as they are stored and as they travel in a snapshot chunk, without
 * decoding them: `count` × (varint length · UTF-8 key · varint length · record encoding), in
 * strictly ascending key order (UTF-8 bytes). Records use the store's record encoding
 * (store/codec.ts); tombstones never appear.
 */
export interface PackedRecords {
  /** Records in `bytes`. */
  count: number
  bytes: Uint8Array
}

/** Limits of one {@link PackedRecords} chunk read from a {@link StoreSnapshot}. */
export interface PackOptions {
  /** Most records per chunk (≥ 1). */
  maxRecords: number
  /** A chunk ends once it holds at least this many bytes (a single larger record travels alone). */
  maxBytes: number
}

/**
 * A consistent, point-in-time view of a store's data, for catching up a peer whose missing
 * entries were compacted (or that is too far behind for the log). Unaffected by later appends,
 * compaction or truncation. Holds resources (LevelDB: a snapshot): always `close` it.
 */
export interface StoreSnapshot {
  /** The store's state at the snapshot: `records()` yields exactly `state.keys` records. */
  readonly state: Readonly<StoreState>
  /**
   * The data keyspace as of `state`, in key order (UTF-8 bytes), as installed by
   * {@link Store.installChunk}. May be iterated more than once; throws {@link StorageError}
   * once the snapshot is closed.
   */
  records (): AsyncIterable<[string, StoredRecord]>
  /**
   * The same records as {@link records}, packed in chunks of at most `maxRecords` records and
   * about `maxBytes` bytes, copied from storage without decoding them (what a primary streams to
   * a catching-up peer, for {@link Store.installPacked}). Throws {@link StorageError} once the
   * snapshot is closed.
   */
  packed (options: PackOptions): AsyncIterable<PackedRecords>
  /**
   * Every request the store would answer a repeat of ({@link Store.findRequest}) as of `state`,
   * in chunks of at most `maxRows`: the fingerprints carried by the log's entries, and those
   * below the log floor that an installed snapshot brought and compaction has not dropped yet.
   * What a primary sends after the records, for {@link Store.installRequests}.
   */
  requests (maxRows: number): AsyncIterable<RequestRow[]>
  /** Release the view and end iterations in progress. Idempotent. */
  close (): Promise<void>
}

/** Persistent storage of one peer. */
export interface Store {
  /** Committed state (in memory; updated only after a batch is durable). */
  readonly state: Readonly<StoreState>
  /** A snapshot install is in progress: the data is partial until it finishes. */
  readonly installing: boolean
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
  /**
   * The entries {@link readLog} would return, as stored — encodings plus index, term and
   * revision, nothing decoded — ending early after the entry that brings the encodings to
   * `maxBytes` or more (at least one entry is returned when there is one). What a primary's
   * delta answer sends on: copying an entry costs a fraction of decoding it.
   */
  readLogRaw (fromIndex: number, limit: number, maxBytes?: number): Promise<RawLogEntry[]>
  /**
   * The log entry the request with this fingerprint made, while the log holds it or an installed
   * snapshot brought its row ({@link installRequests}); undefined otherwise (never written, below
   * the log floor, undone by `truncateAfter`).
   */
  findRequest (request: Uint8Array): Promise<RequestEntry | undefined>
  /** Up to `limit` keys whose indexed expiry is at or before `now`, earliest first. */
  expiring (now: number, limit: number): Promise<ExpiryCandidate[]>
  /** Earliest indexed expiry, or undefined when no key has one. */
  nextExpiry (): Promise<number | undefined>
  /**
   * Forget history and log before `revision`: afterwards `getAt` works for revisions at or
   * above it, and request rows of entries before it are gone (those of the log's entries and
   * those a snapshot brought alike). Not a logged change; the revision does not move. Works in bounded steps that
   * interleave with appends; an aborted `signal` stops it between steps (the floor already moved).
   */
  compact (revision: number, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * Take a {@link StoreSnapshot}: its `state` and `records()` are the same instant, even while
   * an append is being written. Throws {@link StorageError} while an install is in progress.
   */
  snapshot (): StoreSnapshot
  /**
   * Start replacing this store's contents with a snapshot taken at `position` (the sender's
   * `snapshot().state`). Durably marks the install as in progress, then clears data, history,
   * log and expiry index (meta values stay); `state` becomes empty. Until {@link finishInstall},
   * `append`, `truncateAfter`, `compact` and `snapshot` throw {@link StorageError}, and reads
   * see partial data. A store reopened with the mark present (a crash mid-install) clears itself
   * to the empty state, so catch-up starts again from scratch. Calling it again restarts.
   */
  beginInstall (position: LogPosition): Promise<void>
  /**
   * Write the next snapshot records in one batch: data, a history row at each record's
   * revision, expiry-index rows. Keys must ascend strictly (UTF-8 bytes) across all chunks, as
   * `records()` yields them, and no record may be newer than the position: else
   * {@link StorageError} and nothing is written. Not synced on its own ({@link finishInstall} is).
   */
  installChunk (records: Array<[string, StoredRecord]>): Promise<void>
  /**
   * {@link installChunk} for {@link PackedRecords} (from another peer's {@link StoreSnapshot.packed},
   * over the network), written without decoding the records. Every record is checked before
   * anything is written — bounds of every length, key 1–1024 bytes of valid UTF-8, strictly
   * ascending keys (across chunks too), record header (flags, varints; no tombstone) and
   * revision not beyond the position — so a malformed or hostile chunk throws
   * {@link StorageError} and writes nothing.
   */
  installPacked (records: PackedRecords): Promise<void>
  /**
   * Write request rows of the snapshot being installed (the sender's
   * {@link StoreSnapshot.requests}), durably with {@link finishInstall}. Each names an entry at
   * or below the position (index, term and revision not beyond it), so it lies below the new
   * log floor: {@link findRequest} answers from the row itself until {@link compact} passes its
   * revision. A row out of bounds throws {@link StorageError} and nothing of the call is written.
   */
  installRequests (rows: RequestRow[]): Promise<void>
  /**
   * Complete the install in one durable batch: `state` becomes the position with `keys` = records
   * written, `compactedRevision` = its revision and `firstLogIndex` = its index + 1. Then
   * `append` continues at index + 1, `getAt` answers at or above the revision, and the log below
   * index + 1 is empty.
   */
  finishInstall (): Promise<void>
  /**
   * Discard every log entry after `index` (a deposed primary's unacknowledged suffix), newest
   * first, in one atomic durable batch: each touched key gets back its record as of entry
   * `index` (or is removed), with history rows, log entries, expiry index and `state` (index,
   * term, revision, keys) as they were then. No-op when `index >= state.index`.
   * Throws {@link StorageError} when `index < firstLogIndex - 1` (compacted: install a snapshot
   * instead) or when the revision of entry `index` is below `compactedRevision`.
   */
  truncateAfter (index: number): Promise<void>
  /** A named meta value (e.g. the arbiter's persisted state), or undefined. */
  getMeta (name: string): Promise<Uint8Array | undefined>
  /** Durably (fsync) write a named meta value, ordered with appends. Not a logged change. */
  putMeta (name: string, value: Uint8Array): Promise<void>
}
