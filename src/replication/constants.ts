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

/** Retry delay after a failed local persist (the same entries are retried; nothing is skipped). */
export const PERSIST_RETRY_MS = 50

/** Most bytes of entries per Append frame (a single larger entry still travels alone). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024

/** Records per snapshot chunk. */
export const SNAPSHOT_CHUNK_RECORDS = 2048

/** Largest replication frame accepted (a single 64 MiB value plus headers). */
export const MAX_FRAME_BYTES = 72 * 1024 * 1024

/** Entries a replica buffers ahead of a gap before it drops the newest (they are re-sent on repair). */
export const MAX_BUFFERED_ENTRIES = 100_000

/** Default wait of `get(key, { minRevision })` before ReadTimeoutError. */
export const MIN_REVISION_TIMEOUT_MS = 5000
