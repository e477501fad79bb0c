/**
 * The whole-system fault simulation: a deterministic, seeded discrete-event world in which every
 * simulated peer runs the real pure cores (arbiter, replication, sequencer + plan, MemoryStore
 * on a simulated disk) wired as the I/O shells wire them (see sim-peer.ts, sim-disk.ts).
 *
 * - Virtual time and one seeded PRNG (mulberry32); the same seed gives the same run, bit for bit.
 *   The world is async only because the cores' store API is: after each event it lets every
 *   microtask settle (one setImmediate) before virtual time moves on, so a chain of awaits on
 *   reads takes no virtual time, while every write takes its simulated disk time.
 * - Network: per-message drop, duplication and random delay (hence reordering), partitions, link
 *   cuts and heals; connectivity changes reach the arbiter cores as peerConnected/Disconnected.
 *   Frames go through the real wire codecs. No sockets anywhere.
 * - Crashes: the incarnation dies at once (its timers, messages in flight to it and promise
 *   continuations stop); its disk keeps a random prefix of the writes in flight. A restart is a new
 *   incarnation from the durable store and the durable arbiter state.
 * - Clients: writes (puts with unique values, deletes, conditional sets and deletes) to the peer
 *   that believes it is primary (sometimes to any peer); every outcome is recorded for the
 *   checker (fault-check.ts).
 */
import type { ArbiterCore, ArbiterEvent, ArbiterOptions, PersistedState } from '../../src/arbiter/index.js'
import type { Command } from '../../src/core/evaluate.js'
import { requestFingerprint } from '../../src/core/request.js'
import { OperationFailedError } from '../../src/errors.js'
import type { LogEntry, LogPosition } from '../../src/store/types.js'
import { DEFAULT_DISK, DurableDisk } from './sim-disk.js'
import type { DiskTiming, KeyObservation } from './sim-disk.js'
import { SimPeer } from './sim-peer.js'
import type { PeerHost, ProposedFixes } from './sim-peer.js'
import { EventQueue, mulberry32 } from './simnet.js'

/**
 * Link behaviour, applied to every message. Direct streams (arbiter and replication protocols)
 * are ordered, as one libp2p stream per peer and protocol is: a frame is delayed or lost (a reset
 * stream), never overtakes an earlier frame of its stream and is never duplicated — unless
 * `unordered`, which also reorders and duplicates them (beyond what the transport does). Gossip
 * frames take their own path: delayed, lost and duplicated independently of the streams.
 */
export interface Links {
  drop: number
  dup: number
  minDelayMs: number
  maxDelayMs: number
  unordered?: boolean
}

export const GOOD_LINKS: Links = { drop: 0, dup: 0, minDelayMs: 1, maxDelayMs: 3 }

/** Outcome of a client write. */
export type WriteStatus =
  /** Resolved ok: acknowledged at `revision`. */
  | 'acked'
  /** Resolved not ok (a condition failed): nothing written. */
  | 'rejected'
  /** OperationFailedError (ack timeout, step-down): applied everywhere or nowhere. */
  | 'failed'
  /** Refused before the sequencer (not primary, no primary): never written. */
  | 'refused'
  /** No answer: the peer crashed (or the write hangs; the checker tells which). */
  | 'pending'

/** One client write. */
export interface WriteRecord {
  id: number
  node: string
  incarnation: number
  command: Command
  /** The value of a set as text (unique per write: `v<n>`), undefined for deletes. */
  value?: string
  submittedAt: number
  status: WriteStatus
  settledAt?: number
  revision?: number
  error?: string
  /**
   * Attempts made (1 unless the write is repeatable and was repeated): a repeatable write carries
   * a request fingerprint and is sent again, same id and command, to a primary when an attempt
   * failed, was refused or died with its peer — as a secondary's forwarder does. The record
   * keeps the first submission time and the last attempt's node and outcome.
   */
  attempts: number
  repeatable?: boolean
}

/** One observation of a key on a peer after a durable change. */
export interface Observation {
  at: number
  node: string
  key: string
  entry?: KeyObservation['entry']
}

/** What the checker gets. */
export interface FaultHistory {
  writes: WriteRecord[]
  /** "clusterId:term" → peers that became primary in it (arbiter role events). */
  primaries: Map<string, Set<string>>
  /** term → peers whose replication took office as primary in it (AckTracker). */
  trackers: Map<number, Set<string>>
  observations: Observation[]
  /** Violations noticed while running. */
  problems: string[]
  /** Every put value ever durably written anywhere. */
  valuesWritten: Set<string>
  crashes: number
  lostWrites: number
  elections: number
}

