/**
 * A deterministic discrete-event simulator for the arbiter core (style.md §1: etcd-raft's
 * in-memory `network`). Virtual time, a seeded PRNG, and one priority queue of deliveries,
 * ticks and scheduled actions; the same seed always gives the same run.
 *
 * Faults: per-link drop probability, duplication and random delay (so reordering), partitions
 * (groups of peers that cannot talk to each other), crash (the node keeps only the last state
 * it *persisted*; messages to it are dropped) and restart (a new core from that state).
 * Connectivity changes are reported to the cores as peerConnected / peerDisconnected.
 *
 * After every input the node's `takeReady()` is drained: persist first, then events are
 * recorded and messages scheduled. Every message goes through the wire codec
 * (encode → decode), so the simulation also exercises it.
 *
 * The log position of each node is simulated too (replication is not implemented yet): a new
 * primary appends one entry of its term (Raft's no-op), `appendOnPrimary()` appends writes, and
 * a heartbeat or membership from the primary brings its receiver to the primary's position as
 * of sending. The history (`SimHistory`) records what the checker in `sim-check.ts` verifies.
 */
import { ArbiterCore, compareLog, decodeMessage, encodeMessage } from '../../src/arbiter/index.js'
import type {
  ArbiterEvent, ArbiterMessage, ArbiterOptions, LogPosition, PersistedState, Role
} from '../../src/arbiter/index.js'

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Link behaviour, applied to every message. */
export interface LinkFaults {
  /** Probability that a message is lost. */
  drop: number
  /** Probability that a message is delivered twice. */
  dup: number
  /** Delivery delay, uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number
  maxDelayMs: number
}

export const PERFECT_LINKS: LinkFaults = { drop: 0, dup: 0, minDelayMs: 1, maxDelayMs: 5 }

/** One node of the simulation. */
export interface SimNode {
  id: string
  core: ArbiterCore | undefined
  /** Last state the node persisted (survives crashes). */
  persisted: PersistedState | undefined
  log: LogPosition
  up: boolean
  /** Bumped on every start; in-flight messages and ticks of an older incarnation are dropped. */
  incarnation: number
  options: ArbiterOptions
  /** Peers this node reports as seeds when it connects to them. */
  seeds: Set<string>
  /** Events of the current incarnation, in order. */
  events: ArbiterEvent[]
}

/** A vote granted (not a pre-vote), with the voter's log position when it granted. */
export interface Grant { at: number, term: number, candidate: string, voter: string, voterLog: LogPosition }

/** What happened, for the checker. */
export interface SimHistory {
  /** "clusterId:term" → every node that was primary in that term of that cluster. */
  primaries: Map<string, Set<string>>
  /** Every election won: term, winner, the winner's log position then. */
  elections: Array<{ at: number, term: number, id: string, log: LogPosition }>
  grants: Grant[]
  roles: Array<{ at: number, id: string, role: Role, previous: Role, term: number }>
  /** Every (term, primary) a node reported. */
  observed: Array<{ at: number, id: string, term: number, primary: string | undefined }>
  /** Safety violations noticed while running (the checker adds the rest). */
  violations: string[]
  /** Messages sent / delivered / dropped, for reporting. */
  sent: number
  delivered: number
}

type SimEvent =
  | { at: number, seq: number, kind: 'deliver', from: string, to: string, bytes: Uint8Array, inc: number, log?: LogPosition }
  | { at: number, seq: number, kind: 'tick', id: string, inc: number }
  | { at: number, seq: number, kind: 'call', fn: () => void }

/** A SimEvent before it gets its sequence number. */
type NewEvent = SimEvent extends infer E ? (E extends SimEvent ? Omit<E, 'seq'> : never) : never

/** Something scheduled at virtual time `at`; `seq` breaks ties in scheduling order. */
export interface Timed { at: number, seq: number }

function less (a: Timed, b: Timed): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Binary min-heap on (at, seq): the event queue of the simulators. */
export class EventQueue<E extends Timed> {
  private readonly heap: E[] = []
  get size (): number { return this.heap.length }
  peek (): E | undefined { return this.heap[0] }
  push (e: E): void {
    const h = this.heap
    let i = h.length
    h.push(e)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(e, h[p])) break
      h[i] = h[p]
      i = p
    }
    h[i] = e
  }

  pop (): E | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const m = r < n && less(h[r], h[l]) ? r : l
        if (!less(h[m], last)) break
        h[i] = h[m]
        i = m
      }
      h[i] = last
    }
    return top
  }
}

