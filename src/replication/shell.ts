/**
 * Replication over libp2p: drives the pure {@link AckTracker} (primary) and
 * {@link ReplicaCore} (secondary) with gossipsub, direct streams and the store.
 *
 * Primary: every group-committed batch is sent to each member on its direct stream
 * (`/kvgrid/replicate/1.0.0`, Noise-authenticated) and waits until every member acked it. The
 * same entries are disseminated on the cluster's gossipsub topic (`kvgrid/<cluster>/updates`),
 * coalesced to one message per 50 ms — a second path for members and the feed for subscribed
 * non-members. Gossip is unsigned (the node runs gossipsub with `StrictNoSign`): a message is
 * taken only from the peer that delivered it when that peer is the primary, so the origin is
 * the Noise-authenticated connection, as on the direct stream. A batch a member already holds
 * is neither delivered nor relayed (the topic validator ignores it). A member whose acks lag gets the missing entries
 * pushed on the direct stream, which also carries acks, Needs and snapshots. A Need below the
 * log floor, or a fresh peer's when the log holds more than FRESH_DELTA_MAX_ENTRIES entries, is
 * answered with a snapshot; any other with a delta copied from the log (./serve.ts).
 *
 * Secondary: appends are taken from the primary only (the Noise-authenticated peer of the
 * direct stream, or of the connection a gossip message arrived on), applied in order, persisted
 * (fsync) and acked.
 *
 * One tick timer (20 ms) drives deadlines, repair and retries; no per-write timers.
 */
import type { Logger } from '@libp2p/logger'
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipsubMessage, Message } from '@libp2p/gossipsub'
import { PERSIST_GIVE_UP_MS, PERSIST_RETRY_MS } from '../constants.js'
import { OperationFailedError } from '../errors.js'
import { Messenger } from '../net/messenger.js'
import type { KvNode } from '../node/node.js'
import type { LogEntry, Store } from '../store/types.js'
import { AckTracker } from './ack-tracker.js'
import { decodeMessage, encodeMessage, peekAppend } from './codec.js'
import {
  MAX_BUFFERED_ENTRIES, MAX_FRAME_BYTES, NEED_RETRY_MS, REPAIR_AFTER_MS,
  REPLICATE_PROTOCOL, updatesTopic
} from './constants.js'
import { ReplicaCore } from './replica.js'
import { answerNeed, GossipBuffer, SnapshotSends, termAt } from './serve.js'
import type { ReplicaEffects } from './replica.js'
import type { AppendMessage, ReplicationMessage } from './types.js'

/** Tick period of replication. */
const TICK_MS = 20
/** A snapshot transfer with no chunk for this long is abandoned and asked again. */
const SNAPSHOT_STALL_MS = 10_000

/** Catch-up progress, for events and the CLI. */
export interface CatchUpProgress {
  phase: 'snapshot' | 'delta'
  /** Records (snapshot) or entries (delta) received so far. */
  done: number
  /** Expected total (snapshot: keys; delta: entries behind the primary). */
  total: number
}

/** Options of {@link Replication}. */
export interface ReplicationInit {
  node: KvNode
  store: Store
  cluster: string
  sync: boolean
  ackTimeoutMs: number
  logger: ComponentLogger
  /** Called after entries were applied on a replica (same as after a local append). */
  onApplied: (entries: LogEntry[]) => void
  /** Called after a snapshot was installed. */
  onInstalled: () => void
  /**
   * A snapshot install is about to begin (true: the store is cleared next, its position is no
   * longer the data's), or did not begin after all (false: the store is as it was). Its end is
   * `onInstalled`. The arbiter must not let a peer whose store is mid-install stand for primary.
   */
  onInstalling?: (on: boolean) => void
  onProgress?: (p: CatchUpProgress) => void
  /**
   * The replica became caught up with `primary`: the primary said where its log ends (an empty
   * append) and the replica holds all of it. A joining peer may ask to join at once instead of
   * on its next hello round.
   */
  onCaughtUp?: (primary: string) => void
  /**
   * The replica could not persist the primary's entries for PERSIST_GIVE_UP_MS (a failing disk):
   * this peer should stop taking part (fail-stop), or it would hold back every write. Called once.
   */
  onFatal?: (err: Error) => void
  /**
   * The arbiter's view: this peer's id, role, term, the primary (or, while joining, the primary
   * it is joining) and the members. Replication follows it on every tick and on `sync()`.
   */
  view: () => { self: string, role: string, term: number, primary?: string, members: string[] } | undefined
  /** Fault injection for tests: drop an inbound frame when it returns true. */
  dropInbound?: (from: string, msg: ReplicationMessage, via: 'direct' | 'gossip') => boolean
  now?: () => number
}

