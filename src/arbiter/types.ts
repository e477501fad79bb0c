/**
 * Arbiter types: the persisted state, the wire messages, the core's inputs and outputs, and its
 * options. The wire encoding of every message is in `codec.ts`; `docs/protocol.md` is the
 * reference for both.
 */
import type { Logger } from '@libp2p/logger'

/** A peer's role in its cluster. */
export type Role = 'joining' | 'secondary' | 'candidate' | 'primary'

/** Position of the last log entry: up-to-dateness compares `term`, then `index`. */
export interface LogPosition {
  term: number
  index: number
}

/**
 * Identity of a membership: the term of the primary that issued it, then a version that the
 * issuing primary increments with every change. Compared on `configTerm`, then `version` (like a
 * log position: a membership issued in a later term supersedes any older, orphaned one).
 */
export interface ConfigId {
  configTerm: number
  version: number
}

/** A membership: its id and the member peer ids (the primary included). */
export interface Membership extends ConfigId {
  members: string[]
}

/**
 * What must survive a crash. The shell writes it durably *before* sending the messages of the
 * same {@link Ready}: a vote or a membership must never be forgotten after others saw it.
 */
export interface PersistedState {
  /** Set once the peer founded or joined a cluster; changes only by an operator's `forcePrimary`. */
  clusterId?: string
  /** Latest term seen (0 before any cluster). */
  term: number
  /** The candidate this peer voted for in `term`. */
  votedFor?: string
  /** Current membership (the primary included). Empty before any cluster. */
  members: string[]
  /** Version of the membership (0 before any cluster). */
  configVersion: number
  /** Term of the primary that issued the membership (0 before any cluster). */
  configTerm: number
}

// ---------------------------------------------------------------------------------------------
// Messages

/** Sent on connect (and every `helloIntervalMs` while not a member): who I am, what I know. */
export interface HelloMessage {
  type: 'hello'
  /** Cluster name; Hellos of another name are ignored. */
  cluster: string
  clusterId?: string
  term: number
  role: Role
  /** The primary the sender knows of, if any. */
  primary?: string
  log: LogPosition
}

/** Ask the primary to be added to the membership. */
export interface JoinMessage {
  type: 'join'
  cluster: string
  /** Present when the joiner already belongs to a cluster (it joins only that one). */
  clusterId?: string
  log: LogPosition
}

/** The joiner is a member of the enclosed membership. */
export interface JoinAcceptedMessage {
  type: 'join-accepted'
  clusterId: string
  term: number
  configTerm: number
  version: number
  members: string[]
  primary: string
}

/** Why a Join was not accepted. */
export type JoinRejectReason = 'not-primary' | 'busy' | 'other-cluster'

/** The Join was not accepted; `not-primary` names the primary to ask instead when known. */
export interface JoinRejectedMessage {
  type: 'join-rejected'
  reason: JoinRejectReason
  primary?: string
  /** With `other-cluster`: the id of the cluster that refused. */
  clusterId?: string
}

/**
 * The primary publishes a membership. `committed` says a majority of the previous membership
 * holds it: a leaving peer takes only a committed removal as final (an uncommitted one can be
 * abandoned by the next primary).
 */
export interface MembersMessage {
  type: 'members'
  term: number
  clusterId: string
  configTerm: number
  version: number
  members: string[]
  committed: boolean
}

/** A member holds (and persisted) the membership `configTerm`/`version`. */
export interface MembersAckMessage {
  type: 'members-ack'
  term: number
  configTerm: number
  version: number
}

/** The primary is alive; carries `members` when the receiver's acked membership is behind. */
export interface HeartbeatMessage {
  type: 'heartbeat'
  term: number
  clusterId: string
  configTerm: number
  version: number
  members?: string[]
  /** A leadership confirmation round (ArbiterCore.startConfirmation): echoed in the ack. */
  probe?: number
}

/** Reply to a heartbeat: the member's term, membership and log position. */
export interface HeartbeatAckMessage {
  type: 'heartbeat-ack'
  term: number
  configTerm: number
  version: number
  log: LogPosition
  /** The heartbeat's `probe`, echoed. */
  probe?: number
}

/** Ask for a (pre-)vote. A pre-vote carries the term the candidate *would* take. */
export interface RequestVoteMessage {
  type: 'request-vote'
  term: number
  clusterId: string
  pre: boolean
  log: LogPosition
  configTerm: number
  version: number
}

/**
 * Answer to a RequestVote. A granted pre-vote echoes the requested term; anything else carries
 * the voter's term. `config` is attached when the voter's membership is newer than the
 * candidate's, so a stale candidate catches up (and learns if it was removed).
 */
export interface VoteReplyMessage {
  type: 'vote-reply'
  term: number
  granted: boolean
  pre: boolean
  config?: Membership
}