/** Options of a {@link SimNet}. */
export interface SimNetInit {
  seed: number
  /** Tick period of every node (each with its own phase). @default 25 */
  tickMs?: number
  faults?: LinkFaults
  /** Arbiter options for every node (per-node options override). */
  options?: ArbiterOptions
  /** Simulate log positions (no-op on election, catch-up on heartbeats). @default true */
  replicate?: boolean
}

/** The simulated network. */
export class SimNet {
  now = 0
  readonly rng: () => number
  readonly nodes = new Map<string, SimNode>()
  readonly history: SimHistory = {
    primaries: new Map(), elections: [], grants: [], roles: [], observed: [], violations: [], sent: 0, delivered: 0
  }

  faults: LinkFaults
  private readonly tickMs: number
  private readonly options: ArbiterOptions
  private readonly replicate: boolean
  private readonly queue = new EventQueue<SimEvent>()
  private seq = 0
  /** Partition group per node; nodes in different groups cannot talk. Empty: no partition. */
  private readonly group = new Map<string, number>()
  /** Pairs "a|b" (a < b) whose link is cut (independently of partitions). */
  private readonly cuts = new Set<string>()
  /** Pairs "a|b" (a < b) currently reported as connected to the cores. */
  private readonly links = new Set<string>()

  constructor (init: SimNetInit) {
    this.rng = mulberry32(init.seed)
    this.tickMs = init.tickMs ?? 25
    this.faults = init.faults ?? PERFECT_LINKS
    this.options = init.options ?? {}
    this.replicate = init.replicate ?? true
  }

  // -------------------------------------------------------------------------------------------
  // Topology and lifecycle