interface Receiving {
  from: string
  term: number
  index: number
  entryTerm: number
  revision: number
  keys: number
  count: number
  /** Request rows installed so far. */
  requests: number
  lastChunkAt: number
  chain: Promise<void>
  failed: boolean
  /** Not ahead of the store once earlier persists landed: ignored. */
  skipped?: boolean
}

/** Replication of one peer. start()/stop() lifecycle; the peer sets the role. */
export class Replication {
  private readonly init: ReplicationInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly topic: string
  private readonly messenger: Messenger
  private replica: ReplicaCore
  private tracker?: AckTracker
  private prev = { index: 0, term: 0 }
  private leader?: string
  private term = 0
  private timer?: ReturnType<typeof setInterval>
  private running = false
  private receiving?: Receiving
  private readonly gossip = new GossipBuffer()
  private readonly snapshotSends = new SnapshotSends()
  private applying: Promise<void> = Promise.resolve()
  /** Replica persists handed to the store and not finished yet. */
  private persistsInFlight = 0
  /** Every snapshot-install step of every transfer, in order (one store install at a time). */
  private installChain: Promise<void> = Promise.resolve()
  /** Since when the replica's persists have been failing (undefined: the last one succeeded). */
  private persistFailingSince?: number
  private fatal = false
  /** The primary {@link reportCaughtUp} last saw the replica caught up with (undefined: not caught up). */
  private reportedCaughtUp?: string
  /** The arbiter's view says this peer is joining (set by {@link sync}). */
  private joining = false
  /**
   * Gossipsub's check of every message on the topic, before it is delivered or relayed. Taken
   * (Accept) only from the primary this replica follows, delivered by the primary itself —
   * gossip is unsigned, so the delivering connection is the authenticated origin — and only when
   * the replica lacks some of it. A member usually holds the batch already (the direct stream is
   * faster): it is then ignored by its header alone (log matching: a replica that applied up to
   * the batch's end from the same term's primary holds the primary's log up to there), and not
   * relayed to other members, who had it from the primary too.
   */
  private readonly validateGossip = (source: PeerId, m: Message): TopicValidatorResult => {
    if (m.type !== 'unsigned') return TopicValidatorResult.Reject
    if (!this.running || this.tracker !== undefined || source.toString() !== this.leader) return TopicValidatorResult.Ignore
    const head = peekAppend(m.data)
    if (head === undefined) return TopicValidatorResult.Reject
    if (head.last <= this.replica.applied.index && head.term === this.replica.applied.term) return TopicValidatorResult.Ignore
    return TopicValidatorResult.Accept
  }

  private readonly onGossip = (evt: CustomEvent<GossipsubMessage>): void => {
    const { propagationSource, msg } = evt.detail
    if (msg.topic !== this.topic) return
    this.receive(propagationSource.toString(), msg.data, 'gossip')
  }

  constructor (init: ReplicationInit) {
    this.init = init
    this.log = init.logger.forComponent('kvgrid:replication')
    this.now = init.now ?? Date.now
    this.topic = updatesTopic(init.cluster)
    this.replica = this.freshReplica()
    this.messenger = new Messenger({
      node: init.node,
      protocol: REPLICATE_PROTOCOL,
      maxFrameBytes: MAX_FRAME_BYTES,
      maxQueuedFrames: 65_536,
      onMessage: (from, frame) => { this.receive(from, frame, 'direct') },
      log: init.logger.forComponent('kvgrid:replication:net')
    })
  }

