/**
 * Replication constants: protocol ids, topic names, timeouts and limits, each with its reason.
 */

/** Direct streams: acknowledgements, repair, catch-up. */
export const REPLICATE_PROTOCOL = '/kvgrid/replicate/1.0.0'

/** Gossipsub topic carrying ordered update batches of a cluster. */
export function updatesTopic (cluster: string): string {
  return `kvgrid/${cluster}/updates`
}

/**
 * How long a write waits for every member's acknowledgement before it fails with
 * OperationFailedError (the design's 1 s).
 */
export const ACK_TIMEOUT_MS = 1000

/** A member whose acknowledgement lags the primary's log this long gets the missing entries pushed directly. */
export const REPAIR_AFTER_MS = 60

/** A replica re-asks for the same missing range after this long without progress. */
export const NEED_RETRY_MS = 250

/** Most bytes of entries per Append frame (a single larger entry still travels alone). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024

/**
 * A fresh peer (Need from index 1) is sent the log as a delta only up to this many entries, else
 * a snapshot. Every entry carries one mutation, so a fresh peer's log is at least as long as the
 * key count, and replaying an entry costs about three times installing a snapshot record
 * (measured, 100-byte values, two peers in one process: 30k keys/entries 0.4 s by snapshot vs
 * 1.0 s by delta; 100k 1.1–1.8 s vs 3.5 s; about even at 10k). Below it, the log is cheap and
 * the peer also gets the history (`get … atRevision`), which a snapshot does not carry.
 */
export const FRESH_DELTA_MAX_ENTRIES = 10_000

/** Most records per snapshot chunk (one LevelDB batch on the receiver). */
export const SNAPSHOT_CHUNK_RECORDS = 2048

/**
 * A snapshot chunk ends once it holds this many bytes of records (a single larger record
 * travels alone), so large values never make a frame above MAX_FRAME_BYTES.
 */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024

/**
 * Most request rows per snapshot-requests message (16-byte fingerprint and three varints each:
 * at most 176 KiB, usually ≈ 100 KiB).
 */
export const SNAPSHOT_CHUNK_REQUESTS = 4096

/** Largest replication frame accepted (a single 64 MiB value plus headers). */
export const MAX_FRAME_BYTES = 72 * 1024 * 1024

/** Entries a replica buffers ahead of a gap before it drops the newest (they are re-sent on repair). */
export const MAX_BUFFERED_ENTRIES = 100_000

/** Default wait of `get(key, { minRevision })` before ReadTimeoutError. */
export const MIN_REVISION_TIMEOUT_MS = 5000
