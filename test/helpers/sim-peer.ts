/**
 * One incarnation of a simulated peer for the whole-system fault simulation: the REAL pure
 * cores — {@link ArbiterCore}, {@link ReplicaCore}, {@link AckTracker}, the {@link Sequencer}
 * (with `plan()`), and a {@link MemoryStore} behind a simulated disk — glued together exactly as
 * the I/O shells glue them:
 *
 * - arbiter: `src/arbiter/shell.ts` (Ready handled strictly in order on one promise chain: the
 *   persisted state is written durably *before* the messages of the same Ready are sent; Join held
 *   back until replication says it is caught up; fail-stop on a failed persist);
 * - replication: `src/replication/shell.ts` (sync with the arbiter's view on every event and
 *   tick, the commit hook, direct sends plus coalesced gossip, repair, Need serving, snapshots,
 *   the persist chain and its resync);
 * - peer: `src/peer/peer.ts` (`writeHere`'s role gate, the sequencer's term hook, `afterAppend` /
 *   `afterInstall` keeping the arbiter's log position).
 *
 * The glue here is a port of those shells (they are bound to libp2p streams and wall-clock
 * timers); keep it in step with them. Every message goes through the real wire codecs. Timers
 * are virtual-time events of the world; nothing here reads a clock or Math.random.
 */
import { ArbiterCore, decodeMessage as decodeArbiter, encodeMessage as encodeArbiter, TICK_INTERVAL_MS } from '../../src/arbiter/index.js'
import type { ArbiterEvent, ArbiterOptions, PersistedState, Role } from '../../src/arbiter/index.js'
import { AckTracker } from '../../src/replication/ack-tracker.js'
import { decodeMessage, encodeMessage } from '../../src/replication/codec.js'
import { PERSIST_RETRY_MS } from '../../src/constants.js'
import {
  ACK_TIMEOUT_MS, MAX_BUFFERED_ENTRIES, NEED_RETRY_MS, REPAIR_AFTER_MS
} from '../../src/replication/constants.js'
import { ReplicaCore } from '../../src/replication/replica.js'
import { answerNeed, GossipBuffer, SnapshotSends, termAt } from '../../src/replication/serve.js'
import type { ReplicaEffects } from '../../src/replication/replica.js'
import type { AppendMessage, ReplicationMessage } from '../../src/replication/types.js'
import { Sequencer } from '../../src/core/sequencer.js'
import type { Command, CommandResult } from '../../src/core/evaluate.js'
import { ClusterUnavailableError, NotPrimaryError, OperationFailedError } from '../../src/errors.js'
import type { LogEntry } from '../../src/store/types.js'
import type { DurableDisk } from './sim-disk.js'
import { SimDisk } from './sim-disk.js'

/** Mirrors of private constants of src/replication/shell.ts. */
const REPL_TICK_MS = 20
const SNAPSHOT_STALL_MS = 10_000
/** Meta name of the arbiter state (src/arbiter/shell.ts ARBITER_META). */
const ARBITER_META = 'arbiter'

/** Wall-clock epoch of virtual time 0 (the sequencer stamps TTLs with it). */
export const EPOCH_MS = 1_700_000_000_000

/**
 * Fixes proposed for bugs the simulation found in code it ports (src/replication/shell.ts, not
 * ours to edit). With a fix off, the port is faithful to the shell as it is.
 */
