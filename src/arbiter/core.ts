/**
 * The arbiter core: who is primary, in which term, and who the members are.
 *
 * A pure, deterministic state machine in the style of etcd-raft's `RawNode`: inputs are
 * `tick(now)`, `step(from, msg, now)`, `peerConnected/peerDisconnected`, `setLogPosition` and
 * `leave(now)`; after any input `takeReady()` returns what to persist, the messages to send and
 * the events to emit. It never reads a clock, draws a random number of its own, does I/O or
 * keeps a timer: the shell (libp2p streams, LevelDB meta) and the simulator in `test/helpers`
 * drive the very same class.
 *
 * Protocol, in short (the full reference is docs/protocol.md):
 * - Founding: a peer without cluster state says Hello to every connected peer. It joins any
 *   primary of its cluster name it hears of. After `discoveryMs` without one, and when no
 *   connected peer already belongs to a cluster, the fresh peer with the lowest id among itself
 *   and the fresh peers it sees founds: new cluster id, term 1, members [self], primary.
 * - Membership: the primary adds (Join), removes (Leave, eviction after `evictAfterMs` of
 *   silence) one peer at a time. A change is persisted, published (Members / Heartbeat) and
 *   committed once a majority of the *previous* membership holds it; the next change waits for
 *   that. A membership is identified by (configTerm, version); a new primary first re-issues its
 *   membership in its own term (the "no-op" change) before it accepts any other change.
 * - Elections: Raft with pre-vote. A member that has not heard from the primary for a random
 *   time in [electionTimeoutMs, 2·electionTimeoutMs) asks for pre-votes (no term change); with
 *   a majority it becomes candidate (term + 1, votes for itself, persisted) and asks for votes;
 *   with a majority of votes it becomes primary. Votes go only to candidates whose log position
 *   AND membership are at least as up to date as the voter's; pre-votes additionally only when
 *   the voter has not heard from a live primary within `electionTimeoutMs`.
 * - Liveness of the primary: it heartbeats every `heartbeatMs`, and steps down (same term) when
 *   it has not heard from a majority within `stepDownAfterMs`.
 * - Leaving: a secondary sends Leave (to the primary and the other members) until the primary's
 *   removal of it is committed; a primary waits until its most up-to-date live secondary that is
 *   not itself leaving has caught up, hands over with TimeoutNow, steps down, then leaves as a
 *   secondary. When every other member is leaving, it removes them instead and leaves last.
 *
 * Guarantees (given that the shell persists `Ready.persist` before sending `Ready.messages`):
 * at most one primary per term, ever (one persisted vote per term, majorities intersect, and
 * consecutive memberships differ by one peer and are committed in order); a primary's log is at
 * least as up to date as that of every peer that voted for it; a peer with cluster id X never
 * joins cluster id Y. Liveness needs a majority of the current membership to be up and
 * connected; in particular one survivor of a two-member cluster cannot elect itself.
 */
import type { Logger } from '@libp2p/logger'
import { InvalidArgumentError } from '../errors.js'
import { MAX_MEMBERS, MAX_PEER_ID_BYTES, MAX_QUEUED_CHANGES } from './constants.js'
import { resolveArbiterOptions } from './options.js'
import { compareConfig, compareLog, majority, upToDate } from './rules.js'
import type {
  ArbiterEvent, ArbiterInit, ArbiterMessage, ArbiterStatus, ConfigId, HeartbeatAckMessage, HeartbeatMessage,
  HelloMessage, JoinAcceptedMessage, JoinMessage, JoinRejectedMessage, LeaveMessage, LogPosition,
  Membership, MembersAckMessage, MembersMessage, Outbound, PersistedState, Ready, RequestVoteMessage,
  ResolvedArbiterOptions, Role, TimeoutNowMessage, VoteReplyMessage
} from './types.js'

/** A membership change waiting behind the pending one. */
interface Change {
  kind: 'add' | 'remove'
  id: string
  reason: 'join' | 'leave' | 'evict'
}

/** What the primary knows about one member. */
interface Follower {
  /** Last ack (heartbeat or members) received in this term. */
  lastHeard: number
  /** Highest membership acked in this term. */
  acked?: ConfigId
  /** Log position reported with the last heartbeat ack. */
  log?: LogPosition
}

/** The uncommitted membership and the one it replaced. */
interface Pending extends Membership {
  old: string[]
  /** An addition: the new member, and the primary's log position when it was proposed. */
  added?: { id: string, log: LogPosition }
}

function isPosition (p: unknown): p is LogPosition {
  const o = p as LogPosition
  return o != null && typeof o === 'object' && Number.isSafeInteger(o.term) && o.term >= 0 && Number.isSafeInteger(o.index) && o.index >= 0
}

function checkState (s: PersistedState): void {
  const ok = s != null && typeof s === 'object' &&
    (s.clusterId === undefined || (typeof s.clusterId === 'string' && s.clusterId.length > 0)) &&
    Number.isSafeInteger(s.term) && s.term >= 0 &&
    (s.votedFor === undefined || typeof s.votedFor === 'string') &&
    Array.isArray(s.members) && s.members.length <= MAX_MEMBERS && s.members.every(m => typeof m === 'string' && m.length > 0) &&
    new Set(s.members).size === s.members.length &&
    Number.isSafeInteger(s.configVersion) && s.configVersion >= 0 &&
    Number.isSafeInteger(s.configTerm) && s.configTerm >= 0 && s.configTerm <= s.term
  if (!ok) throw new InvalidArgumentError('arbiter persisted state is malformed')
}

/** The arbiter state machine of one peer. See the file header. */
export class ArbiterCore {
  /** This peer's id. */
  readonly self: string
  /** Resolved options. */
  readonly options: ResolvedArbiterOptions
  private readonly random: () => number
  private readonly log: Logger | undefined

  // Persisted (see PersistedState).
  private clusterId: string | undefined
  private currentTerm = 0
  private votedFor: string | undefined
  private members: string[] = []
  private configVersion = 0
  private configTerm = 0
  private dirty = false