/** One simulated machine: its disk survives, its incarnation does not. */
export interface SimMachine {
  id: string
  device: DurableDisk
  peer?: SimPeer
  incarnation: number
  /** Last arbiter state the harness saw persisted (for term/vote monotonicity). */
  persisted?: PersistedState
}

interface Ev { at: number, seq: number, fn: () => void }

/** Attempts of a repeatable client write at most (the first included). */
const MAX_ATTEMPTS = 5

const settleMicrotasks = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Options of a {@link FaultWorld}. */
export interface WorldInit {
  seed: number
  /** Arbiter options of every peer (cluster name forced to 'sim'). */
  arbiter?: ArbiterOptions
  disk?: DiskTiming
  /** Sequencer group-commit limit. @default 64 */
  maxBatchWrites?: number
  /** Compaction thresholds (the peer's retainRevisions / slack); undefined: never compact. */
  retain?: { revisions: number, slack: number }
  /** Proposed fixes applied in the ported shell code (see sim-peer.ts). @default all on */
  fixes?: ProposedFixes
}

/** Every proposed fix on: what CI runs until the shells carry them. */
export const ALL_FIXES: ProposedFixes = { snapshotReceive: true, gossipCoalesce: true, storeMoved: true, staleSnapshot: true, noLeadWhileInstalling: true, readBarrier: true, snapshotIndexed: true }

/** The simulated world. */
export class FaultWorld {
  now = 0
  readonly seed: number
  readonly rng: () => number
  /** Client repeats draw from their own stream, so they leave the rest of a seed's run as it was. */
  private readonly retryRng: () => number
  readonly machines = new Map<string, SimMachine>()
  links: Links = GOOD_LINKS
  readonly history: FaultHistory = {
    writes: [], primaries: new Map(), trackers: new Map(), observations: [], problems: [], valuesWritten: new Set(), crashes: 0, lostWrites: 0, elections: 0
  }

  /** Seeds for requireSeed (the initial peers). */
  readonly seeds = new Set<string>()
  private readonly heap = new EventQueue<Ev>()
  private seq = 0
  private readonly group = new Map<string, number>()
  private readonly cuts = new Set<string>()
  private readonly connectedPairs = new Set<string>()
  /** Delivery time of the last frame per ordered stream "from>to>proto". */
  private readonly streamTail = new Map<string, number>()
  private readonly entries = new Map<string, string>()
  private readonly snapshots = new Map<string, LogEntry[]>()
  private nextWrite = 1
  private nextValue = 1
  private readonly init: WorldInit
  /** Messages sent and delivered, for reporting. */
  sent = 0
  delivered = 0
  /** Trace hook (debugging a seed): called with a line per notable event. */
  trace?: (line: string) => void

  constructor (init: WorldInit) {
    this.init = init
    this.seed = init.seed
    this.rng = mulberry32(init.seed)
    this.retryRng = mulberry32(init.seed ^ 0x5bd1e995)
  }

  // ------------------------------------------------------------------------------------------
  // Time

  at (delayMs: number, fn: () => void): void {
    this.heap.push({ at: this.now + Math.max(0, delayMs), seq: this.seq++, fn })
  }

  /** Process every event up to and including virtual time `t`. */
  async runUntilTime (t: number): Promise<void> {
    for (;;) {
      const e = this.heap.peek()
      if (e === undefined || e.at > t) break
      this.heap.pop()
      this.now = e.at
      e.fn()
      await settleMicrotasks()
    }
    this.now = Math.max(this.now, t)
  }

  async runFor (ms: number): Promise<void> {
    await this.runUntilTime(this.now + ms)
  }

  /** Run until `pred()` holds (checked every `stepMs`), at most `maxMs`; the time taken or undefined. */
  async runUntil (pred: () => boolean, maxMs: number, stepMs = 50): Promise<number | undefined> {
    const start = this.now
    while (this.now - start <= maxMs) {
      if (pred()) return this.now - start
      await this.runFor(stepMs)
    }
    return pred() ? this.now - start : undefined
  }

  // ------------------------------------------------------------------------------------------
  // Machines

