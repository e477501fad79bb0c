/**
 * Named limits and tunables that are not user options, each with the reason for its value.
 */

/** Largest key, in bytes of UTF-8. Keys are LevelDB keys and travel in every update: keep them short. */
export const MAX_KEY_BYTES = 1024

/** Longest request id accepted (`id` write option). */
export const MAX_REQUEST_ID_LENGTH = 128

/** Longest TTL accepted: 100 years, so `now + ttlMs` stays a safe integer and a valid date. */
export const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000

/** How many expired keys one sweep deletes before yielding (each is one logged revision). */
export const EXPIRY_SWEEP_BATCH = 1024

/** Compaction runs once the retained window is exceeded by this many revisions (amortises it). */
export const COMPACTION_SLACK = 1024