  // Volatile, every role.
  private currentRole: Role
  private currentPrimary: string | undefined
  private logPos: LogPosition = { term: 0, index: 0 }
  /** A snapshot install is in progress ({@link setInstalling}). */
  private installing = false
  private readonly startedAt: number
  /** Last heartbeat / membership / join acceptance from the current primary. */
  private lastHeardPrimary = -Infinity
  private electionDeadline: number
  private preVoting = false
  private readonly preVotes = new Set<string>()
  /** Leadership confirmation rounds started ({@link startConfirmation}); never reused. */
  private probeSeq = 0
  /** Primary: the latest confirmation round each member echoed in this term. */
  private readonly probed = new Map<string, number>()
  /** Members that answered the vote round in progress (pre or real), granting or not. */
  private readonly voteAnswered = new Set<string>()
  /** When the round's requests were last sent ({@link resendVoteRequests}). */
  private voteAskedAt = -Infinity
  private readonly votes = new Set<string>()
  private readonly connected = new Set<string>()
  /** Connected peers the shell marked as seeds (bootstrap peers). */
  private readonly seeds = new Set<string>()
  /** Peers of this cluster name others told us about (peer exchange), with when we first heard. */
  private readonly heardOf = new Map<string, number>()
  /** When {@link retryJoin} last sent a Join. */
  private lastJoinNudgeAt = -Infinity
  /** Last Hello of each peer of our cluster name. */
  private readonly hellos = new Map<string, HelloMessage>()
  private readonly lastSeen = new Map<string, number>()
  private readonly helloAnswered = new Map<string, number>()
  private nextHelloAt = -Infinity
  private joinTarget: string | undefined
  private joinTargetTerm = -1
  private conflict: { clusterId: string, peer: string, at: number } | undefined
  private readonly conflictsReported = new Set<string>()
  private leaving = false
  private left = false
  private handoverTarget: string | undefined
  /**
   * Members known to be leaving, with when it was last heard: they sent Leave, or handed over to
   * this peer (only a leaving primary sends TimeoutNow). A leaving primary never hands over to
   * one of them. A leaver repeats Leave every `helloIntervalMs`, so the mark lapses after two
   * intervals without one ({@link isLeaver}) — a peer restarted before its old connection was
   * seen to close is not leaving — and is forgotten when the peer disconnects.
   */
  private readonly leavers = new Map<string, number>()
  /**
   * A leaving primary: the peers it removed while leaving (leavers, and any it evicted meanwhile).
   * It leaves only once they are gone too.
   */
  private readonly removedLeavers = new Set<string>()
  /** A leaving primary waiting for its successor to catch up before TimeoutNow. */
  /** `answered`: the target sent a HeartbeatAck since the transfer started (see {@link maybeHandOver}). */
  private transfer: { target: string, deadline: number, answered: boolean } | undefined
  private nextRetryAt = -Infinity

  // Volatile, primary only.
  private nextHeartbeatAt = -Infinity
  private becamePrimaryAt = 0
  private readonly followers = new Map<string, Follower>()
  private pending: Pending | undefined
  private queue: Change[] = []

  // Output.
  private outbox: Outbound[] = []
  private events: ArbiterEvent[] = []

  constructor (init: ArbiterInit) {
    if (typeof init.self !== 'string' || init.self.length === 0 || new TextEncoder().encode(init.self).length > MAX_PEER_ID_BYTES) {
      throw new InvalidArgumentError(`arbiter self id must be a non-empty string of at most ${MAX_PEER_ID_BYTES} bytes`)
    }
    if (typeof init.random !== 'function') throw new InvalidArgumentError('arbiter needs an injected random()')
    if (!Number.isFinite(init.now)) throw new InvalidArgumentError('arbiter needs the current time (now)')
    this.self = init.self
    this.options = resolveArbiterOptions(init)
    this.random = init.random
    this.log = init.logger
    if (init.log !== undefined) this.setLogPosition(init.log)
    if (init.state !== undefined) {
      checkState(init.state)
      const s = init.state
      this.clusterId = s.clusterId
      this.currentTerm = s.term
      this.votedFor = s.votedFor
      this.members = [...s.members]
      this.configVersion = s.configVersion
      this.configTerm = s.configTerm
    }
    this.startedAt = init.now
    this.currentRole = this.isMember() ? 'secondary' : 'joining'
    this.electionDeadline = this.randomTimeout(init.now)
  }

  // -------------------------------------------------------------------------------------------
  // Read side

  get role (): Role { return this.currentRole }
  get term (): number { return this.currentTerm }
  get primary (): string | undefined { return this.currentPrimary }
  get cluster (): string | undefined { return this.clusterId }
  /** A leaving primary: the secondary it is handing over to. */
  get handingOverTo (): string | undefined { return this.transfer?.target }
  /** A joining peer: the primary it is trying to join. */
  get joining (): string | undefined { return this.currentRole === 'joining' ? this.joinTarget : undefined }
  /** True once a `leave()` completed; the core then ignores all input. */
  get hasLeft (): boolean { return this.left }
  /** The current membership (a copy). */
  get membership (): Membership {
    return { configTerm: this.configTerm, version: this.configVersion, members: [...this.members] }
  }

  /** Snapshot for `status()` / `members` displays; `now` turns last-seen times into ages. */
  status (now: number): ArbiterStatus {
    const s: ArbiterStatus = {
      self: this.self,
      cluster: this.options.cluster,
      role: this.currentRole,
      term: this.currentTerm,
      members: this.members.map(peerId => {
        const seen = peerId === this.self ? now : this.lastSeen.get(peerId)
        return seen === undefined ? { peerId } : { peerId, lastSeenMs: Math.max(0, now - seen) }
      }),
      configTerm: this.configTerm,
      configVersion: this.configVersion,
      log: { ...this.logPos },
      connected: [...this.connected].sort(),
      leaving: this.leaving,
      left: this.left
    }
    if (this.clusterId !== undefined) s.clusterId = this.clusterId
    if (this.currentPrimary !== undefined) s.primary = this.currentPrimary
    if (this.conflict !== undefined) s.conflict = { ...this.conflict }
    if (this.handingOverTo !== undefined) s.handover = this.handingOverTo
    if (this.joining !== undefined) s.joinTarget = this.joining
    return s
  }

  /** The state to persist (a copy). */
  persistedState (): PersistedState {
    const s: PersistedState = {
      term: this.currentTerm,
      members: [...this.members],
      configVersion: this.configVersion,
      configTerm: this.configTerm
    }
    if (this.clusterId !== undefined) s.clusterId = this.clusterId
    if (this.votedFor !== undefined) s.votedFor = this.votedFor
    return s
  }

