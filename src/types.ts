/**
 * Public data types of the peer API. See docs/api.md for the behaviour of every field.
 */
import type { TypedEventTarget } from 'main-event'

/** A value as stored: bytes. Strings given to `set` are stored as their UTF-8 bytes. */
export type Value = string | Uint8Array

/** One key as read from a replica. */
export interface Entry {
  key: string
  value: Uint8Array
  /** Revision of the last change to this key (set or extend). */
  revision: number
  /** Revision at which this key was created (since it last did not exist). */
  createRevision: number
  /** Number of value changes since creation: 1 after the first set. `extend` leaves it. */
  version: number
  /** Wall-clock expiry, milliseconds since the epoch, when the key has a TTL. */
  expiresAt?: number
}

/** Options every async call accepts. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Options of `set`. Conditions combine: all given must hold. */
export interface SetOptions extends AbortOptions {
  /** Only set when the key does not exist. */
  ifNotExists?: boolean
  /** Only set when the key exists. */
  ifExists?: boolean
  /** Only set when the current value equals this (byte-wise). */
  ifValue?: Value
  /** Only set when the key's current revision equals this; 0 means "the key does not exist". */
  ifRevision?: number
  /** Expire the key this many milliseconds after the write commits. */
  ttlMs?: number
  /** Request id, echoed in errors; generated when not given. */
  id?: string
}

/** Options of `delete`. */
export interface DeleteOptions extends AbortOptions {
  /** Only delete when the key's current revision equals this. */
  ifRevision?: number
  /** Request id, echoed in errors; generated when not given. */
  id?: string
}

/** Options of `extend`. */
export interface ExtendOptions extends AbortOptions {
  /** Request id, echoed in errors; generated when not given. */
  id?: string
}

/** Options of `get`. */
export interface GetOptions extends AbortOptions {
  /** Read the key as it was at this revision (within the retained history). */
  atRevision?: number
  /**
   * Wait until this replica applied at least this revision (e.g. the revision a write returned
   * on another peer: read-your-writes), then read. Fails with ReadTimeoutError after
   * `minRevisionTimeoutMs` (or the signal).
   */
  minRevision?: number
}

/** Options of `range`. `start` is inclusive, `end` exclusive; all bounds combine. */
export interface RangeOptions extends AbortOptions {
  prefix?: string
  start?: string
  end?: string
  /** At most this many entries; no limit when not given. */
  limit?: number
  /** Descending key order. */
  reverse?: boolean
}

/** Result of every write. */
export interface WriteResult {
  /** False when a condition did not hold, or the key to delete/extend was absent. */
  ok: boolean
  /** The new revision when ok; otherwise the current revision, which the write did not change. */
  revision: number
}

/** Role of a peer. A single peer without networking is always `primary`. */
export type Role = 'primary' | 'secondary' | 'candidate' | 'joining'

/** One member of the cluster as a peer sees it. */
export interface MemberInfo {
  peerId: string
  role: 'primary' | 'secondary'
  /** Addresses this peer knows for it (its own listen addresses for itself). */
  addrs: string[]
  /** ms since this peer last heard from it (0 for itself; undefined: never). */
  lastSeenMs?: number
}

/** Snapshot of a peer's state, from `peer.status()`. */
export interface PeerStatus {
  /** This peer's PeerId (undefined for a standalone peer). */
  peerId?: string
  role: Role
  /** Current arbiter term (0 standalone or before any cluster). */
  term: number
  /** PeerId of the primary this peer follows, when known (itself when primary). */
  primary?: string
  /** Cluster name. */
  cluster?: string
  /** Cluster id, set once the peer founded or joined a cluster. */
  clusterId?: string
  /** The membership, the primary included (empty when standalone). */
  members: MemberInfo[]
  /** PeerIds of the peers connected now. */
  connections: string[]
  /** Set when a peer of the same cluster name belongs to another cluster id. */
  conflict?: { clusterId: string, peer: string }
  /** Latest committed revision on this peer (0 for an empty store). */
  revision: number
  /** Number of live keys (keys whose expiry was already removed are not counted). */
  keys: number
  dataDir: string
  /** Oldest revision that `get(key, { atRevision })` can still read. */
  compactedRevision: number
  /** Whether writes are fsynced before they resolve. */
  fsync: boolean
  /** Writes accepted but not yet committed. */
  pendingWrites: number
}

/** Events a peer dispatches (`peer.addEventListener('role', e => e.detail)`). */
export interface PeerEvents {
  /** The peer's role changed. */
  role: CustomEvent<{ role: Role, previous: Role, term: number }>
  /** The primary this peer follows changed (undefined: none known). */
  primary: CustomEvent<{ primary?: string, term: number }>
  /** The membership changed. */
  members: CustomEvent<{ members: string[] }>
  /** Catch-up progress while this peer receives a snapshot or a long delta. */
  catchup: CustomEvent<{ phase: 'snapshot' | 'delta', done: number, total: number }>
  /** An operator forced this peer to be sole member and primary of a new cluster id. */
  forced: CustomEvent<{ clusterId: string, previousClusterId: string, term: number, dropped: string[] }>
}

/** The peer API: what `createPeer` returns. See docs/api.md. */
export interface KvPeer extends TypedEventTarget<PeerEvents> {
  /** Set `key` to `value`, optionally under conditions and with a TTL. */
  set (key: string, value: Value, options?: SetOptions): Promise<WriteResult>
  /** Read a key from the local replica; `undefined` when absent or expired. */
  get (key: string, options?: GetOptions): Promise<Entry | undefined>
  /** Delete a key; `ok: false` when it was absent. */
  delete (key: string, options?: DeleteOptions): Promise<WriteResult>
  /** Whether a live key exists on the local replica. */
  exists (key: string, options?: AbortOptions): Promise<boolean>
  /** Set a key's TTL to `ttlMs` from now (0 removes the expiry); `ok: false` when absent. */
  extend (key: string, ttlMs: number, options?: ExtendOptions): Promise<WriteResult>
  /** Live entries in key order within the given bounds. */
  range (options?: RangeOptions): Promise<Entry[]>
  /** A snapshot of the peer's state. */
  status (): PeerStatus
  /**
   * Operator override when the cluster lost its majority: become sole member and primary of a
   * new cluster id (see docs/operations.md for the risk). Throws ForcePrimaryRefusedError.
   */
  forcePrimary (): Promise<{ clusterId: string, term: number }>
  /** Resolves once the peer is a member that knows the current primary. */
  ready (options?: AbortOptions): Promise<void>
  /** Dialable addresses of this peer (empty when standalone). */
  readonly multiaddrs: string[]
  /** Stop the peer: waits for queued writes, closes storage, clears every timer. Idempotent. */
  stop (): Promise<void>
}