/** From the current primary: start an election now, skipping pre-vote (leadership handover). */
export interface TimeoutNowMessage {
  type: 'timeout-now'
  term: number
}

/** A member stops cleanly: remove me. */
export interface LeaveMessage {
  type: 'leave'
  term: number
  clusterId: string
}

/** Every arbiter message. */
export type ArbiterMessage =
  | HelloMessage | JoinMessage | JoinAcceptedMessage | JoinRejectedMessage
  | MembersMessage | MembersAckMessage | HeartbeatMessage | HeartbeatAckMessage
  | RequestVoteMessage | VoteReplyMessage | TimeoutNowMessage | LeaveMessage

/** A message to send to one peer. */
export interface Outbound {
  to: string
  msg: ArbiterMessage
}

// ---------------------------------------------------------------------------------------------
// Events and status

/** Something the peer should tell its users or its log. */
export type ArbiterEvent =
  | { type: 'role', role: Role, previous: Role, term: number }
  | { type: 'primary', primary: string | undefined, term: number }
  | { type: 'members', members: string[], configTerm: number, version: number }
  /** A peer of the same cluster name belongs to another cluster id; this peer keeps its own. */
  | { type: 'conflict', clusterId: string, peer: string }
  /** `forcePrimary()` made this peer sole member and primary of a new cluster id. */
  | { type: 'forced', clusterId: string, previousClusterId: string, term: number, dropped: string[] }
  /** A `leave()` completed: this peer is no longer a member; the shell may stop. */
  | { type: 'left' }

/** Output of the core after any input, etcd-raft "Ready" style. */
export interface Ready {
  /** Write this durably before sending `messages`. */
  persist?: PersistedState
  messages: Outbound[]
  events: ArbiterEvent[]
}

/** One member as this peer sees it. */
export interface MemberStatus {
  peerId: string
  /** ms since this peer last received anything from it (0 for itself; absent: never). */
  lastSeenMs?: number
}

/** Snapshot of the arbiter state. */
export interface ArbiterStatus {
  self: string
  cluster: string
  clusterId?: string
  role: Role
  term: number
  primary?: string
  members: MemberStatus[]
  configTerm: number
  configVersion: number
  log: LogPosition
  /** Peers currently connected (as reported by the shell). */
  connected: string[]
  /** A joining peer: the primary it is trying to join. */
  joinTarget?: string
  /** Last cluster-id conflict seen. */
  conflict?: { clusterId: string, peer: string, at: number }
  /**
   * A leaving primary's chosen successor, while the primary waits for it to catch up (the
   * shell should stop taking new writes meanwhile, so it can).
   */
  handover?: string
  /** `leave()` was called. */
  leaving: boolean
  /** The leave completed; the core ignores further input. */
  left: boolean
}

// ---------------------------------------------------------------------------------------------
// Options

/** Tunables of the arbiter; every field has a documented default (see `constants.ts`). */
export interface ArbiterOptions {
  /**
   * Cluster name; peers only talk arbiter with peers of the same name.
   * @default 'kvgrid'
   */
  cluster?: string
  /** @default 200 */
  heartbeatMs?: number
  /** Base election timeout; the effective one is random in [base, 2·base). @default 1000 */
  electionTimeoutMs?: number
  /** A primary not hearing from a majority for this long steps down. @default 2000 */
  stepDownAfterMs?: number
  /** A member silent for this long is evicted (when a majority can commit it). @default 5000 */
  evictAfterMs?: number
  /** Discovery window of a fresh peer before it may found a cluster. @default 1500 */
  discoveryMs?: number
  /** Hello / Join / Leave retry interval. @default 500 */
  helloIntervalMs?: number
  /**
   * Found a cluster only while connected to (and having a Hello from) at least one seed: a
   * peer the shell reported with `peerConnected(id, now, { seed: true })`, i.e. one of the
   * bootstrap peers. The shell sets it when a bootstrap list is given, so a peer whose seeds are
   * briefly unreachable waits instead of founding a second cluster.
   * @default false
   */
  requireSeed?: boolean
}

/** Options after defaults and validation. */
export type ResolvedArbiterOptions = Required<ArbiterOptions>

/** Everything the core needs to start. */
export interface ArbiterInit extends ArbiterOptions {
  /** This peer's id (PeerId string). */
  self: string
  /** State persisted by a previous run; absent for a fresh peer. */
  state?: PersistedState
  /** Current time (ms); the core never reads a clock. */
  now: number
  /** Uniform random in [0, 1); the core never uses Math.random. */
  random: () => number
  /** Position of the last log entry at start. @default { term: 0, index: 0 } */
  log?: LogPosition
  /** Debug logger (e.g. `logger.forComponent('kvgrid:arbiter')`). */
  logger?: Logger
}
