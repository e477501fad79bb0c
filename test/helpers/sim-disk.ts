/**
 * A simulated disk for the whole-system fault simulation (test/helpers/fault-sim.ts).
 *
 * One {@link DurableDisk} per simulated peer models the device: a real {@link MemoryStore}
 * holding exactly what is durable, plus a FIFO of write operations in flight. Every write
 * (`append`, `putMeta`, snapshot install steps, `truncateAfter`) takes a random service time in
 * virtual time and is applied to the MemoryStore — atomically, as one batch — only when it
 * completes; only then does its promise resolve. Reads see the durable state, as LevelStore's
 * reads see only committed batches.
 *
 * A crash applies a random prefix of the operations still in flight (each one whole, in order:
 * LevelDB's write-ahead log is sequential) and loses the rest; the promises of the dead
 * incarnation never settle. The next incarnation gets a new {@link SimDisk} over the same device.
 *
 * Alongside the store the device keeps a *shadow log*: every entry the store holds, from index 1,
 * even below a snapshot (an installed snapshot takes the sender's shadow up to its position).
 * The checker compares shadows across peers and over time; it is bookkeeping of the harness
 * only, never read by the code under test.
 */
import { MemoryStore } from '../../src/store/memory-store.js'
import type {
  ExpiryCandidate, KeyBounds, LogEntry, LogPosition, PackedRecords, RawLogEntry, RequestEntry, RequestRow, Store, StoreSnapshot, StoreState, StoredRecord
} from '../../src/store/types.js'

/** What the disk needs from the simulated world. */
export interface DiskHost {
  now: () => number
  rng: () => number
  /** Run `fn` at virtual time now + delayMs. */
  at: (delayMs: number, fn: () => void) => void
  /** The store's data disagrees with its own log (a harness-level violation). */
  problem: (what: string) => void
  /** A durable change of `node`'s data: keys touched and the entry that last wrote each. */
  observe: (node: string, changes: KeyObservation[]) => void
  /** A durable entry on `node` (for the global "one entry per (index, term)" check). */
  entryWritten: (node: string, e: LogEntry) => void
  /** Shadow log of the sender of a snapshot at `position` (registered when it was taken). */
  snapshotShadow: (position: LogPosition) => LogEntry[] | undefined
  registerSnapshot: (node: string, position: LogPosition, shadow: LogEntry[]) => void
}

/**
 * After a durable change: what the store's data holds for `key` now, as the entry of the log
 * that wrote it (undefined: the key is absent and no entry of the log ever wrote it).
 */
export interface KeyObservation {
  key: string
  entry?: { index: number, term: number, revision: number, del: boolean }
}

/** Latency model of one device. */
export interface DiskTiming {
  /** Service time of a write, uniform in [minMs, maxMs]; with probability `slowP`, up to `slowMs`. */
  minMs: number
  maxMs: number
  slowP: number
  slowMs: number
}

export const DEFAULT_DISK: DiskTiming = { minMs: 1, maxMs: 6, slowP: 0.02, slowMs: 60 }

interface Op {
  name: string
  /** Apply to the durable store (synchronously: MemoryStore's bodies do not await). */
  apply: () => Promise<void>
  /** Bookkeeping after a successful apply. */
  after?: () => void
  resolve: () => void
  reject: (err: unknown) => void
  gen: number
}

/** The device of one peer: survives crashes. */
export class DurableDisk {
  readonly store = new MemoryStore()
  /** shadow[i] = entry at index i (shadow[0] unused). */
  shadow: LogEntry[] = []
  /** Every key this device ever held (to report removals on snapshot install). */
  readonly keysSeen = new Set<string>()
  timing: DiskTiming
  private queue: Op[] = []
  private busy = false
  private installShadow: LogEntry[] | undefined
  /** Bumped on every crash: operations of older incarnations never settle. */
  gen = 0

  constructor (readonly id: string, private readonly host: DiskHost, timing: DiskTiming = DEFAULT_DISK) {
    this.timing = timing
  }

  /** Write operations queued or in service. */
  get inFlight (): number {
    return this.queue.length
  }