export interface ProposedFixes {
  /**
   * Snapshot receive: serialize every install step on one per-peer chain, and let a finished
   * transfer clear `receiving` only if it is still the current one. Without it, a transfer that
   * finishes while a newer snapshot-begin was accepted clears the newer transfer's state; the
   * next transfer then runs unserialized, and a `finishInstall` can land after another transfer's
   * `beginInstall` cleared the store: the store claims a position whose data it no longer holds.
   */
  snapshotReceive?: boolean
  /**
   * Gossip coalescing: start a new gossip message when a batch does not continue the pending one
   * (another term, or not the next index), and drop the pending one when the role changes.
   * Without it, a primary that stepped down, applied other entries as a replica and became
   * primary again publishes its old pending entries and the new batch in one non-contiguous
   * frame, which every receiver's codec refuses.
   */
  gossipCoalesce?: boolean
  /**
   * Resync an idle replica whose store moved under it: on a replica tick with no persist and no
   * snapshot in flight, if the store's last index is not the replica core's applied index, start
   * a fresh replica from the store. Without it, a primary that steps down while its sequencer's
   * append is still on the disk builds its replica from the position before that append; the
   * replica then answers "up to date" one entry short, its diverged entry is detected only when a
   * later write arrives, and with no more writes the cluster never converges.
   */
  storeMoved?: boolean
  /**
   * Stale snapshot: after waiting for the persists in flight, skip an unrequested snapshot that
   * is not ahead of the store. Without it, a snapshot-begin is judged against the replica core's
   * applied index while a persist of later entries is still on the disk; the install then waits
   * for that persist and replaces the newer store with the older snapshot (a key goes back, and
   * an entry the replica already acknowledged is gone from it until it catches up again).
   */
  staleSnapshot?: boolean
  /**
   * No primary mid-install: a peer tells its arbiter when a snapshot install begins (empty log
   * position; it neither stands for election nor takes office) and when it ends. Without it, a
   * peer whose store an install had just cleared still advertised its old log position, won an
   * election with it and, as primary (which takes no snapshot), never finished the install: its
   * store refused every append and the cluster's writes stalled for good. Also: an install
   * does not begin once the peer no longer follows the sender (it may have become primary while
   * earlier persists finished).
   */
  noLeadWhileInstalling?: boolean
  /**
   * Read barrier for answers that changed nothing: a primary answers `ok: false` only after a
   * majority confirmed, after the batch was planned, that it still leads its term (the arbiter's
   * confirmation round). Without it, a primary cut off from the others, not stepped down yet,
   * answered a repeated request `ok: false` from its stale state while a new primary applied the
   * request's first attempt.
   */
  readBarrier?: boolean
  /**
   * Snapshot messages name their snapshot: a chunk, request rows or end is taken only by the
   * transfer of the same index. Without it, when a begin was lost (a broken stream), the chunks
   * and end of that transfer completed the one before — at another index — with their records:
   * a store at index 122 holding the data of index 124, one key missing from it.
   */
  snapshotIndexed?: boolean
}

/** What a peer needs from the world. */
export interface PeerHost {
  now: () => number
  /** A fresh PRNG stream for this incarnation. */
  random: () => number
  /** Run `fn` after `delayMs` (virtual) unless the incarnation died meanwhile. */
  at: (delayMs: number, fn: () => void) => void
  /** Send a frame on a protocol to one peer (dropped when unreachable). */
  send: (from: string, to: string, proto: 'arbiter' | 'replicate', frame: Uint8Array) => void
  /** Gossipsub publish: the frame to every other peer (best-effort). */
  publish: (from: string, frame: Uint8Array) => void
  /** Peers this one is connected to now. */
  connected: (id: string) => string[]
  seeds: Set<string>
  /** Harness hooks (observation only). */
  onArbiterEvent: (id: string, core: ArbiterCore, ev: ArbiterEvent) => void
  onPersistArbiter: (id: string, s: PersistedState) => void
  onTracker: (id: string, term: number) => void
  problem: (what: string) => void
  /** Compaction: keep this many revisions, plus slack (the peer's retainRevisions / COMPACTION_SLACK). */
  retain?: { revisions: number, slack: number }
  fixes: ProposedFixes
}

/** The gossip buffer without the coalescing fix: it glues every batch to what is pending. */
class GluingGossip extends GossipBuffer {
  protected override continues (): boolean { return true }
}

interface Receiving {
  from: string
  term: number
  index: number
  entryTerm: number
  revision: number
  keys: number
  count: number
  requests: number
  lastChunkAt: number
  chain: Promise<void>
  failed: boolean
  /** With fixes.staleSnapshot: the transfer was not ahead of the store and is ignored. */
  skipped?: boolean
}

