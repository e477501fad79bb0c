/**
 * Typed errors. Every error kvgrid raises on purpose is one of these classes: match on
 * `err.name` (stable across versions) or `err.code` (stable upper-case string). The list is
 * documented in docs/api.md. Programmer mistakes of the wrong JS type get a `TypeError`-like
 * {@link InvalidArgumentError} too, so callers handle one family.
 */

/** Base class: a kvgrid error with a stable `code`. */
export class KvgridError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_ARGUMENT`. */
  readonly code: string

  constructor (message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** An argument (key, value, option, CLI word) is malformed or out of range. Nothing was written. */
export class InvalidArgumentError extends KvgridError {
  static readonly code = 'INVALID_ARGUMENT'
  override name = 'InvalidArgumentError'
  constructor (message: string) { super(message, InvalidArgumentError.code) }
}

/** A key is longer than the limit (1 KiB of UTF-8). Nothing was written. */
export class KeyTooLargeError extends KvgridError {
  static readonly code = 'KEY_TOO_LARGE'
  override name = 'KeyTooLargeError'
  constructor (bytes: number, limit: number) {
    super(`key is ${bytes} bytes of UTF-8; the limit is ${limit}`, KeyTooLargeError.code)
  }
}

/** A value is larger than `maxValueBytes`. Nothing was written. */
export class ValueTooLargeError extends KvgridError {
  static readonly code = 'VALUE_TOO_LARGE'
  override name = 'ValueTooLargeError'
  constructor (bytes: number, limit: number) {
    super(`value is ${bytes} bytes; the limit (maxValueBytes) is ${limit}`, ValueTooLargeError.code)
  }
}

/**
 * A write could not be committed (storage failed, or later: not every replica confirmed it in
 * time). Carries the request `id` so the caller can correlate retries and logs.
 */
export class OperationFailedError extends KvgridError {
  static readonly code = 'OPERATION_FAILED'
  override name = 'OperationFailedError'
  /** The request id (the `id` write option, or the one generated for the request). */
  readonly id: string
  /** Peers that did not confirm the write (empty for a local storage failure). */
  readonly unconfirmed: string[]

  constructor (message: string, id: string, options?: { cause?: unknown, unconfirmed?: string[] }) {
    super(message, OperationFailedError.code, options)
    this.id = id
    this.unconfirmed = options?.unconfirmed ?? []
  }
}

/** The data directory is already open in another process (or another peer in this one). */
export class DataDirLockedError extends KvgridError {
  static readonly code = 'DATA_DIR_LOCKED'
  override name = 'DataDirLockedError'
  readonly dataDir: string
  constructor (dataDir: string, options?: { cause?: unknown }) {
    super(`data directory ${dataDir} is in use by another kvgrid peer (LevelDB lock held)`, DataDirLockedError.code, options)
    this.dataDir = dataDir
  }
}

/** The store could not be opened or read (corruption, permissions, wrong format). */
export class StorageError extends KvgridError {
  static readonly code = 'STORAGE_ERROR'
  override name = 'StorageError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, StorageError.code, options) }
}

/** `get(key, { atRevision })` asked for a revision older than the retained history. */
export class RevisionCompactedError extends KvgridError {
  static readonly code = 'REVISION_COMPACTED'
  override name = 'RevisionCompactedError'
  constructor (revision: number, oldest: number) {
    super(`revision ${revision} is compacted; the oldest readable revision is ${oldest}`, RevisionCompactedError.code)
  }
}

/** `get(key, { atRevision })` asked for a revision this peer has not reached yet. */
export class FutureRevisionError extends KvgridError {
  static readonly code = 'FUTURE_REVISION'
  override name = 'FutureRevisionError'
  constructor (revision: number, current: number) {
    super(`revision ${revision} is ahead of this peer's revision ${current}`, FutureRevisionError.code)
  }
}

/** The peer is stopped (or stopping); the call was not carried out. */
export class PeerStoppedError extends KvgridError {
  static readonly code = 'PEER_STOPPED'
  override name = 'PeerStoppedError'
  constructor () { super('the peer is stopped', PeerStoppedError.code) }
}

/** The caller's AbortSignal fired before the operation was carried out. Nothing was written. */
export class AbortError extends KvgridError {
  static readonly code = 'ABORT_ERR'
  override name = 'AbortError'
  constructor (message = 'the operation was aborted') { super(message, AbortError.code) }
}

/**
 * A write reached a peer that is not the primary. Carries the primary's PeerId when known.
 * (Once write forwarding lands, secondaries forward instead of raising this.)
 */
export class NotPrimaryError extends KvgridError {
  static readonly code = 'NOT_PRIMARY'
  override name = 'NotPrimaryError'
  readonly primary?: string
  constructor (primary?: string) {
    super(primary === undefined ? 'this peer is not the primary and no primary is known' : `this peer is not the primary; the primary is ${primary}`, NotPrimaryError.code)
    if (primary !== undefined) this.primary = primary
  }
}

/** No primary is reachable (no cluster yet, an election in progress, or no majority). */
export class ClusterUnavailableError extends KvgridError {
  static readonly code = 'CLUSTER_UNAVAILABLE'
  override name = 'ClusterUnavailableError'
  constructor (message = 'no primary is reachable') { super(message, ClusterUnavailableError.code) }
}

/** The network could not be started (e.g. a listen address is in use or not available). */
export class NetworkError extends KvgridError {
  static readonly code = 'NETWORK_ERROR'
  override name = 'NetworkError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, NetworkError.code, options) }
}

/** `get(key, { minRevision })`: the local replica did not reach that revision in time. */
export class ReadTimeoutError extends KvgridError {
  static readonly code = 'READ_TIMEOUT'
  override name = 'ReadTimeoutError'
  readonly minRevision: number
  readonly revision: number
  constructor (minRevision: number, revision: number, waitedMs: number) {
    super(`this replica is at revision ${revision}; revision ${minRevision} did not arrive within ${waitedMs} ms`, ReadTimeoutError.code)
    this.minRevision = minRevision
    this.revision = revision
  }
}

/**
 * `forcePrimary` was refused: the peer is not a member, is already primary, is leaving, is
 * standalone, or still hears a live primary. Nothing changed.
 */
export class ForcePrimaryRefusedError extends KvgridError {
  static readonly code = 'FORCE_REFUSED'
  override name = 'ForcePrimaryRefusedError'
  constructor (reason: string) { super(`force-primary refused: ${reason}`, ForcePrimaryRefusedError.code) }
}