  /**
   * Everything produced since the last call: state to persist (write it durably first), then
   * messages to send and events to emit.
   */
  takeReady (): Ready {
    const ready: Ready = { messages: this.outbox, events: this.events }
    if (this.dirty) {
      ready.persist = this.persistedState()
      this.dirty = false
    }
    this.outbox = []
    this.events = []
    return ready
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Position of the last log entry; kept current by the shell (replication). */
  setLogPosition (pos: LogPosition): void {
    if (!isPosition(pos)) throw new InvalidArgumentError('log position must be { term, index } of non-negative safe integers')
    this.logPos = { term: pos.term, index: pos.index }
  }

  /**
   * A snapshot install began (true) or finished (false). Meanwhile the store is cleared and
   * partial: the peer reports an empty log position (in votes, joins and heartbeat acks), does not
   * become a candidate and does not take office on votes it gathered before the install began —
   * a primary takes no snapshot, so a peer that won mid-install would hold every write of the
   * cluster back for good. It still runs pre-vote rounds, which change nothing but are how a peer
   * removed while away learns its removal (and then joins again). After the install the shell
   * reports the new position.
   */
  setInstalling (on: boolean): void {
    this.installing = on
    if (on) this.logPos = { term: 0, index: 0 }
  }

  /**
   * Primary: start a leadership confirmation round (a read barrier, as Raft's ReadIndex) — a
   * heartbeat carrying the round's number to every member, who echoes it in its ack if it still
   * follows this primary in this term. Returns the round, or undefined when not primary. Once
   * {@link confirmedRound} reaches it, a majority of the membership (this peer included) still
   * followed this peer in its term after the round began, so no other primary can have been
   * elected before that: state this peer read before starting the round was current then.
   */
  startConfirmation (now: number): number | undefined {
    if (this.currentRole !== 'primary' || this.clusterId === undefined) return undefined
    const probe = ++this.probeSeq
    this.nextHeartbeatAt = now + this.options.heartbeatMs
    this.broadcastHeartbeat(probe)
    return probe
  }

  /** The latest confirmation round a majority of the members echoed in this term (0: none; primary only). */
  confirmedRound (): number {
    if (this.currentRole !== 'primary') return 0
    const echoed = this.members.map(id => id === this.self ? this.probeSeq : this.probed.get(id) ?? 0).sort((a, b) => b - a)
    return echoed[majority(this.members.length) - 1] ?? 0
  }

  /**
   * A connection to `id` opened. `seed`: the peer is one of the configured bootstrap peers
   * (with `requireSeed`, a fresh peer founds only together with a reachable seed).
   */
  peerConnected (id: string, now: number, info: { seed?: boolean } = {}): void {
    if (this.left || id === this.self) return
    this.connected.add(id)
    if (info.seed === true) this.seeds.add(id)
    this.lastSeen.set(id, now)
    this.send(id, this.hello())
  }

  /**
   * A connected peer said that `id` belongs to this cluster name (peer exchange) — a peer this
   * one may not be connected to yet. A fresh peer does not found while a lower id heard of this
   * way may still connect and say Hello (see {@link maybeFound}).
   */
  peerHeardOf (id: string, now: number): void {
    // Only a fresh peer founds, so only a fresh peer keeps these.
    if (this.clusterId !== undefined) {
      this.heardOf.clear()
      return
    }
    if (id === this.self || this.heardOf.has(id)) return
    this.heardOf.set(id, now)
  }

  /** The last connection to `id` closed. */
  peerDisconnected (id: string, now: number): void {
    this.connected.delete(id)
    this.seeds.delete(id)
    this.hellos.delete(id)
    this.helloAnswered.delete(id)
    this.leavers.delete(id)
    if (this.joinTarget === id) this.clearJoinTarget()
    // A leaving primary may have waited for this peer to go (see continueLeave).
    this.continueLeave(now)
  }

  /** Advance time: timers (heartbeats, elections, hellos, founding, eviction, step-down). */
  tick (now: number): void {
    if (this.left) return
    if (this.leaving && this.currentRole !== 'primary') this.tickLeaving(now)
    switch (this.currentRole) {
      case 'joining': if (!this.leaving) this.tickJoining(now); break
      case 'secondary':
      case 'candidate': this.tickFollower(now); break
      case 'primary': this.tickPrimary(now); break
    }
  }

  /** A decoded message from peer `from` (the shell authenticates `from`: the libp2p PeerId). */
  step (from: string, msg: ArbiterMessage, now: number): void {
    if (this.left || from === this.self) return
    this.lastSeen.set(from, now)
    switch (msg.type) {
      case 'hello': this.onHello(from, msg, now); break
      case 'join': this.onJoin(from, msg, now); break
      case 'join-accepted': this.onJoinAccepted(from, msg, now); break
      case 'join-rejected': this.onJoinRejected(from, msg, now); break
      case 'members':
        this.fromPrimary(from, msg.term, msg.clusterId, msg, now, 'members')
        // Only a committed removal is final for a leaving peer.
        if (this.leaving && msg.committed && msg.term === this.currentTerm && msg.clusterId === this.clusterId && !msg.members.includes(this.self) && !this.isMember()) {
          this.finishLeave()
        }
        break
      case 'heartbeat': {
        const config = msg.members !== undefined ? { configTerm: msg.configTerm, version: msg.version, members: msg.members } : undefined
        this.fromPrimary(from, msg.term, msg.clusterId, config, now, 'heartbeat', msg.probe)
        break
      }
      case 'members-ack':
      case 'heartbeat-ack': this.onAck(from, msg, now); break
      case 'request-vote': this.onRequestVote(from, msg, now); break
      case 'vote-reply': this.onVoteReply(from, msg, now); break
      case 'timeout-now': this.onTimeoutNow(from, msg, now); break
      case 'leave': this.onLeave(from, msg, now); break
    }
  }

  /**
   * Stop cleanly. A secondary tells the members (the primary removes it). A primary picks its
   * most up-to-date live secondary that is not itself leaving, waits (accepting no membership
   * change meanwhile) until that one reports the primary's log position and membership —
   * picking again every `electionTimeoutMs` — then sends it TimeoutNow, steps down and leaves
   * as a secondary. A primary whose other members are all leaving removes them instead, one at
   * a time, and leaves last. A leaving peer keeps voting and campaigning (it may hold the newest
   * log); if it becomes primary again it hands over again, never to a leaver. A `left` event
   * says when it is done: at once for a non-member or a sole member, else on a committed
   * removal. The shell should wait for it, with a deadline, before stopping.
   */
  leave (now: number): void {
    if (this.left || this.leaving) return
    this.leaving = true
    // Not a member: there is nobody to ask.
    if (!this.isMember()) { this.finishLeave(); return }
    this.nextRetryAt = now + this.options.helloIntervalMs
    this.clearJoinTarget()
    if (this.currentRole === 'primary') {
      this.continueLeave(now)
      return
    }
    // The only member (and not primary): there is nobody to hand over to or to ask.
    if (this.members.length === 1) { this.finishLeave(); return }
    this.sendLeave()
  }

  /**
   * The shell's Join gate opened for `target` (replication caught up): a joining peer whose
   * join target it is sends Join now rather than on its next hello round.
   */
  retryJoin (target: string, now: number): void {
    if (this.left || this.leaving || this.currentRole !== 'joining' || this.joinTarget !== target) return
    // At most one nudge per hello round: the round itself re-sends Join until it is answered
    // (a replica catching up under load reports "caught up" after nearly every batch).
    if (now - this.lastJoinNudgeAt < this.options.helloIntervalMs) return
    this.lastJoinNudgeAt = now
    this.nextHelloAt = now + this.options.helloIntervalMs
    this.sendJoin(target)
  }

  /**
   * Operator override for a cluster that lost its majority (one survivor of two, say): make this
   * peer the sole member and primary of a **new** cluster id, in a new term, without any vote.
   * Refused (with the reason returned) unless this peer is a member, not leaving, not primary,
   * and has not heard a live primary within `electionTimeoutMs`. Everything this peer holds is
   * kept; writes acknowledged elsewhere that it never received are lost, and the peers left in
   * the old cluster must be reset (their data directory removed) before they may join the new
   * one: they report a cluster conflict until then. The new cluster id (not just a new term)
   * is what makes a second, concurrent force on another survivor safe: the two can never take
   * each other for members of one cluster.
   */
  forcePrimary (now: number): { ok: true, clusterId: string, term: number } | { ok: false, reason: string } {
    if (this.left || this.leaving) return { ok: false, reason: 'this peer is leaving the cluster' }
    if (!this.isMember()) return { ok: false, reason: 'this peer is not a member of a cluster' }
    if (this.currentRole === 'primary') return { ok: false, reason: 'this peer is already the primary' }
    if (this.heardLivePrimary(now)) return { ok: false, reason: `a live primary (${String(this.currentPrimary)}) is reachable` }
    if (this.installing) return { ok: false, reason: 'this peer is installing a snapshot: its store is partial' }
    const previous = { clusterId: this.clusterId, term: this.currentTerm, members: this.members }
    this.clusterId = this.newClusterId()
    this.currentTerm += 1
    this.votedFor = this.self
    this.dirty = true
    this.conflict = undefined
    this.log?.error('FORCED: cluster %s term %d members %s -> new cluster %s, primary of term %d with members [%s]',
      previous.clusterId, previous.term, previous.members.join(','), this.clusterId, this.currentTerm, this.self)
    this.events.push({ type: 'forced', clusterId: this.clusterId, previousClusterId: previous.clusterId as string, term: this.currentTerm, dropped: previous.members.filter(m => m !== this.self) })
    this.setConfig({ configTerm: this.currentTerm, version: 1, members: [this.self] }, now)
    this.becomePrimary(now)
    return { ok: true, clusterId: this.clusterId, term: this.currentTerm }
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  private tickJoining (now: number): void {
    if (now >= this.nextHelloAt) {
      this.nextHelloAt = now + this.options.helloIntervalMs
      for (const id of this.connected) this.send(id, this.hello())
      if (this.joinTarget !== undefined) this.sendJoin(this.joinTarget)
    }
    if (this.clusterId === undefined && this.joinTarget === undefined && now - this.startedAt >= this.options.discoveryMs) {
      this.maybeFound(now)
    }
  }

  private tickFollower (now: number): void {
    if (now >= this.electionDeadline) this.startPreVote(now)
    else this.resendVoteRequests(now)
  }

  /**
   * A vote round (pre or real) in progress: ask the members that have not answered again, every
   * heartbeatMs. A lost request or reply would otherwise cost the round — a whole election
   * timeout, and for a real vote a term. Voters answer a repeat as the first time (a real vote
   * is granted again to the candidate it went to).
   */
  private resendVoteRequests (now: number): void {
    const pre = this.preVoting
    if ((!pre && this.currentRole !== 'candidate') || now - this.voteAskedAt < this.options.heartbeatMs) return
    this.voteAskedAt = now
    const msg = this.voteRequest(pre ? this.currentTerm + 1 : this.currentTerm, pre)
    for (const id of this.members) if (id !== this.self && !this.voteAnswered.has(id)) this.send(id, msg)
  }

  /**
   * Leaving (not primary): repeat Leave until a committed removal arrives; never join. It still
   * takes part in elections (it may hold the newest log); if it wins, it hands over again.
   */
  private tickLeaving (now: number): void {
    if (now < this.nextRetryAt) return
    this.nextRetryAt = now + this.options.helloIntervalMs
    this.sendLeave()
    if (this.currentPrimary === undefined && this.handoverTarget !== undefined) {
      this.send(this.handoverTarget, { type: 'timeout-now', term: this.currentTerm })
    }
    // The primary may have changed (or removed us) unseen: peers answer a Hello with theirs.
    for (const id of this.connected) this.send(id, this.hello())
  }

  private tickPrimary (now: number): void {
    /** Members heard from within `ms` (this peer included). */
    const heardWithin = (ms: number): number => this.members.filter(m => m === this.self || now - this.lastHeard(m) < ms).length
    const quorum = majority(this.members.length)
    // Within a heartbeat of stepping down: heartbeat on every tick, so that a partition healing
    // just before the deadline is heard in time instead of at the next regular heartbeat, which
    // could come after it (a needless step-down and election).
    const atRisk = heardWithin(this.options.stepDownAfterMs - this.options.heartbeatMs) < quorum
    if (now >= this.nextHeartbeatAt || atRisk) {
      this.nextHeartbeatAt = now + this.options.heartbeatMs
      this.broadcastHeartbeat()
    }
    const heard = heardWithin(this.options.stepDownAfterMs)
    if (heard < quorum) {
      this.log?.('stepping down in term %d: heard from %d of %d members within %d ms', this.currentTerm, heard, this.members.length, this.options.stepDownAfterMs)
      this.stepDown(now)
      return
    }
    if (this.transfer !== undefined) { this.maybeHandOver(now); return }
    if (this.leaving) {
      // No successor so far: one may have appeared (a joiner, a leaver that reconnected as new).
      this.continueLeave(now)
      if (this.left || this.transfer !== undefined) return
    }
    // An addition waiting for its member to catch up (or to fall silent).
    this.checkCommit(now)
    for (const m of this.members) {
      if (m !== this.self && now - this.lastHeard(m) >= this.options.evictAfterMs) this.enqueue({ kind: 'remove', id: m, reason: 'evict' })
    }
    this.applyQueue(now)
  }

  /**
   * Leaving primary: hand over to a member that is not itself leaving (Raft's leadership
   * transfer). With none, remove the other members — all leaving: they asked — one at a time,
   * and leave once this peer is the only member and no change is pending. Handing over to a
   * leaver would only have it hand over again (back to us, say): a term per round trip.
   */
  private continueLeave (now: number): void {
    if (!this.leaving || this.left || this.currentRole !== 'primary' || this.transfer !== undefined) return
    const target = this.handoverCandidate(now)
    if (target !== undefined) { this.startTransfer(target, now); return }
    if (this.members.length === 1 && this.members[0] === this.self) {
      if (this.pending === undefined && this.removedLeaversGone(now)) this.finishLeave()
      return
    }
    for (const id of this.members) {
      if (id !== this.self && this.isLeaver(id, now)) this.enqueue({ kind: 'remove', id, reason: 'leave' })
    }
    this.applyQueue(now)
  }

  /**
   * Whether every leaver this primary removed is gone: disconnected, or silent for two
   * `helloIntervalMs`. One still there may have missed its committed removal (it repeats Leave
   * every `helloIntervalMs`, and is answered with it again); leaving first would strand it.
   */
  private removedLeaversGone (now: number): boolean {
    for (const id of this.removedLeavers) {
      if (this.connected.has(id) && now - (this.lastSeen.get(id) ?? -Infinity) < 2 * this.options.helloIntervalMs) return false
    }
    return true
  }

  /** Pick `target` as successor and wait for it to catch up. */
  private startTransfer (target: string, now: number): void {
    this.log?.('leaving: handing over to %s in term %d', target, this.currentTerm)
    this.transfer = { target, deadline: now + this.options.electionTimeoutMs, answered: false }
    // Ask for fresh acks now: they carry the successor's log position and membership.
    this.nextHeartbeatAt = now + this.options.heartbeatMs
    this.broadcastHeartbeat()
    this.maybeHandOver(now)
  }

  /**
   * Once the successor has answered since the transfer started and holds our log position and
   * membership, send it TimeoutNow and step down. If it does not within `electionTimeoutMs`,
   * stay primary and pick again: handing over to a peer that others (or we) must refuse would
   * leave the cluster without a primary. Waiting for a fresh answer (one round trip) also lets
   * a Leave the successor sent before it (both leaving at once) arrive first on an ordered link.
   */
  private maybeHandOver (now: number): void {
    const tr = this.transfer
    if (tr === undefined || this.currentRole !== 'primary') return
    const f = this.followers.get(tr.target)
    const caughtUp = tr.answered && f?.log !== undefined && compareLog(f.log, this.logPos) >= 0 &&
      f.acked !== undefined && compareConfig(f.acked, this.configId()) === 0
    if (!caughtUp) {
      if (now >= tr.deadline) {
        this.transfer = undefined
        this.continueLeave(now)
      }
      return
    }
    this.transfer = undefined
    this.log?.('TimeoutNow to %s', tr.target)
    this.stepDown(now)
    this.handoverTarget = tr.target
    this.send(tr.target, { type: 'timeout-now', term: this.currentTerm })
  }

  // -------------------------------------------------------------------------------------------
  // Founding and joining

  private maybeFound (now: number): void {
    const fresh = [this.self]
    let seedsReached = 0
    for (const [id, h] of this.hellos) {
      if (!this.connected.has(id)) continue
      if (this.seeds.has(id)) seedsReached++
      // Someone already belongs to a cluster (or knows a primary): join that, never found.
      if (h.clusterId !== undefined || h.primary !== undefined || h.role === 'primary') return
      fresh.push(id)
    }
    if (this.options.requireSeed && seedsReached === 0) return
    if (fresh.some(id => id < this.self)) return
    // Two fresh peers that reached only a common seed (each dialled it at start) do not see
    // each other yet, and would each found. The seed tells each about the other (peer exchange):
    // wait for a lower id heard of that way to connect and say Hello — up to discoveryMs from
    // when we heard of it, so a peer that cannot reach us does not hold us back for ever.
    for (const [id, at] of this.heardOf) {
      if (id < this.self && !this.hellos.has(id) && now - at < this.options.discoveryMs) return
    }
    this.found(now)
  }

  private newClusterId (): string {
    let id = ''
    for (let i = 0; i < 4; i++) id += Math.floor(this.random() * 2 ** 32).toString(16).padStart(8, '0')
    return id
  }

  private found (now: number): void {
    const id = this.newClusterId()
    this.clusterId = id
    this.currentTerm = 1
    this.votedFor = this.self
    this.dirty = true
    this.log?.('founding cluster %s (%s) as primary of term 1', id, this.options.cluster)
    this.setConfig({ configTerm: 1, version: 1, members: [this.self] }, now)
    this.becomePrimary(now)
  }

  private onHello (from: string, m: HelloMessage, now: number): void {
    if (m.cluster !== this.options.cluster) return
    this.hellos.set(from, m)
    this.maybeAnswerHello(from, m, now)
    if (m.clusterId === undefined) return
    if (this.clusterId === undefined) {
      if (m.role !== 'primary' && m.primary === undefined) return
      // Joining a cluster binds this peer to it, persisted before the Join leaves: should it
      // crash after the primary added it, it comes back knowing its cluster and can vote.
      this.clusterId = m.clusterId
      this.dirty = true
      this.log?.('joining cluster %s (%s)', m.clusterId, this.options.cluster)
      if (m.role === 'primary') this.considerJoinTarget(from, m.term, true)
      else if (m.primary !== undefined) this.considerJoinTarget(m.primary, m.term, false)
      return
    }
    if (m.clusterId !== this.clusterId) { this.reportConflict(m.clusterId, from, now); return }
    if (m.term > this.currentTerm) this.adoptTerm(m.term, now)
    if (m.term < this.currentTerm) return
    if (m.role === 'primary' && this.currentRole !== 'primary') {
      if (this.currentPrimary === undefined && this.currentRole !== 'candidate') this.setPrimary(from)
      if (this.currentRole === 'joining') this.considerJoinTarget(from, m.term, true)
    } else if (this.currentRole === 'joining' && m.primary !== undefined) {
      this.considerJoinTarget(m.primary, m.term, false)
    }
  }

  /**
   * Answer a Hello whose sender seems not to know what we know (it is joining, not a member,
   * behind in term, or names another primary), at most once per hello interval per peer.
   */
  private maybeAnswerHello (from: string, m: HelloMessage, now: number): void {
    if (this.currentRole === 'joining' || this.clusterId === undefined) return
    const stale = m.role === 'joining' || m.term < this.currentTerm || m.primary !== this.currentPrimary || !this.members.includes(from)
    if (!stale) return
    const last = this.helloAnswered.get(from)
    if (last !== undefined && now - last < this.options.helloIntervalMs) return
    this.helloAnswered.set(from, now)
    this.send(from, this.hello())
    // A peer of our cluster that believes it is a member but is not (removed while away):
    // the primary tells it the membership, so it rejoins instead of waiting for heartbeats.
    if (this.currentRole === 'primary' && m.clusterId === this.clusterId && m.role !== 'joining' && !this.members.includes(from)) {
      this.send(from, this.membersMessage(this.pending === undefined))
    }
  }

  private considerJoinTarget (id: string, term: number, direct: boolean): void {
    if (id === this.self || this.currentRole !== 'joining' || this.leaving) return
    if (this.joinTarget === undefined || term > this.joinTargetTerm || (direct && term >= this.joinTargetTerm)) {
      const changed = this.joinTarget !== id
      this.joinTarget = id
      this.joinTargetTerm = term
      if (changed) this.sendJoin(id)
    }
  }

  private clearJoinTarget (): void {
    this.joinTarget = undefined
    this.joinTargetTerm = -1
  }

  private onJoin (from: string, m: JoinMessage, now: number): void {
    if (m.cluster !== this.options.cluster || this.clusterId === undefined) return
    if (m.clusterId !== undefined && m.clusterId !== this.clusterId) {
      this.send(from, { type: 'join-rejected', reason: 'other-cluster', clusterId: this.clusterId })
      return
    }
    if (this.currentRole !== 'primary') {
      const r: JoinRejectedMessage = { type: 'join-rejected', reason: 'not-primary' }
      if (this.currentPrimary !== undefined && this.currentPrimary !== from) r.primary = this.currentPrimary
      this.send(from, r)
      return
    }
    if (this.members.includes(from)) { this.sendJoinAccepted(from); return }
    if (this.queue.some(c => c.kind === 'add' && c.id === from)) return
    if (!this.enqueue({ kind: 'add', id: from, reason: 'join' })) {
      this.send(from, { type: 'join-rejected', reason: 'busy' })
      return
    }
    this.applyQueue(now)
  }

  private onJoinAccepted (from: string, m: JoinAcceptedMessage, now: number): void {
    if (this.currentRole !== 'joining' || !m.members.includes(this.self)) return
    if (this.clusterId !== undefined) {
      if (m.clusterId !== this.clusterId) { this.reportConflict(m.clusterId, from, now); return }
      if (m.term < this.currentTerm) return
    } else {
      this.clusterId = m.clusterId
      this.dirty = true
    }
    this.log?.('joined cluster %s through %s in term %d', m.clusterId, from, m.term)
    this.adoptTerm(m.term, now)
    this.clearJoinTarget()
    if (compareConfig(m, this.configId()) > 0) this.setConfig(m, now)
    this.heardFromPrimary(from, now)
    this.send(from, { type: 'members-ack', term: this.currentTerm, configTerm: this.configTerm, version: this.configVersion })
    // Our log position at once: the primary commits our addition only once we hold its log.
    this.send(from, { type: 'heartbeat-ack', term: this.currentTerm, configTerm: this.configTerm, version: this.configVersion, log: { ...this.logPos } })
  }

  private onJoinRejected (from: string, m: JoinRejectedMessage, now: number): void {
    if (this.currentRole !== 'joining' || this.joinTarget !== from) return
    if (m.reason === 'busy') return
    if (m.reason === 'other-cluster' && m.clusterId !== undefined && this.clusterId !== undefined && m.clusterId !== this.clusterId) {
      this.reportConflict(m.clusterId, from, now)
    }
    this.clearJoinTarget()
    if (m.reason === 'not-primary' && m.primary !== undefined) this.considerJoinTarget(m.primary, -1, false)
  }

  private reportConflict (clusterId: string, peer: string, now: number): void {
    this.conflict = { clusterId, peer, at: now }
    if (this.conflictsReported.has(clusterId)) return
    this.conflictsReported.add(clusterId)
    this.log?.error('cluster conflict: peer %s of cluster %s belongs to cluster id %s, this peer to %s; keeping ours',
      peer, this.options.cluster, clusterId, this.clusterId)
    this.events.push({ type: 'conflict', clusterId, peer })
  }

  // -------------------------------------------------------------------------------------------
  // Messages from the primary (heartbeat, members) and acks to it

  /** Heartbeat or Members: accept the sender as primary of a term >= ours, then ack. */
  private fromPrimary (from: string, term: number, clusterId: string, config: Membership | undefined, now: number, kind: 'heartbeat' | 'members', probe?: number): void {
    if (this.clusterId === undefined || clusterId !== this.clusterId) return
    // A confirmation round is echoed only by a member that accepts the sender in its term: an
    // answer with a newer term must not vouch for a round (a heartbeat of the sender's earlier
    // run, before a restart, can carry any round number).
    const accepted = term >= this.currentTerm
    if (accepted) {
      this.adoptTerm(term, now)
      if (this.currentRole === 'primary') {
        this.log?.error('ignoring %s from %s: this peer is primary of term %d', kind, from, term)
        return
      }
      if (this.currentRole === 'candidate') this.becomeFollower(now)
      if (config !== undefined && compareConfig(config, this.configId()) > 0) this.setConfig(config, now)
      this.heardFromPrimary(from, now)
    }
    // A lower term is answered with ours, so the stale primary steps down.
    if (kind === 'members') {
      const ack: MembersAckMessage = { type: 'members-ack', term: this.currentTerm, configTerm: this.configTerm, version: this.configVersion }
      this.send(from, ack)
    } else {
      const ack: HeartbeatAckMessage = { type: 'heartbeat-ack', term: this.currentTerm, configTerm: this.configTerm, version: this.configVersion, log: { ...this.logPos } }
      if (probe !== undefined && accepted) ack.probe = probe
      this.send(from, ack)
    }
  }

  private heardFromPrimary (from: string, now: number): void {
    this.preVoting = false
    this.lastHeardPrimary = now
    this.electionDeadline = this.randomTimeout(now)
    this.setPrimary(from)
    if (this.currentRole === 'joining' && this.clusterId !== undefined) this.considerJoinTarget(from, this.currentTerm, true)
  }

  private onAck (from: string, m: MembersAckMessage | HeartbeatAckMessage, now: number): void {
    if (m.term > this.currentTerm) { this.adoptTerm(m.term, now); return }
    if (this.currentRole !== 'primary' || m.term < this.currentTerm) return
    let f = this.followers.get(from)
    if (f === undefined) {
      if (!this.members.includes(from) && !(this.pending?.old.includes(from) ?? false)) return
      f = { lastHeard: now }
      this.followers.set(from, f)
    }
    f.lastHeard = now
    if (f.acked === undefined || compareConfig(m, f.acked) > 0) f.acked = { configTerm: m.configTerm, version: m.version }
    if (m.type === 'heartbeat-ack') {
      f.log = { ...m.log }
      if (m.probe !== undefined && m.probe <= this.probeSeq && m.probe > (this.probed.get(from) ?? 0)) this.probed.set(from, m.probe)
    }
    this.checkCommit(now)
    if (this.transfer !== undefined && from === this.transfer.target) {
      if (m.type === 'heartbeat-ack') this.transfer.answered = true
      this.maybeHandOver(now)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Primary: heartbeats and membership changes

  private lastHeard (id: string): number {
    return this.followers.get(id)?.lastHeard ?? this.becamePrimaryAt
  }

  private broadcastHeartbeat (probe?: number): void {
    const targets = new Set(this.members)
    for (const id of this.pending?.old ?? []) targets.add(id)
    for (const id of targets) {
      if (id === this.self) continue
      const acked = this.followers.get(id)?.acked
      const hb: HeartbeatMessage = {
        type: 'heartbeat', term: this.currentTerm, clusterId: this.clusterId as string, configTerm: this.configTerm, version: this.configVersion
      }
      if (probe !== undefined) hb.probe = probe
      if (acked === undefined || compareConfig(acked, this.configId()) !== 0) hb.members = [...this.members]
      this.send(id, hb)
    }
  }

  private enqueue (c: Change): boolean {
    if (this.queue.some(q => q.kind === c.kind && q.id === c.id)) return true
    if (this.queue.length >= MAX_QUEUED_CHANGES) return false
    this.queue.push(c)
    return true
  }

  /** Start queued changes, one at a time, while none is pending. */
  private applyQueue (now: number): void {
    while (this.pending === undefined && this.transfer === undefined && this.queue.length > 0 && this.currentRole === 'primary') {
      const c = this.queue.shift() as Change
      if (c.kind === 'add') {
        if (this.members.includes(c.id)) { this.sendJoinAccepted(c.id); continue }
        if (this.members.length >= MAX_MEMBERS) { this.send(c.id, { type: 'join-rejected', reason: 'busy' }); continue }
        this.followers.set(c.id, { lastHeard: now })
        this.log?.('adding member %s', c.id)
        this.propose([...this.members, c.id], now, c.id, { id: c.id, log: { ...this.logPos } })
        this.sendJoinAccepted(c.id)
      } else {
        if (!this.members.includes(c.id) || c.id === this.self) continue
        if (c.reason === 'evict' && now - this.lastHeard(c.id) < this.options.evictAfterMs) continue
        this.log?.('removing member %s (%s)', c.id, c.reason)
        this.propose(this.members.filter(m => m !== c.id), now)
      }
    }
  }

  /** Issue a new membership in this term, persist and publish it. */
  private propose (members: string[], now: number, skip?: string, added?: Pending['added']): void {
    const old = this.members
    const next: Membership = { configTerm: this.currentTerm, version: this.configVersion + 1, members }
    this.setConfig(next, now)
    this.pending = added === undefined ? { ...next, old } : { ...next, old, added }
    const msg = this.membersMessage(false)
    for (const id of new Set([...old, ...members])) {
      if (id !== this.self && id !== skip) this.send(id, msg)
    }
    this.checkCommit(now)
  }

  /**
   * Commit the pending membership once a majority of the previous one holds it — and, for an
   * addition, once the new member reports (heartbeat ack) the log position this primary had when
   * it proposed it, or has been silent for `evictAfterMs` (then it is evicted next). Without the
   * second condition a member admitted with a log short of writes acknowledged just before could
   * vote, with another such member, for a candidate lacking them (membership is not in the log,
   * so nothing else makes a new member hold the writes acknowledged before it joined).
   */
  private checkCommit (now: number): void {
    const p = this.pending
    if (p === undefined) return
    const holders = p.old.filter(id => {
      if (id === this.self) return true
      const acked = this.followers.get(id)?.acked
      return acked !== undefined && compareConfig(acked, p) >= 0
    }).length
    if (holders < majority(p.old.length)) return
    if (p.added !== undefined) {
      const f = this.followers.get(p.added.id)
      const caughtUp = f?.log !== undefined && compareLog(f.log, p.added.log) >= 0
      const silent = now - this.lastHeard(p.added.id) >= this.options.evictAfterMs
      if (!caughtUp && !silent) return
    }
    this.pending = undefined
    for (const id of this.followers.keys()) if (!this.members.includes(id)) this.followers.delete(id)
    this.log?.('membership %d/%d committed: %s', p.configTerm, p.version, p.members.join(','))
    // A removed peer learns that its removal is final.
    for (const id of p.old) {
      if (p.members.includes(id) || id === this.self) continue
      this.send(id, this.membersMessage(true))
      if (this.leaving) this.removedLeavers.add(id)
    }
    this.applyQueue(now)
    // A leaving primary without a successor: the next removal, a successor, or done.
    if (this.pending === undefined) this.continueLeave(now)
  }

  private membersMessage (committed: boolean): MembersMessage {
    return {
      type: 'members',
      term: this.currentTerm,
      clusterId: this.clusterId as string,
      configTerm: this.configTerm,
      version: this.configVersion,
      members: [...this.members],
      committed
    }
  }

  private sendJoinAccepted (to: string): void {
    this.send(to, {
      type: 'join-accepted',
      clusterId: this.clusterId as string,
      term: this.currentTerm,
      configTerm: this.configTerm,
      version: this.configVersion,
      members: [...this.members],
      primary: this.self
    })
  }

  private onLeave (from: string, m: LeaveMessage, now: number): void {
    if (this.clusterId === undefined || m.clusterId !== this.clusterId) return
    this.markLeaving(from, now)
    if (m.term > this.currentTerm) { this.adoptTerm(m.term, now); return }
    if (this.currentRole !== 'primary' || m.term < this.currentTerm) return
    if (!this.members.includes(from)) {
      // Already removed: tell it (as final once no change is pending), so it knows it is done.
      this.send(from, this.membersMessage(this.pending === undefined))
      return
    }
    this.enqueue({ kind: 'remove', id: from, reason: 'leave' })
    this.applyQueue(now)
  }

  /** Whether `id` is leaving: a Leave (or its TimeoutNow) heard within two hello intervals. */
  private isLeaver (id: string, now: number): boolean {
    const at = this.leavers.get(id)
    return at !== undefined && now - at < 2 * this.options.helloIntervalMs
  }

  /** `id` is leaving: a leaving primary handing over to it picks another successor. */
  private markLeaving (id: string, now: number): void {
    const known = this.isLeaver(id, now)
    this.leavers.set(id, now)
    if (known) return
    if (this.transfer?.target === id && this.currentRole === 'primary') {
      this.log?.('successor %s is leaving too: picking another', id)
      this.transfer = undefined
      this.continueLeave(now)
    }
  }

  /**
   * The successor of a leaving primary: among the members not known to be leaving, a live one
   * if any, with the newest acked membership and log (ties: lowest id). Undefined when every
   * other member is leaving.
   */
  private handoverCandidate (now: number): string | undefined {
    const eligible = this.members.filter(id => id !== this.self && !this.isLeaver(id, now))
    const live = eligible.filter(id => now - this.lastHeard(id) < this.options.electionTimeoutMs)
    const pool = live.length > 0 ? live : eligible
    const none = { term: -1, index: -1 }
    const rank = (id: string): [number, LogPosition] => {
      const f = this.followers.get(id)
      const current = f?.acked !== undefined && compareConfig(f.acked, this.configId()) === 0 ? 1 : 0
      return [current, f?.log ?? none]
    }
    pool.sort((a, b) => {
      const [ca, la] = rank(a)
      const [cb, lb] = rank(b)
      return (cb - ca) || compareLog(lb, la) || (a < b ? -1 : a > b ? 1 : 0)
    })
    return pool[0]
  }

  // -------------------------------------------------------------------------------------------
  // Elections

  private startPreVote (now: number): void {
    if (!this.isMember()) return
    this.setPrimary(undefined)
    this.preVoting = true
    this.preVotes.clear()
    this.preVotes.add(this.self)
    this.electionDeadline = this.randomTimeout(now)
    this.log?.trace('pre-vote for term %d', this.currentTerm + 1)
    this.broadcastVoteRequest(this.currentTerm + 1, true, now)
    // Also ask connected peers of our cluster outside our membership: their votes do not count,
    // but one with a newer membership answers with it (we may have been removed while away).
    const msg = this.voteRequest(this.currentTerm + 1, true)
    for (const [id, h] of this.hellos) {
      if (h.clusterId === this.clusterId && this.connected.has(id) && !this.members.includes(id)) this.send(id, msg)
    }
    this.countPreVotes(now)
  }

  private startElection (now: number): void {
    if (this.installing) {
      this.preVoting = false
      return
    }
    this.currentTerm += 1
    this.votedFor = this.self
    this.dirty = true
    this.preVoting = false
    this.votes.clear()
    this.votes.add(this.self)
    this.setRole('candidate')
    this.setPrimary(undefined)
    this.electionDeadline = this.randomTimeout(now)
    this.log?.('election for term %d', this.currentTerm)
    this.broadcastVoteRequest(this.currentTerm, false, now)
    this.countVotes(now)
  }

  private voteRequest (term: number, pre: boolean): RequestVoteMessage {
    return {
      type: 'request-vote', term, clusterId: this.clusterId as string, pre, log: { ...this.logPos }, configTerm: this.configTerm, version: this.configVersion
    }
  }

  private broadcastVoteRequest (term: number, pre: boolean, now: number): void {
    this.voteAnswered.clear()
    this.voteAskedAt = now
    const msg = this.voteRequest(term, pre)
    for (const id of this.members) if (id !== this.self) this.send(id, msg)
  }

  private counted (set: Set<string>): number {
    let n = 0
    for (const id of this.members) if (set.has(id)) n++
    return n
  }

  private countPreVotes (now: number): void {
    if (this.preVoting && this.counted(this.preVotes) >= majority(this.members.length)) this.startElection(now)
  }

  private countVotes (now: number): void {
    if (this.currentRole === 'candidate' && !this.installing && this.counted(this.votes) >= majority(this.members.length)) this.becomePrimary(now)
  }

  private heardLivePrimary (now: number): boolean {
    return this.currentRole === 'primary' ||
      (this.currentPrimary !== undefined && now - this.lastHeardPrimary < this.options.electionTimeoutMs)
  }

  private onRequestVote (from: string, m: RequestVoteMessage, now: number): void {
    if (this.clusterId === undefined || m.clusterId !== this.clusterId) return
    const reply = (term: number, granted: boolean): void => {
      const r: VoteReplyMessage = { type: 'vote-reply', term, granted, pre: m.pre }
      // A stale candidate learns the newer membership (and whether it is still a member).
      if (compareConfig(this.configId(), m) > 0) r.config = this.membership
      this.send(from, r)
    }
    if (m.term < this.currentTerm || (m.pre && m.term === this.currentTerm)) { reply(this.currentTerm, false); return }
    // Any peer of the cluster may grant; only votes of the candidate's members count. (A peer
    // added while it was down may not know it is a member yet: Raft §4.2.1.)
    const eligible = upToDate(m.log, m, this.logPos, this.configId())
    if (m.pre) {
      const granted = eligible && !this.heardLivePrimary(now)
      reply(granted ? m.term : this.currentTerm, granted)
      return
    }
    this.adoptTerm(m.term, now)
    const granted = eligible && (this.votedFor === undefined || this.votedFor === from)
    if (granted && this.votedFor === undefined) {
      this.votedFor = from
      this.dirty = true
    }
    if (granted) this.electionDeadline = this.randomTimeout(now)
    reply(this.currentTerm, granted)
  }

  private onVoteReply (from: string, m: VoteReplyMessage, now: number): void {
    if (this.clusterId === undefined) return
    // An answer to the round in progress (a pre-vote reply in a pre-vote round, a vote reply of
    // this term in an election): no need to ask that member again. A late reply to another
    // round says nothing about this one.
    if (m.pre ? this.preVoting : this.currentRole === 'candidate' && m.term === this.currentTerm) this.voteAnswered.add(from)
    if (m.config !== undefined && this.currentRole !== 'primary' && compareConfig(m.config, this.configId()) > 0) {
      this.log?.('membership %d/%d learnt from voter %s', m.config.configTerm, m.config.version, from)
      this.setConfig(m.config, now)
    }
    if (!(m.pre && m.granted) && m.term > this.currentTerm) { this.adoptTerm(m.term, now); return }
    if (!m.granted || !this.members.includes(from)) return
    if (m.pre) {
      if (this.preVoting && m.term === this.currentTerm + 1) {
        this.preVotes.add(from)
        this.countPreVotes(now)
      }
    } else if (this.currentRole === 'candidate' && m.term === this.currentTerm) {
      this.votes.add(from)
      this.countVotes(now)
    }
  }

  private onTimeoutNow (from: string, m: TimeoutNowMessage, now: number): void {
    if (m.term > this.currentTerm) { this.adoptTerm(m.term, now); return }
    if (m.term !== this.currentTerm || from !== this.currentPrimary || this.currentRole !== 'secondary' || !this.isMember()) return
    // Only a leaving primary hands over: should this peer win and leave too, it must not hand back.
    this.markLeaving(from, now)
    this.log?.('handover from %s: starting an election now', from)
    this.startElection(now)
  }

  private becomePrimary (now: number): void {
    this.setRole('primary')
    this.setPrimary(this.self)
    this.preVoting = false
    this.votes.clear()
    this.handoverTarget = undefined
    this.becamePrimaryAt = now
    this.followers.clear()
    this.probed.clear()
    // Eviction clocks start from when this peer last heard each member (a dead predecessor has
    // been silent since it died), but give every member at least electionTimeoutMs to answer
    // the first heartbeats.
    const floor = now - this.options.evictAfterMs + this.options.electionTimeoutMs
    for (const id of this.members) if (id !== this.self) this.followers.set(id, { lastHeard: Math.max(this.lastSeen.get(id) ?? floor, floor) })
    this.queue = []
    this.pending = undefined
    this.nextHeartbeatAt = now + this.options.heartbeatMs
    this.log?.('primary of term %d with members %s', this.currentTerm, this.members.join(','))
    if (this.configTerm !== this.currentTerm) {
      // Re-issue the membership in this term before any other change (Raft's no-op entry):
      // an orphaned change of an earlier primary can then never win against it.
      this.propose([...this.members], now)
    } else {
      this.broadcastHeartbeat()
    }
    this.transfer = undefined
    if (this.leaving) this.continueLeave(now)
  }

  // -------------------------------------------------------------------------------------------
  // State changes

  private configId (): ConfigId {
    return { configTerm: this.configTerm, version: this.configVersion }
  }

  private isMember (): boolean {
    return this.clusterId !== undefined && this.members.includes(this.self)
  }

  /** A higher term: adopt it, forget the vote, and stop being primary or candidate. */
  private adoptTerm (term: number, now: number): void {
    if (term <= this.currentTerm) return
    this.currentTerm = term
    this.votedFor = undefined
    this.dirty = true
    if (this.currentRole === 'primary' || this.currentRole === 'candidate') this.becomeFollower(now)
    this.preVoting = false
    this.setPrimary(undefined)
  }

  private becomeFollower (now: number): void {
    this.transfer = undefined
    this.pending = undefined
    this.queue = []
    this.followers.clear()
    this.preVoting = false
    this.votes.clear()
    this.setRole(this.isMember() ? 'secondary' : 'joining')
    this.electionDeadline = this.randomTimeout(now)
  }

  /** Stop being primary without a new term. */
  private stepDown (now: number): void {
    this.becomeFollower(now)
    this.setPrimary(undefined)
    this.lastHeardPrimary = -Infinity
  }

  private setConfig (c: Membership, now: number): void {
    const changed = c.members.length !== this.members.length || c.members.some((m, i) => m !== this.members[i])
    this.configTerm = c.configTerm
    this.configVersion = c.version
    this.members = [...c.members]
    this.dirty = true
    if (changed) this.events.push({ type: 'members', members: [...c.members], configTerm: c.configTerm, version: c.version })
    const member = this.isMember()
    if (!member && (this.currentRole === 'secondary' || this.currentRole === 'candidate')) {
      this.preVoting = false
      this.votes.clear()
      this.setRole('joining')
    } else if (member && this.currentRole === 'joining') {
      this.electionDeadline = this.randomTimeout(now)
      this.clearJoinTarget()
      this.setRole('secondary')
    }
  }

  private setRole (role: Role): void {
    if (role === this.currentRole) return
    const previous = this.currentRole
    this.currentRole = role
    this.log?.('role %s -> %s in term %d', previous, role, this.currentTerm)
    this.events.push({ type: 'role', role, previous, term: this.currentTerm })
  }

  private setPrimary (primary: string | undefined): void {
    if (primary === this.currentPrimary) return
    this.currentPrimary = primary
    this.events.push({ type: 'primary', primary, term: this.currentTerm })
    if (this.leaving && primary !== undefined && primary !== this.self) this.sendLeave()
  }

  private finishLeave (): void {
    if (this.left) return
    this.leaving = true
    this.left = true
    this.log?.('left the cluster')
    this.events.push({ type: 'left' })
  }

  // -------------------------------------------------------------------------------------------
  // Output helpers

  private send (to: string, msg: ArbiterMessage): void {
    if (to !== this.self) this.outbox.push({ to, msg })
  }

  private hello (): HelloMessage {
    const h: HelloMessage = { type: 'hello', cluster: this.options.cluster, term: this.currentTerm, role: this.currentRole, log: { ...this.logPos } }
    if (this.clusterId !== undefined) h.clusterId = this.clusterId
    if (this.currentPrimary !== undefined) h.primary = this.currentPrimary
    return h
  }

  private sendJoin (to: string): void {
    const j: JoinMessage = { type: 'join', cluster: this.options.cluster, log: { ...this.logPos } }
    if (this.clusterId !== undefined) j.clusterId = this.clusterId
    this.send(to, j)
  }

  /**
   * Leave to the primary and every other member: the primary removes this peer (or tells it it
   * was removed); the others learn not to take it as a successor should they become primary and
   * leave too.
   */
  private sendLeave (): void {
    if (this.clusterId === undefined || this.currentRole === 'primary') return
    const msg: LeaveMessage = { type: 'leave', term: this.currentTerm, clusterId: this.clusterId }
    const to = new Set(this.members)
    if (this.currentPrimary !== undefined) to.add(this.currentPrimary)
    for (const id of to) if (id !== this.self) this.send(id, msg)
  }

  private randomTimeout (now: number): number {
    const base = this.options.electionTimeoutMs
    return now + base + Math.floor(this.random() * base)
  }
}
