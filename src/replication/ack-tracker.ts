/**
 * Primary side of replication, pure: which writes are acknowledged by every member.
 *
 * Each group-committed batch waits for every current secondary to report (cumulative Ack) that
 * it durably holds the batch's last entry. Only acks whose entry term is the primary's own term
 * count: a replica's entry at index i with the primary's term is the primary's entry (one
 * primary per term), while an entry of an older term at an index the primary wrote in its term
 * is a diverged suffix and proves nothing. A batch not confirmed by its deadline fails with the
 * members that did not confirm. A member removed from the membership no longer holds any batch
 * back; a member added while batches wait is not awaited by them (it was not a member when they
 * were written) but is by every later batch.
 *
 * No timers: the shell calls `tick(now)`; one deadline check per tick covers every batch.
 */

/** How often a new member that has not confirmed its starting point is told again where the log ends. */
export const REANNOUNCE_MS = 500

/** One batch waiting for acknowledgements. */
interface Waiter {
  last: number
  waiting: Set<string>
  deadline: number
  resolve: () => void
  reject: (unconfirmed: string[]) => void
}

/** A member that should get missing entries pushed to it directly. */
export interface RepairNeed {
  member: string
  /** First index it lacks. */
  from: number
}

/** Options of {@link AckTracker}. */
export interface AckTrackerInit {
  /** The primary's term: only acks of entries of this term count. */
  term: number
  /** Secondaries to wait for (the primary itself excluded). */
  members: string[]
  /** Index of the primary's last entry when it took office. */
  lastIndex: number
  timeoutMs: number
  repairAfterMs: number
  now: number
}

/** Tracks cumulative acks per member and resolves batches once everyone confirmed them. */
export class AckTracker {
  readonly term: number
  private members: Set<string>
  private readonly acked = new Map<string, number>()
  /**
   * Where repair pushes start for a member that has not acked yet in this term: the primary's
   * last index when the term (or the membership) began. A member that lacks older entries sees
   * the gap on the next append and asks for them itself (Need).
   */
  private readonly floor = new Map<string, number>()
  private readonly lastProgress = new Map<string, number>()
  private readonly lastPush = new Map<string, number>()
  private waiters: Waiter[] = []
  /** New members to tell where the log ends (their catch-up may have missed the last writes). */
  private readonly announce = new Set<string>()
  /**
   * New members not yet known to hold what they were assumed to hold when added (their floor):
   * told again where the log ends every {@link REANNOUNCE_MS} while quiet, since the first telling
   * can be lost, and with the primary idle nothing else would show them what they lack.
   */
  private readonly unconfirmed = new Set<string>()
  private last: number
  private readonly timeoutMs: number
  private readonly repairAfterMs: number

  constructor (init: AckTrackerInit) {
    this.term = init.term
    this.members = new Set(init.members)
    this.last = init.lastIndex
    this.timeoutMs = init.timeoutMs
    this.repairAfterMs = init.repairAfterMs
    for (const m of this.members) {
      this.lastProgress.set(m, init.now)
      this.floor.set(m, init.lastIndex)
    }
  }

  /** Index of the primary's last entry appended durably (what repair and Needs can serve). */
  get lastIndex (): number {
    return this.last
  }

  /** The secondaries whose acks count. */
  get memberIds (): string[] {
    return [...this.members]
  }

  /** Highest index `member` confirmed in this term (0 when none). */
  ackedBy (member: string): number {
    return this.acked.get(member) ?? 0
  }

  /** Batches waiting. */
  get pending (): number {
    return this.waiters.length
  }

  /**
   * A batch ending at `last` was sent to the members (it may still be on its way to the local
   * disk): resolve once every current member acked it, or reject with the unconfirmed members at
   * `now + timeoutMs`. Call {@link appended} once it is durable locally.
   */
  track (last: number, now: number, resolve: () => void, reject: (unconfirmed: string[]) => void): void {
    const waiting = new Set([...this.members].filter(m => this.ackedBy(m) < last))
    if (waiting.size === 0) {
      resolve()
      return
    }
    this.waiters.push({ last, waiting, deadline: now + this.timeoutMs, resolve, reject })
  }

