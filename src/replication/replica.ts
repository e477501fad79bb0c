/**
 * Replica side of replication, pure: apply the primary's entries strictly in index order.
 *
 * - Appends are accepted only from the current primary and only of a term not older than the
 *   replica's (`setLeader`). Anything else gets a verdict and is dropped.
 * - Entries at or below the applied index are duplicates: ignored, and answered with an Ack of
 *   the applied position (so a primary that lost an Ack learns it).
 * - Entries above it are buffered with the term of their predecessor. The contiguous run that
 *   starts right after the applied index is handed to the shell to persist (one run at a time);
 *   a failed persist is retried later with the same entries — nothing is skipped.
 * - A gap (entries buffered, the next one missing) is repaired by asking the primary (Need), at
 *   most once per `needRetryMs` for the same index.
 * - Divergence: an entry that would follow ours but whose predecessor's term differs from our
 *   last entry's term, or an entry at our applied index with another term, means our suffix
 *   is not the primary's log. So does an entry (or predecessor) at or below our applied index
 *   with a term above our last entry's, and an empty append ("the log ends here") ending before
 *   our last entry while that entry's term is older than the primary's: a deposed primary whose
 *   unacknowledged suffix is longer than the new primary's log. The replica then asks for a
 *   snapshot.
 * - Catch-up: `caughtUp` is true once the primary said where its log ends — an empty append: the
 *   answer "you are up to date", or the one closing a delta answer — and the replica holds
 *   everything the primary has told it it has (the last index of every append since).
 */
import type { LogEntry } from '../store/types.js'
import type { AppendMessage, ReplicationMessage } from './types.js'

/** Why an append was not taken. */
export type AppendVerdict = 'accepted' | 'not-primary' | 'stale-term' | 'diverged'

/** What the shell must do after an input. */
export interface ReplicaEffects {
  /** Persist these consecutive entries (then call `persisted` or `persistFailed`). */
  persist?: LogEntry[]
  /** Send these to the primary. */
  send: ReplicationMessage[]
  /** Our log diverged from the primary's: a snapshot was requested (in `send`). */
  diverged?: boolean
}

interface Buffered {
  entry: LogEntry
  prevTerm: number
}

/** Options of {@link ReplicaCore}. */
export interface ReplicaInit {
  /** Durable position: index and term of the last applied entry. */
  applied: { index: number, term: number }
  needRetryMs: number
  persistRetryMs: number
  maxBuffered: number
}

/**
 * Appends heard but the primary has not said where its log ends: ask again after this many
 * × needRetryMs without any append (the answer's end was lost). Long enough not to ask again
 * between two frames of a delta answer still streaming.
 */
const END_RETRY_FACTOR = 8
/** Appends keep coming but never the end: ask again this many × the end retry after the last Need. */
const ENDLESS_ASK_FACTOR = 5

/** Applies the primary's log in order. */
export class ReplicaCore {
  private appliedIndex: number
  private appliedTerm: number
  private readonly buffer = new Map<number, Buffered>()
  private leader?: string
  private term = 0
  private persisting = false
  private retryAt?: number
  private lastNeed?: { from: number, at: number, snapshot: boolean }
  private leaderLast = -1
  /**
   * The current primary said where its log ends (an empty append: the answer "up to date", or
   * the end of a delta answer) since it became this replica's primary or since the last install.
   * Until then `leaderLast` is only the end of the frames received so far: a delta answer
   * streamed in several frames looks "caught up" between two of them.
   */
  private endKnown = false
  /** When the last append of the current primary arrived (a delta answer may still be streaming). */
  private heardAt = -Infinity
  private awaitingSnapshot = false
  private readonly opts: ReplicaInit

  constructor (init: ReplicaInit) {
    this.opts = init
    this.appliedIndex = init.applied.index
    this.appliedTerm = init.applied.term
  }

  /** Index and term of the last applied entry. */
  get applied (): { index: number, term: number } {
    return { index: this.appliedIndex, term: this.appliedTerm }
  }

  /** Whether the replica holds everything the current primary said it has. */
  get caughtUp (): boolean {
    return this.leader !== undefined && this.endKnown && this.leaderLast >= 0 && this.appliedIndex >= this.leaderLast && !this.awaitingSnapshot
  }

