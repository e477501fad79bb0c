/**
 * Arbiter protocol ids, timeouts and wire limits, each with the reason for its value. The
 * timeouts are the defaults of {@link ArbiterOptions}; `resolveArbiterOptions` applies them.
 */

/** Protocol id of arbiter streams (one frame per stream message, length-prefixed by the shell). */
export const ARBITER_PROTOCOL = '/kvgrid/arbiter/1.0.0'

/**
 * How often the primary sends a heartbeat to every member. Five heartbeats fit in the base
 * election timeout, so one or two lost frames never start an election.
 */
export const HEARTBEAT_MS = 200

/**
 * Base election timeout. A secondary that has not heard from its primary for a random time in
 * [base, 2·base) starts a (pre-)election; the spread makes simultaneous candidacies rare. The
 * same base is the leader-stickiness window: a peer that heard from a live primary within it
 * refuses pre-votes.
 */
export const ELECTION_TIMEOUT_MS = 1000

/**
 * A primary that has not heard from a majority of members (itself included) for this long
 * steps down: a primary cut off in a minority stops acting as one. Kept well below
 * {@link EVICT_AFTER_MS} so a minority primary steps down before it would try to evict.
 */
export const STEP_DOWN_AFTER_MS = 1500

/**
 * A member the primary has not heard from for this long is removed from the membership (if a
 * majority of the membership is still reachable to commit the change), so writes that need
 * every member's ack keep flowing.
 */
export const EVICT_AFTER_MS = 2000

/**
 * Discovery window of a fresh peer: how long it listens for a primary (or for other fresh peers)
 * before it may found a cluster. mDNS answers and bootstrap dials land well within it on a LAN.
 */
export const DISCOVERY_MS = 1500

/**
 * How often a peer that is not (yet) a member repeats its Hello to connected peers, and retries
 * a Join or Leave that got no answer.
 */
export const HELLO_INTERVAL_MS = 500

/**
 * Suggested interval for the shell to call `tick(now)`. The core only acts on ticks and
 * messages, so its timers are as precise as this.
 */
export const TICK_INTERVAL_MS = 50

/** Default cluster name (scopes Hellos, gossip topics and the mDNS service tag). */
export const DEFAULT_CLUSTER = 'kvgrid'

/** Longest peer id on the wire, in bytes of UTF-8 (a base58 Ed25519 PeerId is 52). */
export const MAX_PEER_ID_BYTES = 128

/** Longest cluster name, in bytes of UTF-8. */
export const MAX_CLUSTER_NAME_BYTES = 64

/** Longest cluster id (the founder makes 32 hex characters). */
export const MAX_CLUSTER_ID_BYTES = 64

/** Most members a membership may have (a LAN cluster is far smaller; bounds frame size). */
export const MAX_MEMBERS = 1024

/**
 * Largest arbiter frame accepted: a full member list (1024 × 129 bytes) plus headers fits
 * with room to spare. Anything larger is rejected before decoding.
 */
export const MAX_FRAME_BYTES = 256 * 1024

/** Most membership changes (joins, leaves, evictions) the primary queues behind the pending one. */
export const MAX_QUEUED_CHANGES = 64