  enqueue (name: string, apply: () => Promise<void>, after?: () => void): Promise<void> {
    const gen = this.gen
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ name, apply, after, resolve, reject, gen })
      this.pump()
    })
  }

  private serviceMs (): number {
    const t = this.timing
    const r = this.host.rng()
    if (r < t.slowP) return t.maxMs + Math.floor(this.host.rng() * Math.max(1, t.slowMs - t.maxMs))
    return t.minMs + Math.floor(this.host.rng() * (t.maxMs - t.minMs + 1))
  }

  private pump (): void {
    if (this.busy || this.queue.length === 0) return
    this.busy = true
    const gen = this.gen
    this.host.at(this.serviceMs(), () => {
      if (gen !== this.gen) return // crashed meanwhile: crash() decided this op's fate
      const op = this.queue.shift() as Op
      this.busy = false
      this.run(op, true)
      this.pump()
    })
  }

  private run (op: Op, settle: boolean): void {
    let p: Promise<void>
    try {
      p = op.apply()
    } catch (err) {
      p = Promise.reject(err)
    }
    p.then(() => {
      op.after?.()
      if (settle) op.resolve()
    }, err => {
      if (settle) op.reject(err)
    })
  }

  /**
   * Power loss: a random prefix of the queued operations reaches the platter (each whole), the
   * rest is lost; nobody hears back. `keep` overrides the PRNG ('all' | 'none').
   */
  crash (keep?: 'all' | 'none'): { applied: number, lost: number } {
    const q = this.queue
    const k = keep === 'all' ? q.length : keep === 'none' ? 0 : Math.floor(this.host.rng() * (q.length + 1))
    for (let i = 0; i < k; i++) this.run(q[i], false)
    this.queue = []
    this.busy = false
    this.gen++
    void this.store.close()
    return { applied: k, lost: q.length - k }
  }

  /** Reopen after a crash (the store clears an interrupted snapshot install). */
  async reopen (): Promise<void> {
    if (this.store.installing) {
      this.shadow = []
      this.installShadow = undefined
    }
    await this.store.open()
  }

  // Bookkeeping of durable changes ------------------------------------------------------------

  /**
   * Read what the store's data holds for `keys` now and check it against the shadow log: the
   * record of a key must be the put of the last entry of the log that wrote it, and a key whose
   * last entry is a delete (or that no entry wrote) must be absent. Reports what it saw.
   */
  private observe (keys: Iterable<string>, why: string): void {
    const last = new Map<string, LogEntry>()
    for (const e of this.shadow) if (e !== undefined) for (const m of e.mutations) last.set(m.key, e)
    const data = (this.store as unknown as { data: Map<string, StoredRecord> }).data
    const changes: KeyObservation[] = []
    for (const key of keys) {
      this.keysSeen.add(key)
      const e = last.get(key)
      const m = e?.mutations.find(x => x.key === key)
      const rec = data.get(key)
      const expected = m?.type === 'put' ? m.record : undefined
      if ((rec === undefined) !== (expected === undefined) || (rec !== undefined && expected !== undefined && (rec.revision !== expected.revision || !sameBytes(rec.value, expected.value)))) {
        this.host.problem(`${this.id} after ${why} at ${JSON.stringify(this.store.state)}: key ${key} holds ${rec === undefined ? 'nothing' : `revision ${rec.revision}`}, but its log says ${expected === undefined ? 'absent' : `revision ${expected.revision}`}`)
      }
      // Report what the data really shows: the entry of the log whose revision it carries.
      let seen = e
      if (rec !== undefined && rec.revision !== expected?.revision) seen = this.shadow.find(x => x !== undefined && x.revision === rec.revision && x.mutations.length > 0)
      const sm = seen?.mutations.find(x => x.key === key)
      changes.push(seen === undefined || sm === undefined ? { key } : { key, entry: { index: seen.index, term: seen.term, revision: seen.revision, del: sm.type === 'del' } })
    }
    this.host.observe(this.id, changes)
  }

  appended (entries: LogEntry[]): void {
    const keys = new Set<string>()
    for (const e of entries) {
      this.shadow[e.index] = e
      this.host.entryWritten(this.id, e)
      for (const m of e.mutations) keys.add(m.key)
    }
    this.observe(keys, `append ${entries[0].index}..${entries[entries.length - 1].index}`)
  }

  installBegun (position: LogPosition): void {
    this.shadow = []
    this.installShadow = this.host.snapshotShadow(position)
  }

  installFinished (): void {
    this.shadow = (this.installShadow ?? []).slice()
    this.installShadow = undefined
    const keys = new Set(this.keysSeen)
    for (const e of this.shadow) if (e !== undefined) for (const m of e.mutations) keys.add(m.key)
    this.observe(keys, 'snapshot install')
  }

  truncated (index: number): void {
    const removed = this.shadow.slice(index + 1).filter(e => e !== undefined)
    this.shadow.length = Math.min(this.shadow.length, index + 1)
    this.observe(new Set(removed.flatMap(e => e.mutations.map(m => m.key))), `truncateAfter ${index}`)
  }

  snapshotTaken (position: LogPosition): void {
    this.host.registerSnapshot(this.id, position, this.shadow.slice(0, position.index + 1))
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Never settles: what a dead process's calls amount to. */
function never<T> (): Promise<T> {
  return new Promise<T>(() => {})
}

/**
 * The {@link Store} one incarnation of a peer uses: writes go through the device's queue, reads
 * straight to the durable store. After its incarnation crashed every call hangs forever.
 */
export class SimDisk implements Store {
  private readonly gen: number

  constructor (readonly device: DurableDisk) {
    this.gen = device.gen
  }

  private get dead (): boolean {
    return this.gen !== this.device.gen
  }

  private get s (): MemoryStore {
    return this.device.store
  }

  get state (): Readonly<StoreState> { return this.s.state }
  get installing (): boolean { return this.s.installing }

  async open (): Promise<void> {
    if (this.dead) return never()
    await this.device.reopen()
  }

  async close (): Promise<void> {}

  async get (key: string): Promise<StoredRecord | undefined> {
    return this.dead ? never() : this.s.get(key)
  }

  async getMany (keys: string[]): Promise<Array<StoredRecord | undefined>> {
    return this.dead ? never() : this.s.getMany(keys)
  }

  async getAt (key: string, revision: number): Promise<StoredRecord | undefined> {
    return this.dead ? never() : this.s.getAt(key, revision)
  }

  range (bounds: KeyBounds): AsyncIterable<[string, StoredRecord]> {
    return this.s.range(bounds)
  }

  async append (entries: LogEntry[], _options?: { sync?: boolean }): Promise<void> {
    if (this.dead) return never()
    if (entries.length === 0) return
    const copy = structuredClone(entries)
    return this.device.enqueue('append', async () => this.s.append(copy), () => { this.device.appended(copy) })
  }

  async readLog (fromIndex: number, limit: number): Promise<LogEntry[]> {
    return this.dead ? never() : this.s.readLog(fromIndex, limit)
  }

  async readLogRaw (fromIndex: number, limit: number, maxBytes?: number): Promise<RawLogEntry[]> {
    return this.dead ? never() : this.s.readLogRaw(fromIndex, limit, maxBytes)
  }

  async findRequest (request: Uint8Array): Promise<RequestEntry | undefined> {
    return this.dead ? never() : this.s.findRequest(request)
  }

  async expiring (now: number, limit: number): Promise<ExpiryCandidate[]> {
    return this.dead ? never() : this.s.expiring(now, limit)
  }

  async nextExpiry (): Promise<number | undefined> {
    return this.dead ? never() : this.s.nextExpiry()
  }

  /** Compaction is not a logged change and loses nothing that matters on a crash: applied at once. */
  async compact (revision: number, options?: { signal?: AbortSignal }): Promise<void> {
    return this.dead ? never() : this.s.compact(revision, options)
  }

  snapshot (): StoreSnapshot {
    const snap = this.s.snapshot()
    const { index, term, revision } = snap.state
    this.device.snapshotTaken({ index, term, revision })
    return snap
  }

  async beginInstall (position: LogPosition): Promise<void> {
    if (this.dead) return never()
    const p = { ...position }
    return this.device.enqueue('beginInstall', async () => this.s.beginInstall(p), () => { this.device.installBegun(p) })
  }

  async installChunk (records: Array<[string, StoredRecord]>): Promise<void> {
    if (this.dead) return never()
    const copy = structuredClone(records)
    return this.device.enqueue('installChunk', async () => this.s.installChunk(copy))
  }

  async installPacked (records: PackedRecords): Promise<void> {
    if (this.dead) return never()
    const copy = { count: records.count, bytes: records.bytes.slice() }
    return this.device.enqueue('installChunk', async () => this.s.installPacked(copy))
  }

  async installRequests (rows: RequestRow[]): Promise<void> {
    if (this.dead) return never()
    const copy = rows.map(r => ({ ...r, request: r.request.slice() }))
    return this.device.enqueue('installChunk', async () => this.s.installRequests(copy))
  }

  async finishInstall (): Promise<void> {
    if (this.dead) return never()
    return this.device.enqueue('finishInstall', async () => this.s.finishInstall(), () => { this.device.installFinished() })
  }

  async truncateAfter (index: number): Promise<void> {
    if (this.dead) return never()
    return this.device.enqueue('truncateAfter', async () => this.s.truncateAfter(index), () => { this.device.truncated(index) })
  }

  async getMeta (name: string): Promise<Uint8Array | undefined> {
    return this.dead ? never() : this.s.getMeta(name)
  }

  async putMeta (name: string, value: Uint8Array): Promise<void> {
    if (this.dead) return never()
    const v = value.slice()
    return this.device.enqueue('putMeta', async () => this.s.putMeta(name, v))
  }
}