/** The arbiter's view as the write path and replication need it (ArbiterShell.view()). */
interface View {
  self: string
  role: Role
  term: number
  primary: string | undefined
  handover: string | undefined
  joining: string | undefined
}

function encodeState (s: PersistedState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s))
}

/** One incarnation of a peer. */
export class SimPeer {
  readonly disk: SimDisk
  alive = true
  // --- arbiter shell
  core?: ArbiterCore
  private chain: Promise<void> = Promise.resolve()
  private failure?: Error
  // --- replication shell
  private replica!: ReplicaCore
  private tracker?: AckTracker
  private prev = { index: 0, term: 0 }
  private leader?: string
  private term = 0
  private running = false
  private receiving?: Receiving
  private readonly gossip: GossipBuffer
  private readonly snapshotSends = new SnapshotSends()
  private applying: Promise<void> = Promise.resolve()
  /** Persists handed to the store and not finished (for fixes.storeMoved). */
  private persistsInFlight = 0
  /** With fixes.snapshotReceive: the last install step of any transfer. */
  private installChain: Promise<void> = Promise.resolve()
  // --- peer
  readonly sequencer: Sequencer
  private compacting: Promise<void> | undefined

  constructor (
    readonly id: string,
    readonly device: DurableDisk,
    private readonly host: PeerHost,
    private readonly options: ArbiterOptions,
    readonly ackTimeoutMs = ACK_TIMEOUT_MS,
    maxBatchWrites = 64
  ) {
    this.disk = new SimDisk(device)
    this.gossip = host.fixes.gossipCoalesce === true ? new GossipBuffer() : new GluingGossip()
    this.sequencer = new Sequencer({
      store: this.disk,
      sync: true,
      maxBatchWrites,
      now: () => EPOCH_MS + this.host.now(),
      // As in peer.ts: the term replication leads (Replication.writeTerm), undefined if not primary.
      term: () => { this.sync(); return this.tracker?.term },
      commit: async entries => { await this.commit(entries) },
      // As in peer.ts: Replication.confirm (the ack tracker's wait at an index of this term).
      confirm: async index => {
        const tracker = this.tracker
        if (tracker === undefined) throw new OperationFailedError('this peer stopped being the primary before the write was confirmed', '', { unconfirmed: [] })
        await new Promise<void>((resolve, reject) => {
          tracker.track(index, this.now(), resolve, unconfirmed => {
            reject(new OperationFailedError(`not confirmed by ${unconfirmed.length} member(s) within ${this.ackTimeoutMs} ms`, '', { unconfirmed }))
          })
        })
      },
      // As in peer.ts: ArbiterShell.confirmLeadership.
      ...(this.host.fixes.readBarrier === true ? { leadership: async () => { await this.confirmLeadership() } } : {}),
      onAppended: entries => {
        // As in peer.ts: Replication.appended, then afterAppend.
        const last = entries[entries.length - 1]
        if (last !== undefined && last.term === this.tracker?.term) this.tracker.appended(last.index)
        this.afterAppend(entries)
      }
    })
  }

  private now (): number {
    return this.host.now()
  }

  /** Peer.start(): open the store, start replication, then the arbiter from the persisted state. */
  async start (): Promise<void> {
    await this.disk.open()
    this.replica = this.freshReplica()
    this.running = true
    this.every(REPL_TICK_MS, () => { this.tick() })
    const raw = await this.disk.getMeta(ARBITER_META)
    const state = raw === undefined ? undefined : JSON.parse(new TextDecoder().decode(raw)) as PersistedState
    const { term, index } = this.disk.state
    this.core = new ArbiterCore({
      ...this.options,
      self: this.id,
      ...(state !== undefined ? { state } : {}),
      now: this.now(),
      random: this.host.random,
      log: { term, index }
    })
    for (const peer of this.host.connected(this.id)) this.core.peerConnected(peer, this.now(), { seed: this.host.seeds.has(peer) })
    this.every(TICK_INTERVAL_MS, () => {
      this.core?.tick(this.now())
      this.flush()
    })
    this.flush()
  }