  /**
   * The primary's log is durable up to `last`. Only entries up to there are repaired, announced
   * to new members and counted as a new member's starting point: a Need is answered from the
   * store, which must already hold them.
   */
  appended (last: number): void {
    this.last = Math.max(this.last, last)
  }

  /** A cumulative ack from `member`. Acks of other terms' entries are ignored. */
  onAck (member: string, index: number, entryTerm: number, now: number): void {
    if (!this.members.has(member)) return
    if (index >= (this.floor.get(member) ?? 0)) this.unconfirmed.delete(member) // it holds its floor (whatever the entry's term)
    if (entryTerm !== this.term) return
    if (index <= this.ackedBy(member)) return
    this.acked.set(member, index)
    this.lastProgress.set(member, now)
    this.settle(member, index)
  }

  private settle (member: string, index: number): void {
    const done: Waiter[] = []
    for (const w of this.waiters) {
      if (w.last <= index) w.waiting.delete(member)
      if (w.waiting.size === 0) done.push(w)
    }
    if (done.length === 0) return
    this.waiters = this.waiters.filter(w => w.waiting.size > 0)
    for (const w of done) w.resolve()
  }

  /** The membership changed: stop waiting for removed members; new ones count for later batches. */
  setMembers (members: string[], now: number): void {
    const next = new Set(members)
    for (const m of next) {
      if (this.members.has(m)) continue
      this.lastProgress.set(m, now)
      this.floor.set(m, this.last)
      this.announce.add(m)
      this.unconfirmed.add(m)
    }
    const removed = [...this.members].filter(m => !next.has(m))
    this.members = next
    for (const m of removed) {
      this.acked.delete(m)
      this.floor.delete(m)
      this.announce.delete(m)
      this.unconfirmed.delete(m)
      this.lastProgress.delete(m)
      this.lastPush.delete(m)
      this.settle(m, Number.MAX_SAFE_INTEGER)
    }
  }

  /**
   * Fail the batches whose deadline passed, and list the members that lag behind the primary's
   * log without progress for `repairAfterMs` (each at most once per `repairAfterMs`).
   */
  tick (now: number): RepairNeed[] {
    const expired = this.waiters.filter(w => w.deadline <= now)
    if (expired.length > 0) {
      this.waiters = this.waiters.filter(w => w.deadline > now)
      for (const w of expired) w.reject([...w.waiting])
    }
    const needs: RepairNeed[] = []
    // `from` past the log: the shell answers with an empty append naming the last index, so a
    // member that lacks anything asks for it.
    for (const m of this.announce) {
      needs.push({ member: m, from: this.last + 1 })
      this.lastPush.set(m, now)
    }
    this.announce.clear()
    for (const m of this.unconfirmed) {
      if (now - Math.max(this.lastProgress.get(m) ?? 0, this.lastPush.get(m) ?? 0) < REANNOUNCE_MS) continue
      this.lastPush.set(m, now)
      needs.push({ member: m, from: this.last + 1 })
    }
    for (const m of this.members) {
      const acked = Math.max(this.ackedBy(m), this.floor.get(m) ?? 0)
      if (acked >= this.last) continue
      const quietSince = Math.max(this.lastProgress.get(m) ?? 0, this.lastPush.get(m) ?? 0)
      if (now - quietSince < this.repairAfterMs) continue
      this.lastPush.set(m, now)
      needs.push({ member: m, from: acked + 1 })
    }
    return needs
  }

  /** The primary stepped down: fail everything still waiting. */
  close (): void {
    const all = this.waiters
    this.waiters = []
    for (const w of all) w.reject([...w.waiting])
  }
}
