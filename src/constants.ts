/**
 * Named limits and tunables that are not user options, each with the reason for its value.
 */

/** Largest key, in bytes of UTF-8. Keys are LevelDB keys and travel in every update: keep them short. */
export const MAX_KEY_BYTES = 1024

/**
 * Wait between retries of a failed local persist of replicated entries — the primary's append of
 * a batch already sent to the members, or a replica's persist of the primary's entries. The same
 * entries are retried; nothing is skipped.
 */
export const PERSIST_RETRY_MS = 50

/**
 * How long such persists are retried before the peer gives up and fail-stops (stops taking part,
 * so the others evict it): a primary may not reuse the indexes it sent, and a replica that
 * cannot persist would hold back every write.
 */
export const PERSIST_GIVE_UP_MS = 1000

/** Longest request id accepted (`id` write option). */
export const MAX_REQUEST_ID_LENGTH = 128

/** Longest TTL accepted: 100 years, so `now + ttlMs` stays a safe integer and a valid date. */
export const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000

/** How many expired keys one sweep deletes before yielding (each is one logged revision). */
export const EXPIRY_SWEEP_BATCH = 1024

/** Compaction runs once the retained window is exceeded by this many revisions (amortises it). */
export const COMPACTION_SLACK = 1024