  private every (ms: number, fn: () => void): void {
    const loop = (): void => {
      if (!this.alive) return
      fn()
      this.host.at(ms, loop)
    }
    this.host.at(Math.floor(this.host.random() * ms), loop)
  }

  /** The process dies: no timer, message or continuation of it runs any more. */
  kill (): void {
    this.alive = false
    this.running = false
  }

  // ===========================================================================================
  // Arbiter shell (src/arbiter/shell.ts)

  view (): View | undefined {
    const core = this.core
    if (core === undefined || this.failure !== undefined) return undefined
    return { self: core.self, role: core.role, term: core.term, primary: core.primary, handover: core.handingOverTo, joining: core.joining }
  }

  members (): string[] {
    return this.core?.membership.members ?? []
  }

  peerConnected (peer: string): void {
    if (!this.alive) return
    this.core?.peerConnected(peer, this.now(), { seed: this.host.seeds.has(peer) })
    this.flush()
  }

  peerDisconnected (peer: string): void {
    if (!this.alive) return
    this.core?.peerDisconnected(peer, this.now())
    this.flush()
  }

  onArbiterFrame (from: string, frame: Uint8Array): void {
    if (!this.alive) return
    const verdict = decodeArbiter(frame)
    if (!verdict.ok) {
      this.host.problem(`${this.id}: the arbiter codec refused a frame a core produced: ${verdict.reason} ${verdict.detail}`)
      return
    }
    this.core?.step(from, verdict.msg, this.now())
    this.flush()
  }

  /** ArbiterShell.confirmLeadership: a confirmation round, settled by flush (or the timeout). */
  private async confirmLeadership (): Promise<void> {
    const core = this.core
    if (core === undefined || this.failure !== undefined || !this.alive) throw new OperationFailedError('the arbiter is not running', '')
    const round = core.startConfirmation(this.now())
    if (round === undefined) throw new OperationFailedError('this peer is not the primary', '')
    const term = core.term
    await new Promise<void>((resolve, reject) => {
      const w = { round, term, resolve, reject, done: false }
      this.host.at(this.ackTimeoutMs, () => {
        if (w.done) return
        this.confirmations = this.confirmations.filter(x => x !== w)
        reject(new OperationFailedError(`a majority of the members did not confirm this primary within ${this.ackTimeoutMs} ms`, ''))
      })
      this.confirmations.push(w)
      this.flush()
    })
  }

  private confirmations: Array<{ round: number, term: number, resolve: () => void, reject: (err: Error) => void, done: boolean }> = []

  private settleConfirmations (): void {
    const core = this.core
    if (this.confirmations.length === 0 || core === undefined) return
    const confirmed = core.confirmedRound()
    this.confirmations = this.confirmations.filter(w => {
      const lost = core.role !== 'primary' || core.term !== w.term
      if (!lost && confirmed < w.round) return true
      w.done = true
      if (lost) w.reject(new OperationFailedError('this peer stopped being the primary before it could confirm it still leads', ''))
      else w.resolve()
      return false
    })
  }

  private flush (): void {
    const core = this.core
    if (core === undefined || this.failure !== undefined || !this.alive) return
    this.settleConfirmations()
    const ready = core.takeReady()
    if (ready.persist === undefined && ready.messages.length === 0 && ready.events.length === 0) return
    this.chain = this.chain.then(async () => {
      if (this.failure !== undefined) return
      if (ready.persist !== undefined) {
        await this.disk.putMeta(ARBITER_META, encodeState(ready.persist))
        this.host.onPersistArbiter(this.id, ready.persist)
      }
      for (const { to, msg } of ready.messages) {
        // Held back until caught up; the core retries Join on its hello interval.
        if (msg.type === 'join' && !this.caughtUpWith(to)) continue
        this.host.send(this.id, to, 'arbiter', encodeArbiter(msg))
      }
      for (const event of ready.events) {
        this.host.onArbiterEvent(this.id, core, event)
        this.onArbiterEvent()
      }
    }).catch(err => {
      this.failure = err instanceof Error ? err : new Error(String(err))
      this.host.problem(`${this.id}: the arbiter failed (fail-stop): ${this.failure.message}`)
    })
  }