  private host (m: SimMachine): PeerHost {
    const inc = m.incarnation
    const alive = (): boolean => m.incarnation === inc && m.peer?.alive === true
    return {
      now: () => this.now,
      random: mulberry32(Math.floor(this.rng() * 2 ** 32)),
      at: (ms, fn) => { this.at(ms, () => { if (alive()) fn() }) },
      send: (from, to, proto, frame) => { this.transmit(from, to, proto, frame) },
      publish: (from, frame) => {
        for (const id of this.machines.keys()) if (id !== from) this.transmit(from, id, 'replicate', frame, true)
      },
      connected: id => [...this.machines.keys()].filter(x => x !== id && this.canTalk(id, x)),
      seeds: this.seeds,
      onArbiterEvent: (id, core, ev) => { this.arbiterEvent(id, core, ev) },
      onPersistArbiter: (id, s) => { this.persistedArbiter(id, s) },
      onTracker: (id, term) => {
        const set = this.history.trackers.get(term) ?? new Set<string>()
        set.add(id)
        this.history.trackers.set(term, set)
      },
      problem: what => { this.problem(what) },
      fixes: this.init.fixes ?? ALL_FIXES,
      ...(this.init.retain !== undefined ? { retain: this.init.retain } : {})
    }
  }

  /** Add a machine with an empty disk (not started). */
  add (id: string, opts: { seed?: boolean } = {}): SimMachine {
    if (this.machines.has(id)) throw new Error(`machine ${id} exists`)
    const world = this
    const device = new DurableDisk(id, {
      now: () => this.now,
      rng: this.rng,
      at: (ms, fn) => { this.at(ms, fn) },
      problem: what => { this.problem(what) },
      observe: (node, changes) => {
        for (const c of changes) this.history.observations.push({ at: this.now, node, key: c.key, ...(c.entry !== undefined ? { entry: c.entry } : {}) })
      },
      entryWritten: (node, e) => { world.entryWritten(node, e) },
      snapshotShadow: p => this.snapshots.get(`${p.index}:${p.term}:${p.revision}`),
      registerSnapshot: (node, p, shadow) => { this.registerSnapshot(node, p, shadow) }
    }, this.init.disk ?? DEFAULT_DISK)
    const m: SimMachine = { id, device, incarnation: 0 }
    this.machines.set(id, m)
    if (opts.seed !== false) this.seeds.add(id)
    return m
  }

  machine (id: string): SimMachine {
    const m = this.machines.get(id)
    if (m === undefined) throw new Error(`no machine ${id}`)
    return m
  }

  isUp (id: string): boolean {
    return this.machines.get(id)?.peer?.alive === true
  }

  /** Start (or restart) a machine: a new incarnation from its durable disk. */
  start (id: string): void {
    const m = this.machine(id)
    if (m.peer?.alive === true) throw new Error(`${id} is up`)
    m.incarnation++
    const peer = new SimPeer(id, m.device, this.host(m), { ...this.init.arbiter, cluster: 'sim', requireSeed: true }, undefined, this.init.maxBatchWrites ?? 64)
    m.peer = peer
    this.trace?.(`t=${this.now} start ${id}#${m.incarnation} at ${JSON.stringify(m.device.store.state)}`)
    peer.start().catch(err => { this.problem(`${id}: start failed: ${String(err?.message ?? err)}`) })
    this.updateLinks()
  }

  /** Power loss: the incarnation dies; the disk keeps a random prefix of the writes in flight. */
  crash (id: string, keep?: 'all' | 'none'): void {
    const m = this.machine(id)
    if (m.peer?.alive !== true) return
    m.peer.kill()
    const { lost } = m.device.crash(keep)
    this.history.crashes++
    this.history.lostWrites += lost
    this.trace?.(`t=${this.now} crash ${id} (lost ${lost} disk writes)`)
    this.updateLinks()
  }

  // ------------------------------------------------------------------------------------------
  // Network

  partition (...groups: string[][]): void {
    this.group.clear()
    let g = 0
    for (const members of groups) {
      for (const id of members) this.group.set(id, g)
      g++
    }
    for (const id of this.machines.keys()) if (!this.group.has(id)) this.group.set(id, g++)
    this.trace?.(`t=${this.now} partition ${groups.map(x => `{${x.join(',')}}`).join(' ')}`)
    this.updateLinks()
  }

  cut (a: string, b: string): void {
    this.cuts.add(a < b ? `${a}|${b}` : `${b}|${a}`)
    this.updateLinks()
  }