  /** A replica core positioned at the store's last entry. */
  private freshReplica (): ReplicaCore {
    const { index, term } = this.init.store.state
    return new ReplicaCore({ applied: { index, term }, needRetryMs: NEED_RETRY_MS, persistRetryMs: PERSIST_RETRY_MS, maxBuffered: MAX_BUFFERED_ENTRIES })
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.messenger.start()
    const pubsub = this.init.node.services.pubsub
    pubsub.topicValidators.set(this.topic, this.validateGossip)
    pubsub.subscribe(this.topic)
    pubsub.addEventListener('gossipsub:message', this.onGossip)
    this.timer = setInterval(() => { this.tick() }, TICK_MS)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    const pubsub = this.init.node.services.pubsub
    pubsub.removeEventListener('gossipsub:message', this.onGossip)
    pubsub.unsubscribe(this.topic)
    if (pubsub.topicValidators.get(this.topic) === this.validateGossip) pubsub.topicValidators.delete(this.topic)
    this.tracker?.close()
    this.tracker = undefined
    await this.applying
    await this.receiving?.chain
    await this.messenger.stop()
  }

  /**
   * The term new entries are stamped with: the term this peer leads as primary (aligned with
   * the arbiter first), or undefined when it is not the primary.
   */
  writeTerm (): number | undefined {
    this.sync()
    return this.tracker?.term
  }

  /**
   * Sequencer hook (primary): entries handed to {@link commit} are now durable locally, so
   * repair pushes and Need answers may serve them.
   */
  appended (entries: LogEntry[]): void {
    const last = entries[entries.length - 1]
    if (last !== undefined && last.term === this.tracker?.term) this.tracker.appended(last.index)
  }

  /** Whether this replica holds everything `primary` announced (gates joining). */
  caughtUpWith (primary: string): boolean {
    return this.leader === primary && this.replica.caughtUp
  }

  /** This peer became primary of `term` with these members (itself included). */
  becomePrimary (self: string, term: number, members: string[]): void {
    this.tracker?.close()
    const { index, term: lastTerm } = this.init.store.state
    this.prev = { index, term: lastTerm }
    // Entries pending from an earlier term as primary must not be glued to this term's batches.
    this.gossip.clear()
    this.leader = self
    this.term = term
    this.tracker = new AckTracker({
      term,
      members: members.filter(m => m !== self),
      lastIndex: index,
      timeoutMs: this.init.ackTimeoutMs,
      repairAfterMs: REPAIR_AFTER_MS,
      now: this.now()
    })
    this.log('primary of term %d at index %d', term, index)
  }

  /** This peer follows `primary` (undefined: none known) in `term`. */
  follow (primary: string | undefined, term: number): void {
    if (this.tracker !== undefined) {
      // Was primary: its own appends moved the log, so the replica starts from the store.
      this.tracker.close()
      this.tracker = undefined
      this.replica = this.freshReplica()
    }
    this.leader = primary
    this.term = term
    this.handle(this.replica.setLeader(primary, term, this.now()))
  }

  /** The membership changed (primary: who must ack). */
  setMembers (self: string, members: string[]): void {
    this.tracker?.setMembers(members.filter(m => m !== self), this.now())
  }

  /**
   * Sequencer confirm hook (primary): resolve once every member acknowledged holding the entry
   * at `index`, which this primary wrote in its current term (acks of its term's entries are the
   * only proof it takes; see AckTracker). Rejects with OperationFailedError when this peer is not
   * the primary, or the members do not confirm within ackTimeoutMs.
   */
  async confirm (index: number): Promise<void> {
    const tracker = this.tracker
    if (tracker === undefined) throw new OperationFailedError('this peer stopped being the primary before the write was confirmed', '', { unconfirmed: [] })
    await this.acked(tracker, index)
  }