  /** The primary's last index as last announced (−1: not heard yet). */
  get primaryLast (): number {
    return this.leaderLast
  }

  /** A snapshot was requested and has not been installed yet. */
  get snapshotPending (): boolean {
    return this.awaitingSnapshot
  }

  /** The primary (and term) this replica follows; clears what was buffered from another one. */
  setLeader (leader: string | undefined, term: number, now: number): ReplicaEffects {
    const changed = leader !== this.leader || term !== this.term
    this.leader = leader
    this.term = Math.max(this.term, term)
    if (!changed) return { send: [] }
    this.buffer.clear()
    this.leaderLast = -1
    this.endKnown = false
    this.heardAt = -Infinity
    this.lastNeed = undefined
    // Ask the new primary where its log ends (and for anything we lack).
    return leader === undefined ? { send: [] } : this.need(this.appliedIndex + 1, now, this.awaitingSnapshot)
  }

  /** An append arrived from `from`. */
  onAppend (from: string, m: AppendMessage, now: number): { verdict: AppendVerdict, effects: ReplicaEffects } {
    if (from !== this.leader) return { verdict: 'not-primary', effects: { send: [] } }
    if (m.term < this.term) return { verdict: 'stale-term', effects: { send: [] } }
    this.term = m.term
    const last = m.prevIndex + m.entries.length
    this.leaderLast = Math.max(this.leaderLast, last)
    if (m.entries.length === 0) this.endKnown = true
    this.heardAt = now
    if (this.awaitingSnapshot) return { verdict: 'accepted', effects: this.need(this.appliedIndex + 1, now, true) }
    if (this.behindUs(m)) return this.diverge(now)
    let prevTerm = m.prevTerm
    let duplicate = m.entries.length === 0
    for (const e of m.entries) {
      if (e.index === this.appliedIndex && e.term !== this.appliedTerm) return this.diverge(now)
      // Terms never decrease along a log: our entry at e.index has a term <= our last one's.
      if (e.index < this.appliedIndex && e.term > this.appliedTerm) return this.diverge(now)
      if (e.index <= this.appliedIndex) {
        duplicate = true
      } else if (!this.buffer.has(e.index) && this.buffer.size < this.opts.maxBuffered) {
        this.buffer.set(e.index, { entry: e, prevTerm })
      }
      prevTerm = e.term
    }
    if (m.prevIndex === this.appliedIndex && m.prevTerm !== this.appliedTerm && m.entries.length > 0) return this.diverge(now)
    const effects = this.advance(now)
    if (duplicate && effects.persist === undefined) effects.send.push(this.ack())
    return { verdict: 'accepted', effects }
  }

  /**
   * Whether the primary's log provably does not contain our last entry although the append
   * reaches no further than it (a deposed primary's unacknowledged suffix that is *longer* than
   * the new primary's log — no entry of the primary ever lands on our applied index to show it):
   * - its predecessor lies at or below our last entry with a term above our last entry's (ours
   *   there has a term no higher than our last one's), or at our last entry with another term;
   * - an empty append ("your log ends here") names an end before ours while our last entry is of
   *   an older term than the primary's: whatever it appends at our last index carries its term.
   */
  private behindUs (m: AppendMessage): boolean {
    if (m.prevIndex === 0 || m.prevIndex > this.appliedIndex) return false
    if (m.prevTerm > this.appliedTerm) return true
    if (m.prevIndex === this.appliedIndex) return m.entries.length === 0 && m.prevTerm !== this.appliedTerm
    return m.entries.length === 0 && this.appliedTerm < m.term
  }

  private diverge (now: number): { verdict: AppendVerdict, effects: ReplicaEffects } {
    this.buffer.clear()
    this.awaitingSnapshot = true
    return { verdict: 'diverged', effects: { ...this.need(this.appliedIndex + 1, now, true), diverged: true } }
  }

  private ack (): ReplicationMessage {
    return { type: 'ack', term: this.term, index: this.appliedIndex, entryTerm: this.appliedTerm }
  }