  heal (): void {
    this.group.clear()
    this.cuts.clear()
    this.updateLinks()
  }

  private sameSide (a: string, b: string): boolean {
    if (this.cuts.size > 0 && this.cuts.has(a < b ? `${a}|${b}` : `${b}|${a}`)) return false
    return this.group.size === 0 || this.group.get(a) === this.group.get(b)
  }

  canTalk (a: string, b: string): boolean {
    return this.isUp(a) && this.isUp(b) && this.sameSide(a, b)
  }

  private transmit (from: string, to: string, proto: 'arbiter' | 'replicate', frame: Uint8Array, gossip = false): void {
    this.sent++
    const target = this.machines.get(to)
    if (target === undefined || !this.canTalk(from, to)) return
    const inc = target.incarnation
    const f = this.links
    const ordered = !gossip && f.unordered !== true
    const copies = !ordered && this.rng() < f.dup ? 2 : 1
    for (let i = 0; i < copies; i++) {
      if (this.rng() < f.drop) continue
      let delay = f.minDelayMs + Math.floor(this.rng() * (f.maxDelayMs - f.minDelayMs + 1))
      if (ordered) {
        const stream = `${from}>${to}>${proto}>${inc}`
        const at = Math.max(this.now + delay, this.streamTail.get(stream) ?? 0)
        this.streamTail.set(stream, at)
        delay = at - this.now
      }
      this.at(delay, () => {
        const peer = target.peer
        // In flight, a frame survives its sender's crash, not a partition or the receiver's crash.
        if (peer?.alive !== true || target.incarnation !== inc || !this.sameSide(from, to)) return
        this.delivered++
        if (proto === 'arbiter') peer.onArbiterFrame(from, frame)
        else peer.onReplicationFrame(from, frame)
      })
    }
  }