  /** Resolves once every member acked `index` (an entry of `tracker`'s term); rejects at the ack timeout. */
  private async acked (tracker: AckTracker, index: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      tracker.track(index, this.now(), resolve, unconfirmed => {
        reject(new OperationFailedError(`not confirmed by ${unconfirmed.length} member(s) within ${this.init.ackTimeoutMs} ms`, '', { unconfirmed }))
      })
    })
  }

  /**
   * Sequencer commit hook (primary): send a batch to every member — called before the batch is
   * durable locally (the sequencer appends it in parallel and reports it via {@link appended})
   * — and resolve when every member acked it; reject with OperationFailedError (unconfirmed
   * members) at the ack deadline.
   */
  async commit (entries: LogEntry[]): Promise<void> {
    const tracker = this.tracker
    const last = entries[entries.length - 1]
    if (tracker === undefined) throw new OperationFailedError('this peer stopped being the primary before the write was confirmed', '', { unconfirmed: [] })
    const prevIndex = entries[0].index - 1
    // The log may have grown by replicated entries since this peer took office.
    const prevTerm = this.prev.index === prevIndex ? this.prev.term : await termAt(this.init.store, prevIndex) ?? 0
    const msg: AppendMessage = { type: 'append', term: tracker.term, prevIndex, prevTerm, entries }
    this.prev = { index: last.index, term: last.term }
    const frame = encodeMessage(msg)
    const done = this.acked(tracker, last.index) // waiting before anything is sent
    for (const m of tracker.memberIds) this.messenger.send(m, frame)
    this.gossip.add(msg, frame.length)
    return done
  }

  private flushGossip (now: number): void {
    const msg = this.gossip.take(now)
    if (msg !== undefined) this.init.node.services.pubsub.publish(this.topic, encodeMessage(msg)).catch(err => { this.log.trace('publish failed: %e', err) })
  }

  private send (to: string, msg: ReplicationMessage): void {
    this.messenger.send(to, encodeMessage(msg))
  }

  private receive (from: string, frame: Uint8Array, via: 'direct' | 'gossip'): void {
    if (!this.running) return
    const v = decodeMessage(frame)
    if (!v.ok) {
      this.log('dropped a malformed replication frame from %s: %s', from, v.reason)
      return
    }
    const msg = v.msg
    if (this.init.dropInbound?.(from, msg, via) === true) return
    switch (msg.type) {
      case 'append': {
        if (this.tracker !== undefined) return // a primary takes no appends
        const { verdict, effects } = this.replica.onAppend(from, msg, this.now())
        if (verdict !== 'accepted' && verdict !== 'diverged') this.log.trace('append from %s: %s', from, verdict)
        if (verdict === 'diverged') this.log('log diverged from primary %s at index %d: asking for a snapshot', from, this.replica.applied.index)
        this.handle(effects)
        this.reportCaughtUp()
        const behind = this.replica.primaryLast - this.replica.applied.index
        if (behind > 1000) this.init.onProgress?.({ phase: 'delta', done: this.replica.applied.index, total: this.replica.primaryLast })
        break
      }
      case 'ack':
        this.tracker?.onAck(from, msg.index, msg.entryTerm, this.now())
        break
      case 'need':
        if (this.tracker !== undefined) void this.serveNeed(from, msg.from, msg.snapshot)
        break
      case 'snapshot-begin':
      case 'snapshot-chunk':
      case 'snapshot-requests':
      case 'snapshot-end':
        if (this.tracker === undefined && from === this.leader) this.receiveSnapshot(from, msg)
        break
    }
  }

  /** Carry out a replica's effects: persist, then send. */
  private handle (effects: ReplicaEffects): void {
    for (const m of effects.send) {
      // While a snapshot is being received and installed, the replica core (still at its old
      // position) asks for what gossip shows it lacks; once the primary finished sending, such a
      // Need would start a second snapshot. The install asks where the log ends when it is done.
      if (m.type === 'need' && this.receiving !== undefined) continue
      if (this.leader !== undefined) this.send(this.leader, m)
    }
    const run = effects.persist
    if (run === undefined) return
    this.persistsInFlight++
    this.applying = this.applying.then(async () => {
      const replica = this.replica
      try {
        await this.init.store.append(run, { sync: this.init.sync })
      } catch (err) {
        if (this.init.store.state.index !== run[0].index - 1) {
          // The store moved under the replica (e.g. its own appends as primary finished late):
          // start again from where the store really is.
          this.log('replica position %d is not the store\'s %d; resyncing', run[0].index - 1, this.init.store.state.index)
          this.replica = this.freshReplica()
          this.handle(this.replica.setLeader(this.leader, this.term, this.now()))
          return
        }
        const now = this.now()
        this.persistFailingSince ??= now
        if (now - this.persistFailingSince >= PERSIST_GIVE_UP_MS && !this.fatal) {
          this.fatal = true
          this.log.error('persisting entries %d..%d has failed for %d ms; giving up: %e', run[0].index, run[run.length - 1].index, now - this.persistFailingSince, err)
          this.init.onFatal?.(err instanceof Error ? err : new Error(String(err)))
        } else if (!this.fatal) {
          this.log.error('persisting entries %d..%d failed; retrying: %e', run[0].index, run[run.length - 1].index, err)
        }
        replica.persistFailed(now)
        return
      }
      this.persistFailingSince = undefined
      if (replica !== this.replica) return
      const last = run[run.length - 1]
      this.init.onApplied(run)
      this.handle(this.replica.persisted(last.index, last.term, this.now()))
      this.reportCaughtUp()
    }).finally(() => { this.persistsInFlight-- })
  }

  /**
   * Tell the peer (once per transition) that this replica now holds everything its primary said
   * it has, including where its log ends: a joining peer then sends Join at once instead of on
   * its next hello round. Checked after every append received and every persist, since the
   * "ends here" append usually arrives before the entries before it are persisted.
   */
  private reportCaughtUp (): void {
    // Only a joining peer has use for it: a member's replica drops out of "caught up" and back
    // with every batch, and reporting each of those would wake the arbiter per write.
    if (!this.joining) {
      this.reportedCaughtUp = undefined
      return
    }
    const leader = this.tracker === undefined && this.replica.caughtUp ? this.leader : undefined
    if (leader !== undefined && leader !== this.reportedCaughtUp) this.init.onCaughtUp?.(leader)
    this.reportedCaughtUp = leader
  }

  /** Align the role with the arbiter's view (called on arbiter events and every tick). */
  sync (): void {
    if (!this.running) return
    const v = this.init.view()
    const joining = v?.role === 'joining'
    if (joining !== this.joining) {
      this.joining = joining
      this.reportCaughtUp() // a peer evicted while caught up may join at once
    }
    if (v === undefined) {
      // The arbiter stopped (fail-stop) or is persisting a forced change: stop acting as
      // primary at once (pending writes fail); follow again when it reports a view.
      if (this.tracker !== undefined) this.follow(undefined, this.term)
      return
    }
    if (v.role === 'primary') {
      if (this.tracker?.term !== v.term) this.becomePrimary(v.self, v.term, v.members)
      else this.setMembers(v.self, v.members)
    } else if (this.tracker !== undefined || this.leader !== v.primary || this.term !== v.term) {
      this.follow(v.primary, v.term)
    }
  }

  private tick (): void {
    this.sync()
    const now = this.now()
    const tracker = this.tracker
    if (tracker !== undefined) {
      for (const need of tracker.tick(now)) void this.serveNeed(need.member, need.from, false)
      this.flushGossip(now)
      return
    }
    const r = this.receiving
    if (r !== undefined) {
      if (now - r.lastChunkAt > SNAPSHOT_STALL_MS) {
        this.log('snapshot from %s stalled; asking again', r.from)
        this.receiving = undefined
        this.handle(this.replica.snapshotFailed(now))
      }
      return
    }
    const store = this.init.store
    if (this.persistsInFlight === 0 && !store.installing && store.state.index !== this.replica.applied.index) {
      // The store moved under an idle replica: an append this peer started as primary finished
      // after it stepped down. Start again from where the store really is, or the replica would
      // report a position one batch short (and spot the divergence only on the next write).
      this.log('the store (index %d) moved under the replica (index %d); resyncing', store.state.index, this.replica.applied.index)
      this.replica = this.freshReplica()
      this.handle(this.replica.setLeader(this.leader, this.term, now))
      return
    }
    this.handle(this.replica.tick(now))
  }

  /** Primary: answer `need { from, snapshot }` from `to` (see {@link answerNeed}). */
  private async serveNeed (to: string, from: number, snapshot: boolean): Promise<void> {
    const tracker = this.tracker
    if (tracker === undefined) return
    const store = this.init.store
    await answerNeed({
      store,
      term: tracker.term,
      send: m => { this.send(to, m) },
      leading: () => this.tracker === tracker,
      sends: this.snapshotSends,
      onSnapshot: () => { this.log('sending a snapshot at index %d (%d keys) to %s', store.state.index, store.state.keys, to) },
      onSnapshotError: err => { this.log.error('snapshot to %s failed: %e', to, err) }
    }, to, from, snapshot)
  }

  private receiveSnapshot (from: string, msg: ReplicationMessage): void {
    const now = this.now()
    if (msg.type === 'snapshot-begin') {
      if (!this.replica.snapshotPending && this.replica.applied.index > 0 && msg.index <= this.replica.applied.index) {
        // Not asked for and not ahead: ignore.
        return
      }
      const r: Receiving = { from, term: msg.term, index: msg.index, entryTerm: msg.entryTerm, revision: msg.revision, keys: msg.keys, count: 0, requests: 0, lastChunkAt: now, chain: Promise.resolve(), failed: false }
      this.receiving = r
      r.chain = this.installChain.then(async () => {
        // Wait for every persist handed out so far (also ones queued meanwhile): the replica's
        // applied index the check above used may lag what is already on its way to the store.
        for (let i = 0; i < 1000; i++) {
          const a = this.applying
          await a
          if (a === this.applying && this.persistsInFlight === 0) break
        }
        if ((!this.replica.snapshotPending && this.init.store.state.index >= msg.index) ||
          this.tracker !== undefined || this.leader !== r.from) {
          // Not asked for and not ahead of the store after all (installing it would go back), or
          // this peer no longer follows the sender — it may even have become primary while
          // earlier persists finished, and a primary's store must never be cleared.
          r.failed = r.skipped = true
          if (this.receiving === r) this.receiving = undefined
          return
        }
        this.init.onInstalling?.(true)
        try {
          await this.init.store.beginInstall({ index: msg.index, term: msg.entryTerm, revision: msg.revision })
        } catch (err) {
          if (!this.init.store.installing) this.init.onInstalling?.(false)
          throw err
        }
      }).catch(err => { r.failed = true; this.log.error('snapshot install failed to begin: %e', err) })
      this.installChain = r.chain
      this.init.onProgress?.({ phase: 'snapshot', done: 0, total: msg.keys })
      return
    }
    if (msg.type !== 'snapshot-chunk' && msg.type !== 'snapshot-requests' && msg.type !== 'snapshot-end') return
    const r = this.receiving
    // Only this transfer's: when a begin was lost, the chunks and end of that other transfer
    // (another index) must not complete this one with their records (found by the simulation).
    if (r === undefined || r.from !== from || msg.index !== r.index) return
    r.lastChunkAt = now
    /** The next install step of this transfer, after every earlier one; skipped once one failed. */
    const step = (what: string, install: () => Promise<void>): void => {
      r.chain = r.chain.then(async () => { if (!r.failed) await install() })
        .catch(err => { r.failed = true; this.log.error('snapshot %s failed: %e', what, err) })
      this.installChain = r.chain
    }
    if (msg.type === 'snapshot-chunk') {
      const records = msg.records
      step('chunk', async () => {
        await this.init.store.installPacked(records)
        r.count += records.count
        this.init.onProgress?.({ phase: 'snapshot', done: r.count, total: r.keys })
      })
      return
    }
    if (msg.type === 'snapshot-requests') {
      const rows = msg.rows
      step('request rows', async () => {
        await this.init.store.installRequests(rows)
        r.requests += rows.length
      })
      return
    }
    if (msg.type === 'snapshot-end') {
      r.chain = r.chain.then(async () => {
        if (r.skipped === true) return
        if (r.failed || r.count !== msg.count || r.requests !== msg.requests) throw new Error(`snapshot incomplete: ${r.count} of ${msg.count} records, ${r.requests} of ${msg.requests} request rows`)
        await this.init.store.finishInstall()
        // A newer transfer may have begun meanwhile: only this one's state is cleared.
        if (this.receiving === r) this.receiving = undefined
        this.log('installed a snapshot at index %d (%d keys)', r.index, r.count)
        this.init.onInstalled()
        this.handle(this.replica.installed(r.index, r.entryTerm, this.now()))
      }).catch(err => {
        this.log.error('snapshot install failed: %e', err)
        if (this.receiving === r) this.receiving = undefined
        this.handle(this.replica.snapshotFailed(this.now()))
      })
      this.installChain = r.chain
    }
  }
}