  /** Peer.onArbiterEvent: replication follows the arbiter at once. */
  private onArbiterEvent (): void {
    this.sync()
  }

  // ===========================================================================================
  // Peer write path (src/peer/peer.ts writeHere) and append hooks

  /** A client write on this peer: refused unless it is the primary (NotPrimary / ClusterUnavailable). */
  async write (command: Command, id: string, request?: Uint8Array): Promise<CommandResult> {
    const s = this.view()
    if (s === undefined) throw new ClusterUnavailableError('the arbiter stopped')
    if (s.role !== 'primary') {
      if (s.primary === undefined) throw new ClusterUnavailableError(`no primary is known (this peer is ${s.role})`)
      throw new NotPrimaryError(s.primary)
    }
    if (s.handover !== undefined) throw new ClusterUnavailableError('the primary is handing over its role')
    return await this.sequencer.submit(command, id, undefined, request)
  }

  private afterAppend (entries: LogEntry[]): void {
    if (!this.alive) return
    const last = entries[entries.length - 1]
    this.core?.setLogPosition({ term: last.term, index: last.index })
    const retain = this.host.retain
    if (retain === undefined) return
    const { revision, compactedRevision } = this.disk.state
    if (this.compacting === undefined && revision - compactedRevision > retain.revisions + retain.slack) {
      const to = revision - retain.revisions
      this.compacting = this.disk.compact(to)
        .catch(() => {})
        .finally(() => { this.compacting = undefined })
    }
  }

  private afterInstall (): void {
    this.logPositionToArbiter()
  }

  /** The store is not installing (any more): the arbiter may lead again, at the store's position. */
  private logPositionToArbiter (): void {
    const { index, term } = this.disk.state
    if (this.host.fixes.noLeadWhileInstalling === true) this.core?.setInstalling(false)
    this.core?.setLogPosition({ term, index })
  }

  // ===========================================================================================
  // Replication shell (src/replication/shell.ts)

  private freshReplica (): ReplicaCore {
    const { index, term } = this.disk.state
    return new ReplicaCore({ applied: { index, term }, needRetryMs: NEED_RETRY_MS, persistRetryMs: PERSIST_RETRY_MS, maxBuffered: MAX_BUFFERED_ENTRIES })
  }

  /** Replication's view (Peer.startNetwork's `view`). */
  private replView (): { self: string, role: string, term: number, primary?: string, members: string[] } | undefined {
    const v = this.view()
    if (v === undefined) return undefined
    const primary = v.primary ?? v.joining
    return { self: v.self, role: v.role, term: v.term, members: this.members(), ...(primary !== undefined ? { primary } : {}) }
  }

  caughtUpWith (primary: string): boolean {
    return this.leader === primary && this.replica.caughtUp
  }

  /** The AckTracker of this incarnation while primary (read-only use by the harness). */
  get ackTracker (): AckTracker | undefined {
    return this.tracker
  }

  private becomePrimary (self: string, term: number, members: string[]): void {
    this.tracker?.close()
    const { index, term: lastTerm } = this.disk.state
    this.prev = { index, term: lastTerm }
    if (this.host.fixes.gossipCoalesce === true) this.gossip.clear()
    this.leader = self
    this.term = term
    this.tracker = new AckTracker({
      term,
      members: members.filter(m => m !== self),
      lastIndex: index,
      timeoutMs: this.ackTimeoutMs,
      repairAfterMs: REPAIR_AFTER_MS,
      now: this.now()
    })
    this.host.onTracker(this.id, term)
  }