  private need (from: number, now: number, snapshot: boolean): ReplicaEffects {
    if (this.leader === undefined) return { send: [] }
    const last = this.lastNeed
    if (last !== undefined && last.from === from && last.snapshot === snapshot && now - last.at < this.opts.needRetryMs) return { send: [] }
    this.lastNeed = { from, at: now, snapshot }
    return { send: [{ type: 'need', term: this.term, from, snapshot }] }
  }

  /** Start persisting the next contiguous run, or ask for what is missing. */
  private advance (now: number): ReplicaEffects {
    if (this.persisting || (this.retryAt !== undefined && now < this.retryAt)) return { send: [] }
    const run: LogEntry[] = []
    let next = this.appliedIndex + 1
    let expectTerm = this.appliedTerm
    for (;;) {
      const b = this.buffer.get(next)
      if (b === undefined) break
      if (b.prevTerm !== expectTerm) {
        if (run.length === 0) return this.diverge(now).effects
        break
      }
      run.push(b.entry)
      expectTerm = b.entry.term
      next++
    }
    if (run.length > 0) {
      this.persisting = true
      this.retryAt = undefined
      return { persist: run, send: [] }
    }
    if (this.buffer.size > 0 || this.leaderLast > this.appliedIndex) return this.need(this.appliedIndex + 1, now, false)
    return { send: [] }
  }

  /** The run handed out by `persist` is durable. */
  persisted (lastIndex: number, lastTerm: number, now: number): ReplicaEffects {
    this.persisting = false
    for (let i = this.appliedIndex + 1; i <= lastIndex; i++) this.buffer.delete(i)
    this.appliedIndex = lastIndex
    this.appliedTerm = lastTerm
    const effects = this.advance(now)
    if (effects.persist === undefined) effects.send.push(this.ack())
    return effects
  }

  /** Persisting the run failed: keep the entries and retry after `persistRetryMs`. */
  persistFailed (now: number): void {
    this.persisting = false
    this.retryAt = now + this.opts.persistRetryMs
  }

  /** A snapshot as of (index, term) was installed. */
  installed (index: number, term: number, now: number): ReplicaEffects {
    this.awaitingSnapshot = false
    this.persisting = false
    this.buffer.clear()
    this.appliedIndex = index
    this.appliedTerm = term
    this.lastNeed = undefined
    // The primary's log may have moved on while the snapshot travelled: ask where it ends.
    this.leaderLast = -1
    this.endKnown = false
    const effects = this.advance(now)
    effects.send.push(this.ack())
    effects.send.push(...this.need(index + 1, now, false).send)
    return effects
  }

  /** The snapshot transfer failed or was abandoned: ask again. */
  snapshotFailed (now: number): ReplicaEffects {
    this.awaitingSnapshot = true
    this.lastNeed = undefined
    return this.need(this.appliedIndex + 1, now, true)
  }

  /**
   * Retries: a due persist retry, a gap still open after `needRetryMs`, or — until the current
   * primary said where its log ends (an empty append) — the question where it ends (an idle
   * primary sends nothing else, and an answer may have been lost).
   */
  tick (now: number): ReplicaEffects {
    if (this.awaitingSnapshot) return this.need(this.appliedIndex + 1, now, true)
    const effects = this.advance(now)
    if (effects.persist === undefined && effects.send.length === 0 && !this.endKnown && !this.persisting) {
      // Nothing heard yet: ask again every needRetryMs (need() spaces equal questions). Appends
      // heard but no end: ask again only after endRetryMs without any, so that a delta answer
      // still streaming is not asked for a second time — and in any case ENDLESS_ASK_FACTOR ×
      // endRetryMs after the last question: a joiner fed by a steady stream of gossip never
      // goes endRetryMs without an append, and would otherwise never learn where the log ends
      // (its answer's end lost) until the writes pause. A second answer only repeats entries.
      const endRetryMs = END_RETRY_FACTOR * this.opts.needRetryMs
      const askedAt = this.lastNeed?.at ?? -Infinity
      if (this.leaderLast < 0 || now - this.heardAt >= endRetryMs || now - askedAt >= ENDLESS_ASK_FACTOR * endRetryMs) return this.need(this.appliedIndex + 1, now, false)
    }
    return effects
  }
}