  /** Add a node (not started). */
  add (id: string, init: { options?: ArbiterOptions, log?: LogPosition, state?: PersistedState, seeds?: Iterable<string> } = {}): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`)
    const node: SimNode = {
      id,
      core: undefined,
      persisted: init.state,
      log: init.log ?? { term: 0, index: 0 },
      up: false,
      incarnation: 0,
      options: { ...this.options, ...init.options },
      seeds: new Set(init.seeds ?? []),
      events: []
    }
    this.nodes.set(id, node)
    return node
  }

  /** Start (or restart after a crash) a node from its persisted state. */
  start (id: string): void {
    const n = this.node(id)
    if (n.up) throw new Error(`node ${id} is already up`)
    n.incarnation++
    n.up = true
    n.events = []
    const seed = Math.floor(this.rng() * 2 ** 32)
    n.core = new ArbiterCore({
      ...n.options,
      self: id,
      state: n.persisted === undefined ? undefined : structuredClone(n.persisted),
      now: this.now,
      random: mulberry32(seed),
      log: n.log
    })
    this.schedule({ at: this.now + Math.floor(this.rng() * this.tickMs), kind: 'tick', id, inc: n.incarnation })
    this.updateLinks()
  }

  /** Start several nodes at the current time. */
  startAll (ids: Iterable<string> = this.nodes.keys()): void {
    for (const id of ids) if (!this.node(id).up) this.start(id)
  }

  /** Crash a node: it loses everything but its last persisted state. */
  crash (id: string): void {
    const n = this.node(id)
    if (!n.up) return
    n.up = false
    n.core = undefined
    this.updateLinks()
  }

  /** Restart a crashed node. */
  restart (id: string): void {
    this.start(id)
  }

  /** Split the network into groups; nodes not listed are each isolated alone. */
  partition (...groups: string[][]): void {
    this.group.clear()
    let g = 0
    for (const members of groups) {
      for (const id of members) this.group.set(id, g)
      g++
    }
    for (const id of this.nodes.keys()) if (!this.group.has(id)) this.group.set(id, g++)
    this.updateLinks()
  }

  /** Cut one node off from all others. */
  isolate (id: string): void {
    const rest = [...this.nodes.keys()].filter(x => x !== id && (this.group.size === 0 || this.group.get(x) === this.group.get(id)))
    const others = [...this.nodes.keys()].filter(x => x !== id && !rest.includes(x))
    if (this.group.size === 0) {
      this.partition(rest, [id])
    } else {
      // Keep existing groups, move `id` into a group of its own.
      const groups = new Map<number, string[]>()
      for (const x of others) {
        const k = this.group.get(x) as number
        groups.set(k, [...(groups.get(k) ?? []), x])
      }
      this.partition(rest, ...groups.values(), [id])
    }
  }

  /** Cut the link between two nodes (connectivity need not be transitive). */
  cut (a: string, b: string): void {
    this.cuts.add(a < b ? `${a}|${b}` : `${b}|${a}`)
    this.updateLinks()
  }

  /** Remove every partition and link cut. */
  heal (): void {
    this.group.clear()
    this.cuts.clear()
    this.updateLinks()
  }

  /** Whether two nodes can exchange messages now. */
  canTalk (a: string, b: string): boolean {
    const na = this.nodes.get(a)
    const nb = this.nodes.get(b)
    if (na?.up !== true || nb?.up !== true) return false
    return this.sameSide(a, b)
  }

  private sameSide (a: string, b: string): boolean {
    if (this.cuts.size > 0 && this.cuts.has(a < b ? `${a}|${b}` : `${b}|${a}`)) return false
    return this.group.size === 0 || this.group.get(a) === this.group.get(b)
  }

  /** Call `leave()` on a node. */
  leave (id: string): void {
    const n = this.node(id)
    if (n.core === undefined) return
    n.core.leave(this.now)
    this.drain(n)
  }

  /** Call `forcePrimary()` (the operator override) on a node; returns the core's verdict. */
  forcePrimary (id: string): ReturnType<ArbiterCore['forcePrimary']> {
    const n = this.node(id)
    if (n.core === undefined) return { ok: false, reason: 'down' }
    const r = n.core.forcePrimary(this.now)
    this.drain(n)
    return r
  }

  /** Set a node's log position (as replication would). */
  setLog (id: string, pos: LogPosition): void {
    const n = this.node(id)
    n.log = { ...pos }
    n.core?.setLogPosition(n.log)
  }

  /** The current primary (if exactly one live node believes it is primary) appends `count` entries. */
  appendOnPrimary (count = 1): void {
    for (const n of this.live()) {
      if (n.core?.role === 'primary') this.setLog(n.id, { term: n.core.term, index: n.log.index + count })
    }
  }

  /** Run `fn` at virtual time `now + delayMs`. */
  at (delayMs: number, fn: () => void): void {
    this.schedule({ at: this.now + delayMs, kind: 'call', fn })
  }

  // -------------------------------------------------------------------------------------------
  // Running

  /** Process events until virtual time `now + ms`. */
  runFor (ms: number): void {
    this.runUntilTime(this.now + ms)
  }

  /** Process events up to and including time `t`. */
  runUntilTime (t: number): void {
    for (;;) {
      const e = this.queue.peek()
      if (e === undefined || e.at > t) break
      this.queue.pop()
      this.now = e.at
      this.process(e)
    }
    this.now = Math.max(this.now, t)
  }

  /**
   * Run until `pred()` holds (checked every `stepMs`), at most `maxMs`. Returns the virtual
   * time it took, or undefined on timeout.
   */
  runUntil (pred: () => boolean, maxMs: number, stepMs = 10): number | undefined {
    const start = this.now
    while (this.now - start <= maxMs) {
      if (pred()) return this.now - start
      this.runFor(stepMs)
    }
    return pred() ? this.now - start : undefined
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  node (id: string): SimNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  core (id: string): ArbiterCore {
    const c = this.node(id).core
    if (c === undefined) throw new Error(`node ${id} is down`)
    return c
  }

  /** Nodes that are up and have not completed a leave. */
  live (): SimNode[] {
    return [...this.nodes.values()].filter(n => n.up && n.core !== undefined && !n.core.hasLeft)
  }

  /** Live nodes that currently believe they are primary. */
  primaries (): SimNode[] {
    return this.live().filter(n => n.core?.role === 'primary')
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private schedule (e: NewEvent): void {
    const ev = e as SimEvent
    ev.seq = this.seq++
    this.queue.push(ev)
  }

  private process (e: SimEvent): void {
    if (e.kind === 'call') { e.fn(); return }
    if (e.kind === 'tick') {
      const n = this.nodes.get(e.id)
      if (n?.up !== true || n.incarnation !== e.inc || n.core === undefined) return
      n.core.tick(this.now)
      this.drain(n)
      this.schedule({ at: this.now + this.tickMs, kind: 'tick', id: e.id, inc: e.inc })
      return
    }
    const n = this.nodes.get(e.to)
    // A message in flight survives its sender's crash, not a partition or the receiver's crash.
    if (n?.up !== true || n.incarnation !== e.inc || n.core === undefined || !this.sameSide(e.from, e.to)) return
    const v = decodeMessage(e.bytes)
    if (!v.ok) throw new Error(`codec failed on a frame the core produced: ${v.reason} ${v.detail}`)
    this.history.delivered++
    if (this.replicate && e.log !== undefined && compareLog(e.log, n.log) > 0) this.setLog(n.id, e.log)
    n.core.step(e.from, v.msg, this.now)
    this.drain(n)
  }

  /** Persist, record events, send messages: the order the shell must keep. */
  private drain (n: SimNode): void {
    const core = n.core
    if (core === undefined) return
    const ready = core.takeReady()
    if (ready.persist !== undefined) this.persist(n, ready.persist, ready.events.some(e => e.type === 'forced' && e.clusterId === ready.persist?.clusterId))
    for (const ev of ready.events) this.record(n, ev)
    for (const { to, msg } of ready.messages) this.transmit(n, to, msg)
  }

  /** `forced`: the operator override moved the node to a new cluster id (the one change allowed). */
  private persist (n: SimNode, s: PersistedState, forced: boolean): void {
    const prev = n.persisted
    if (prev !== undefined) {
      if (s.term < prev.term) this.violation(`${n.id} persisted term ${s.term} below ${prev.term}`)
      if (s.term === prev.term && prev.votedFor !== undefined && s.votedFor !== prev.votedFor) {
        this.violation(`${n.id} changed its vote in term ${s.term} from ${prev.votedFor} to ${String(s.votedFor)}`)
      }
      if (prev.clusterId !== undefined && s.clusterId !== prev.clusterId && !forced) {
        this.violation(`${n.id} changed cluster id from ${prev.clusterId} to ${String(s.clusterId)}`)
      }
    }
    n.persisted = structuredClone(s)
  }

  private record (n: SimNode, ev: ArbiterEvent): void {
    n.events.push(ev)
    const h = this.history
    if (ev.type === 'role') {
      h.roles.push({ at: this.now, id: n.id, role: ev.role, previous: ev.previous, term: ev.term })
      if (ev.role === 'primary') {
        const key = `${String(n.core?.cluster)}:${ev.term}`
        const set = h.primaries.get(key) ?? new Set<string>()
        set.add(n.id)
        h.primaries.set(key, set)
        if (set.size > 1) this.violation(`two primaries in term ${ev.term} of cluster ${String(n.core?.cluster)}: ${[...set].join(', ')}`)
        h.elections.push({ at: this.now, term: ev.term, id: n.id, log: { ...n.log } })
        // The new primary appends an entry of its term first (Raft's no-op).
        if (this.replicate) this.setLog(n.id, { term: ev.term, index: n.log.index + 1 })
      }
    } else if (ev.type === 'primary') {
      h.observed.push({ at: this.now, id: n.id, term: ev.term, primary: ev.primary })
    }
  }

  private transmit (n: SimNode, to: string, msg: ArbiterMessage): void {
    this.history.sent++
    if (msg.type === 'vote-reply' && msg.granted && !msg.pre) {
      this.history.grants.push({ at: this.now, term: msg.term, candidate: to, voter: n.id, voterLog: { ...n.log } })
    }
    const bytes = encodeMessage(msg)
    const target = this.nodes.get(to)
    if (target === undefined || !this.canTalk(n.id, to)) return
    const f = this.faults
    const copies = this.rng() < f.dup ? 2 : 1
    // A joiner is admitted only once caught up (the shell's Join gate), so JoinAccepted brings it
    // to the primary's position too.
    const log = (msg.type === 'heartbeat' || msg.type === 'members' || msg.type === 'join-accepted') && n.core?.role === 'primary' ? { ...n.log } : undefined
    for (let i = 0; i < copies; i++) {
      if (this.rng() < f.drop) continue
      const delay = f.minDelayMs + Math.floor(this.rng() * (f.maxDelayMs - f.minDelayMs + 1))
      this.schedule({ at: this.now + delay, kind: 'deliver', from: n.id, to, bytes, inc: target.incarnation, log })
    }
  }

  /** Report connectivity changes to the cores. */
  private updateLinks (): void {
    const ids = [...this.nodes.keys()].sort()
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = ids[i]
        const b = ids[j]
        const key = `${a}|${b}`
        const was = this.links.has(key)
        const is = this.canTalk(a, b)
        if (was === is) continue
        if (is) {
          this.links.add(key)
          for (const [x, y] of [[a, b], [b, a]]) {
            const nx = this.node(x)
            nx.core?.peerConnected(y, this.now, { seed: nx.seeds.has(y) })
            this.drain(nx)
          }
        } else {
          this.links.delete(key)
          for (const [x, y] of [[a, b], [b, a]]) {
            const nx = this.node(x)
            nx.core?.peerDisconnected(y, this.now)
            this.drain(nx)
          }
        }
      }
    }
  }

  private violation (what: string): void {
    this.history.violations.push(`t=${this.now}: ${what}`)
  }
}