  private follow (primary: string | undefined, term: number): void {
    if (this.tracker !== undefined) {
      this.tracker.close()
      this.tracker = undefined
      this.replica = this.freshReplica()
    }
    this.leader = primary
    this.term = term
    this.handle(this.replica.setLeader(primary, term, this.now()))
  }

  private setMembers (self: string, members: string[]): void {
    this.tracker?.setMembers(members.filter(m => m !== self), this.now())
  }

  private async commit (entries: LogEntry[]): Promise<void> {
    const tracker = this.tracker
    const last = entries[entries.length - 1]
    if (tracker === undefined) throw new OperationFailedError('this peer stopped being the primary before the write was confirmed', '', { unconfirmed: [] })
    const prevIndex = entries[0].index - 1
    const prevTerm = this.prev.index === prevIndex ? this.prev.term : await termAt(this.disk, prevIndex) ?? 0
    const msg: AppendMessage = { type: 'append', term: tracker.term, prevIndex, prevTerm, entries }
    this.prev = { index: last.index, term: last.term }
    const frame = encodeMessage(msg)
    const done = new Promise<void>((resolve, reject) => {
      tracker.track(last.index, this.now(), resolve, unconfirmed => {
        reject(new OperationFailedError(`not confirmed by ${unconfirmed.length} member(s) within ${this.ackTimeoutMs} ms`, '', { unconfirmed }))
      })
    })
    for (const m of tracker.memberIds) this.host.send(this.id, m, 'replicate', frame)
    this.gossip.add(msg, frame.length)
    return done
  }

  private flushGossip (now: number): void {
    const msg = this.gossip.take(now)
    if (msg !== undefined) this.host.publish(this.id, encodeMessage(msg))
  }

  private send (to: string, msg: ReplicationMessage): void {
    this.host.send(this.id, to, 'replicate', encodeMessage(msg))
  }