  private updateLinks (): void {
    const ids = [...this.machines.keys()].sort()
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = ids[i]
        const b = ids[j]
        const key = `${a}|${b}`
        const was = this.connectedPairs.has(key)
        const is = this.canTalk(a, b)
        if (was === is) continue
        if (is) this.connectedPairs.add(key)
        else this.connectedPairs.delete(key)
        for (const [x, y] of [[a, b], [b, a]]) {
          const p = this.machines.get(x)?.peer
          if (p?.alive !== true) continue
          if (is) p.peerConnected(y)
          else p.peerDisconnected(y)
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Clients

  /** The live peers that believe they are primary. */
  primaries (): string[] {
    return [...this.machines.values()].filter(m => m.peer?.alive === true && m.peer.view()?.role === 'primary').map(m => m.id)
  }

  /**
   * Submit a client write to `node` and record its outcome. A `repeat`able write carries a
   * request fingerprint; while `repeat()` holds (and at most MAX_ATTEMPTS times), an attempt that
   * failed, was refused or whose peer died is sent again to a peer that believes it is primary.
   */
  write (node: string, command: Command, repeat?: () => boolean): WriteRecord {
    const m = this.machine(node)
    const rec: WriteRecord = { id: this.nextWrite++, node, incarnation: m.incarnation, command, submittedAt: this.now, status: 'pending', attempts: 0 }
    if (command.op === 'set') rec.value = dec.decode(command.value)
    if (repeat !== undefined) rec.repeatable = true
    this.history.writes.push(rec)
    const request = repeat === undefined || command.op === 'expire' ? undefined : requestFingerprint(`w${rec.id}`, command)
    const again = (): void => {
      if (repeat === undefined || !repeat() || rec.attempts >= MAX_ATTEMPTS) return
      this.at(100 + Math.floor(this.retryRng() * 200), () => {
        const up = this.primaries()
        const to = up.length === 0 ? undefined : up[Math.floor(this.retryRng() * up.length)]
        if (to === undefined || !repeat()) { again(); return }
        this.attempt(rec, to, request, again)
      })
    }
    this.attempt(rec, node, request, again)
    return rec
  }

  /** One attempt of `rec` on `node`; `again()` when it did not settle the write. */
  private attempt (rec: WriteRecord, node: string, request: Uint8Array | undefined, again: () => void): void {
    const m = this.machine(node)
    const n = ++rec.attempts
    rec.node = node
    rec.incarnation = m.incarnation
    rec.status = 'pending'
    rec.settledAt = undefined
    rec.error = undefined
    const peer = m.peer
    if (peer?.alive !== true) {
      rec.status = 'refused'
      rec.settledAt = this.now
      rec.error = 'peer down'
      again()
      return
    }
    peer.write(rec.command, `w${rec.id}`, request).then(r => {
      if (!peer.alive || rec.attempts !== n) return // the answer died with the process
      rec.status = r.ok ? 'acked' : 'rejected'
      rec.revision = r.revision
      rec.settledAt = this.now
    }, (err: any) => {
      if (!peer.alive || rec.attempts !== n) return
      rec.status = err instanceof OperationFailedError ? 'failed' : 'refused'
      rec.error = `${String(err?.name)}: ${String(err?.message)}`
      rec.settledAt = this.now
      again()
    })
    if (request !== undefined) {
      // The peer died with the attempt in flight: its answer never comes.
      const watch = (): void => {
        if (rec.status !== 'pending' || rec.attempts !== n) return
        if (peer.alive) { this.at(100, watch); return }
        again()
      }
      this.at(100, watch)
    }
  }

  /** A put with a unique value. */
  putCommand (key: string, extra: Partial<Extract<Command, { op: 'set' }>> = {}): Command {
    return { op: 'set', key, value: enc.encode(`v${this.nextValue++}`), ...extra }
  }

  // ------------------------------------------------------------------------------------------
  // Recording

  problem (what: string): void {
    this.history.problems.push(`t=${this.now}: ${what}`)
    this.trace?.(`t=${this.now} PROBLEM ${what}`)
  }

  private arbiterEvent (id: string, core: ArbiterCore, ev: ArbiterEvent): void {
    if (ev.type === 'role') {
      this.trace?.(`t=${this.now} ${id} ${ev.previous}->${ev.role} term ${ev.term}`)
      if (ev.role === 'primary') {
        this.history.elections++
        const key = `${String(core.cluster)}:${ev.term}`
        const set = this.history.primaries.get(key) ?? new Set<string>()
        set.add(id)
        this.history.primaries.set(key, set)
      }
    }
  }

  private persistedArbiter (id: string, s: PersistedState): void {
    const m = this.machine(id)
    const prev = m.persisted
    if (prev !== undefined) {
      if (s.term < prev.term) this.problem(`${id} persisted term ${s.term} below ${prev.term}`)
      if (s.term === prev.term && prev.votedFor !== undefined && s.votedFor !== prev.votedFor) this.problem(`${id} changed its vote in term ${s.term}`)
      if (prev.clusterId !== undefined && s.clusterId !== prev.clusterId) this.problem(`${id} changed cluster id`)
    }
    m.persisted = s
  }

  private entryWritten (node: string, e: LogEntry): void {
    const fp = fingerprint(e)
    const key = `${e.index}:${e.term}`
    const had = this.entries.get(key)
    if (had === undefined) this.entries.set(key, fp)
    else if (had !== fp) this.problem(`${node} holds an entry at index ${e.index} of term ${e.term} that differs from another peer's (two writers in one term): ${fp} vs ${had}`)
    for (const m of e.mutations) if (m.type === 'put') this.history.valuesWritten.add(dec.decode(m.record.value))
  }

  private registerSnapshot (node: string, p: LogPosition, shadow: LogEntry[]): void {
    const key = `${p.index}:${p.term}:${p.revision}`
    const had = this.snapshots.get(key)
    if (had !== undefined && !sameLog(had, shadow)) this.problem(`${node}: two different logs end at the same position ${key}`)
    if (shadow.length !== p.index + 1 || (p.index > 0 && shadow[p.index] === undefined)) this.problem(`${node}: shadow log does not reach its snapshot position ${key}`)
    this.snapshots.set(key, shadow)
  }
}

/** Content of an entry, for identity comparisons. */
export function fingerprint (e: LogEntry): string {
  return JSON.stringify({ i: e.index, t: e.term, r: e.revision, m: e.mutations.map(m => m.type === 'put' ? ['put', m.key, dec.decode(m.record.value), m.record.revision, m.record.version, m.record.createRevision] : ['del', m.key]) })
}

/** Whether two shadow logs hold the same entries. */
export function sameLog (a: LogEntry[], b: LogEntry[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 1; i < a.length; i++) {
    if ((a[i] === undefined) !== (b[i] === undefined)) return false
    if (a[i] !== undefined && (a[i].term !== b[i].term || a[i].revision !== b[i].revision)) return false
  }
  return true
}
