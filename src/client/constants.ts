/**
 * Protocol id, wire limits and defaults of the client/forwarding protocol, each with the reason
 * for its value.
 */
import { MAX_MEMBERS, MAX_PEER_ID_BYTES } from '../arbiter/constants.js'
import { MAX_KEY_BYTES, MAX_REQUEST_ID_LENGTH } from '../constants.js'

export { MAX_KEY_BYTES, MAX_REQUEST_ID_LENGTH, MAX_PEER_ID_BYTES }

/** Protocol id of client/forwarding streams (framed by the {@link Messenger}). */
export const CLIENT_PROTOCOL = '/kvgrid/client/1.0.0'

/** Largest value (or `ifValue`) on the wire: the ceiling of the `maxValueBytes` option. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024

/**
 * Largest frame accepted. A `set` may carry a value and an `ifValue` both at the ceiling, so
 * every command the peer API accepts fits; 64 KiB covers id, key and headers with room to spare.
 * Anything larger is rejected before decoding.
 */
export const MAX_FRAME_BYTES = 2 * MAX_VALUE_BYTES + 64 * 1024

/** Longest request id on the wire in bytes (128 UTF-16 code units are at most 384 bytes). */
export const MAX_REQUEST_ID_BYTES = MAX_REQUEST_ID_LENGTH * 3

/** Longest error code or error name, in bytes of UTF-8 (codes are short upper-case words). */
export const MAX_ERROR_CODE_BYTES = 64

/** Longest error message on the wire, in bytes of UTF-8; longer messages are cut by the server. */
export const MAX_ERROR_MESSAGE_BYTES = 4096

/** Most peer ids in an error's `unconfirmed` list (a membership is never larger). */
export const MAX_UNCONFIRMED = MAX_MEMBERS

/**
 * Default time a forwarded write waits for the primary's answer. Longer than the primary's
 * default ack timeout (1 s) plus group commit and network time, so the primary's own verdict
 * (`OperationFailedError` with `unconfirmed`) normally arrives before the forward gives up.
 */
export const DEFAULT_FORWARD_TIMEOUT_MS = 5000

/**
 * Results the server remembers per request id, so a retried request returns the first result
 * instead of executing again. 4096 ids cover a burst of retries after a short disruption; each
 * entry is a fingerprint and a result (≈ 150 bytes).
 */
export const RESULT_CACHE_SIZE = 4096

/** How long a remembered result answers retries: far beyond any client's retry window. */
export const RESULT_CACHE_TTL_MS = 60_000

/**
 * Frames queued per remote peer. Forwarded writes queue behind each other while the stream
 * drains; the callers hold the values anyway, so a deep queue costs little. When it is full a
 * forward fails at once with `ClusterUnavailableError` (nothing was sent).
 */
export const MAX_QUEUED_FRAMES = 16_384

/** Longest timer Node accepts (2^31 − 1 ms); longer `timeoutMs` values are refused. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1