  onReplicationFrame (from: string, frame: Uint8Array): void {
    if (!this.running || !this.alive) return
    const v = decodeMessage(frame)
    if (!v.ok) {
      this.host.problem(`${this.id}: the replication codec refused a frame a peer produced: ${v.reason}`)
      return
    }
    const msg = v.msg
    switch (msg.type) {
      case 'append': {
        if (this.tracker !== undefined) return
        const { effects } = this.replica.onAppend(from, msg, this.now())
        this.handle(effects)
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
        await this.disk.append(run, { sync: true })
      } catch (err) {
        if (this.disk.state.index !== run[0].index - 1) {
          this.replica = this.freshReplica()
          this.handle(this.replica.setLeader(this.leader, this.term, this.now()))
          return
        }
        replica.persistFailed(this.now())
        return
      }
      if (replica !== this.replica) return
      const last = run[run.length - 1]
      this.afterAppend(run)
      this.handle(this.replica.persisted(last.index, last.term, this.now()))
    }).finally(() => { this.persistsInFlight-- })
  }

  private sync (): void {
    if (!this.running) return
    const v = this.replView()
    if (v === undefined) {
      // As in the shell: no view (arbiter stopped) → stop acting as primary.
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
        this.receiving = undefined
        this.handle(this.replica.snapshotFailed(now))
      }
      return
    }
    if (this.host.fixes.storeMoved === true && this.persistsInFlight === 0 && !this.disk.installing && this.sequencer.pending === 0 &&
      this.disk.state.index !== this.replica.applied.index) {
      this.replica = this.freshReplica()
      this.handle(this.replica.setLeader(this.leader, this.term, now))
      return
    }
    this.handle(this.replica.tick(now))
  }

  // serveNeed: as in the shell, through the shared src/replication/serve.ts.
  private async serveNeed (to: string, from: number, snapshot: boolean): Promise<void> {
    const tracker = this.tracker
    if (tracker === undefined) return
    await answerNeed({
      store: this.disk,
      term: tracker.term,
      send: m => { this.send(to, m) },
      leading: () => this.tracker === tracker,
      sends: this.snapshotSends,
      onSnapshotError: (err: any) => { this.host.problem(`${this.id}: snapshot to ${to} failed: ${String(err?.message ?? err)}`) }
    }, to, from, snapshot)
  }

  private receiveSnapshot (from: string, msg: ReplicationMessage): void {
    const now = this.now()
    if (msg.type === 'snapshot-begin') {
      if (!this.replica.snapshotPending && this.replica.applied.index > 0 && msg.index <= this.replica.applied.index) return
      const r: Receiving = { from, term: msg.term, index: msg.index, entryTerm: msg.entryTerm, revision: msg.revision, keys: msg.keys, count: 0, requests: 0, lastChunkAt: now, chain: Promise.resolve(), failed: false }
      const fixed = this.host.fixes.snapshotReceive === true
      const previous = fixed ? this.installChain : this.receiving?.chain ?? Promise.resolve()
      this.receiving = r
      r.chain = previous.then(async () => this.applying).then(async () => {
        if (this.host.fixes.staleSnapshot === true) {
          // Every persist handed out so far, including ones queued after this began.
          for (let a = this.applying, i = 0; i < 1000; a = this.applying, i++) { await a; if (a === this.applying && this.persistsInFlight === 0) break }
        }
        const tell = this.host.fixes.noLeadWhileInstalling === true
        if ((this.host.fixes.staleSnapshot === true && !this.replica.snapshotPending && this.disk.state.index >= msg.index) ||
          (tell && (this.tracker !== undefined || this.leader !== r.from))) {
          r.failed = r.skipped = true
          if (this.receiving === r) this.receiving = undefined
          return
        }
        if (tell) this.core?.setInstalling(true)
        try {
          await this.disk.beginInstall({ index: msg.index, term: msg.entryTerm, revision: msg.revision })
        } catch (err) {
          if (tell && !this.disk.installing) this.logPositionToArbiter()
          throw err
        }
      }).catch(() => { r.failed = true })
      if (fixed) this.installChain = r.chain
      return
    }
    if (msg.type !== 'snapshot-chunk' && msg.type !== 'snapshot-requests' && msg.type !== 'snapshot-end') return
    const r = this.receiving
    if (r === undefined || r.from !== from || (this.host.fixes.snapshotIndexed === true && msg.index !== r.index)) return
    r.lastChunkAt = now
    const step = (install: () => Promise<void>): void => {
      r.chain = r.chain.then(async () => { if (!r.failed) await install() }).catch(() => { r.failed = true })
      if (this.host.fixes.snapshotReceive === true) this.installChain = r.chain
    }
    if (msg.type === 'snapshot-chunk') {
      const records = msg.records
      step(async () => {
        await this.disk.installPacked(records)
        r.count += records.count
      })
      return
    }
    if (msg.type === 'snapshot-requests') {
      const rows = msg.rows
      step(async () => {
        await this.disk.installRequests(rows)
        r.requests += rows.length
      })
      return
    }
    if (msg.type === 'snapshot-end') {
      r.chain = r.chain.then(async () => {
        if (r.skipped === true) return
        if (r.failed || r.count !== msg.count || r.requests !== msg.requests) throw new Error(`snapshot incomplete: ${r.count} of ${msg.count} records, ${r.requests} of ${msg.requests} request rows`)
        await this.disk.finishInstall()
        if (this.host.fixes.snapshotReceive !== true || this.receiving === r) this.receiving = undefined
        this.afterInstall()
        this.handle(this.replica.installed(r.index, r.entryTerm, this.now()))
      }).catch(() => {
        if (this.receiving === r) this.receiving = undefined
        this.handle(this.replica.snapshotFailed(this.now()))
      })
      if (this.host.fixes.snapshotReceive === true) this.installChain = r.chain
    }
  }

  /** For the settle condition: nothing of this incarnation is still moving. */
  get idle (): boolean {
    return this.sequencer.pending === 0 && this.receiving === undefined && this.device.inFlight === 0 && (this.tracker?.pending ?? 0) === 0
  }
}
