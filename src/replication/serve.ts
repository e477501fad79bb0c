/**
 * What a primary sends from its store: answers to a member's Need (a delta from the log, "you are
 * up to date", or a snapshot) and the coalesced gossip of its batches. Transport-free: callers
 * pass a `send`; the libp2p shell and the fault simulation's port (test/helpers/sim-peer.ts)
 * share it, so the simulation exercises this very code.
 */
import { storedLogEntry } from '../store/codec.js'
import type { RawLogEntry, Store } from '../store/types.js'
import { FRESH_DELTA_MAX_ENTRIES, MAX_BATCH_BYTES, SNAPSHOT_CHUNK_BYTES, SNAPSHOT_CHUNK_RECORDS, SNAPSHOT_CHUNK_REQUESTS } from './constants.js'
import type { AppendMessage, ReplicationMessage } from './types.js'

/** Most bytes of entries in one gossip message; beyond it the pending window starts over. */
export const MAX_GOSSIP_BYTES = 1024 * 1024
/** Gossip publishes at most once per this interval (coalescing every batch in between). */
export const GOSSIP_INTERVAL_MS = 50

/** Term of the entry at `index` (0 for index 0), or undefined when compacted away. */
export async function termAt (store: Store, index: number): Promise<number | undefined> {
  if (index === 0) return 0
  const s = store.state
  if (index === s.index) return s.term
  const [e] = await store.readLogRaw(index, 1)
  return e?.index === index ? e.term : undefined
}

/**
 * How to answer `need { from, snapshot }`: a snapshot when asked for one, when `from` is below the
 * log floor (compacted), or when a fresh peer (`from = 1`) would replay more than
 * FRESH_DELTA_MAX_ENTRIES entries; "up to date" when `from` is past the log; else a delta.
 */
export function needAnswer (store: Store, from: number, snapshot: boolean): 'snapshot' | 'up-to-date' | 'delta' {
  const { firstLogIndex, index: last } = store.state
  if (snapshot || from < firstLogIndex || (from === 1 && last - from + 1 > FRESH_DELTA_MAX_ENTRIES)) return 'snapshot'
  return from > last ? 'up-to-date' : 'delta'
}

/** Most entries in one append of a delta answer. */
export const DELTA_APPEND_ENTRIES = 4096

/**
 * Send the log from `from` to the store's end (its index when called) in appends of at most
 * DELTA_APPEND_ENTRIES entries and about MAX_BATCH_BYTES of entry encodings, while `leading()`,
 * then an empty append naming the last one ("your log ends here", as {@link upToDate}); false
 * when the log no longer holds `from` (compacted meanwhile): the caller sends a snapshot instead.
 *
 * Entries are read as stored ({@link Store.readLogRaw}) and sent as {@link storedLogEntry}s, so
 * encoding an append copies their bytes: nothing is decoded or re-encoded on the primary (the
 * receiver decodes and checks every entry). The next append's entries are read while the
 * current one is sent.
 */
export async function sendDelta (store: Store, term: number, from: number, send: (m: AppendMessage) => void, leading: () => boolean): Promise<boolean> {
  const last = store.state.index
  let prevTerm = await termAt(store, from - 1)
  if (prevTerm === undefined) return false
  // One read ahead, settled with the error rather than rejecting (one left behind is never unhandled).
  const read = async (at: number): Promise<RawLogEntry[] | Error> =>
    store.readLogRaw(at, Math.min(DELTA_APPEND_ENTRIES, last - at + 1), MAX_BATCH_BYTES).catch((err: any) => err instanceof Error ? err : new Error(String(err)))
  let next = from
  let ahead = next <= last ? read(next) : undefined
  try {
    while (ahead !== undefined && leading()) {
      const raws = await ahead
      ahead = undefined
      if (raws instanceof Error) throw raws
      const end = next + raws.length
      if (raws.length === 0 || raws[0].index !== next || raws[raws.length - 1].index !== end - 1) return false
      if (end <= last) ahead = read(end)
      send({ type: 'append', term, prevIndex: next - 1, prevTerm, entries: raws.map(storedLogEntry) })
      prevTerm = raws[raws.length - 1].term
      next = end
    }
  } finally {
    await ahead // a read still running ends before the caller moves on
  }
  // "Your log ends here": the replica learns the answer is complete (it may join once it holds it).
  if (next > last) send({ type: 'append', term, prevIndex: last, prevTerm, entries: [] })
  return true
}

/** "Your log ends here": an empty append naming the store's last entry. */
export function upToDate (store: Store, term: number): AppendMessage {
  return { type: 'append', term, prevIndex: store.state.index, prevTerm: store.state.term, entries: [] }
}

/**
 * Stream a point-in-time snapshot of `store`: snapshot-begin, chunks of at most
 * SNAPSHOT_CHUNK_RECORDS records and about SNAPSHOT_CHUNK_BYTES bytes in key order (packed rows
 * copied from the store, never decoded), the request rows as of the same instant (at most
 * SNAPSHOT_CHUNK_REQUESTS per message: the replica, whose log starts after the snapshot, still
 * recognises repeats of the writes in it), snapshot-end with both counts. Chunks are sent as they
 * are read, without waiting for the receiver (the transport's queue paces them). Stops (without
 * an end) once `leading()` turns false; errors are thrown after the snapshot is closed.
 */
export async function sendSnapshot (store: Store, term: number, send: (m: ReplicationMessage) => void, leading: () => boolean): Promise<void> {
  const snap = store.snapshot()
  try {
    const { index, term: entryTerm, revision, keys } = snap.state
    send({ type: 'snapshot-begin', term, index, entryTerm, revision, keys })
    let count = 0
    for await (const records of snap.packed({ maxRecords: SNAPSHOT_CHUNK_RECORDS, maxBytes: SNAPSHOT_CHUNK_BYTES })) {
      send({ type: 'snapshot-chunk', term, index, records })
      count += records.count
      if (!leading()) return
    }
    let requests = 0
    for await (const rows of snap.requests(SNAPSHOT_CHUNK_REQUESTS)) {
      send({ type: 'snapshot-requests', term, index, rows })
      requests += rows.length
      if (!leading()) return
    }
    send({ type: 'snapshot-end', term, index, count, requests })
  } finally {
    await snap.close()
  }
}

/**
 * The primary's pending gossip: every batch since the last publish, as one append. Members
 * already have the entries from their direct streams (duplicates are ignored); gossip is a
 * second path, and keeps subscribed non-members near the head.
 */
export class GossipBuffer {
  private pending?: { msg: AppendMessage, bytes: number }
  private publishedAt = 0

  /** Add a batch; it starts a new message when too much is pending or it does not continue it. */
  add (msg: AppendMessage, bytes: number): void {
    const g = this.pending
    if (g === undefined || g.bytes + bytes > MAX_GOSSIP_BYTES || !this.continues(g.msg, msg)) {
      // A frame must be contiguous, or every receiver's codec refuses it.
      this.pending = { msg: { ...msg, entries: [...msg.entries] }, bytes }
    } else {
      g.msg.entries.push(...msg.entries)
      g.bytes += bytes
    }
  }

  /** Whether `next` is the batch right after `pending` in the same term. */
  protected continues (pending: AppendMessage, next: AppendMessage): boolean {
    return pending.term === next.term && pending.prevIndex + pending.entries.length === next.prevIndex
  }

  /** Drop what is pending (a new term as primary starts afresh). */
  clear (): void {
    this.pending = undefined
  }

  /** The message to publish now, if any and if GOSSIP_INTERVAL_MS passed since the last one. */
  take (now: number): AppendMessage | undefined {
    const g = this.pending
    if (g === undefined || now - this.publishedAt < GOSSIP_INTERVAL_MS) return undefined
    this.pending = undefined
    this.publishedAt = now
    return g.msg
  }
}

/**
 * Snapshot transfers in progress, per receiving peer, and the latest Need each sent meanwhile.
 * A Need that arrives while a snapshot to that peer is still being sent — typically the
 * replica's "where does your log end now?" after installing, racing the end of the send — is
 * kept and answered once the send is over, unless its answer would be another snapshot (a Need
 * from before the transfer; a replica that really needs another snapshot asks again).
 */
export class SnapshotSends {
  /** Peers a snapshot is being sent to, each with the Need kept for after it (if any). */
  private readonly sending = new Map<string, { from: number, snapshot: boolean } | undefined>()

  /** Whether a snapshot to `to` is being sent. */
  has (to: string): boolean {
    return this.sending.has(to)
  }

  /** Keep this Need for later when a snapshot to `to` is being sent (true), else false. */
  defer (to: string, from: number, snapshot: boolean): boolean {
    if (!this.sending.has(to)) return false
    this.sending.set(to, { from, snapshot })
    return true
  }

  /** Start a send to `to`; false when one is already in progress. */
  begin (to: string): boolean {
    if (this.sending.has(to)) return false
    this.sending.set(to, undefined)
    return true
  }

  /** The send to `to` is over: the Need kept meanwhile, if any. */
  end (to: string): { from: number, snapshot: boolean } | undefined {
    const need = this.sending.get(to)
    this.sending.delete(to)
    return need
  }
}

/** What {@link answerNeed} needs: the primary's store and term, and the way to one peer. */
export interface NeedContext {
  store: Store
  /** The term of the primary answering. */
  term: number
  /** Send to the peer that asked. */
  send: (m: ReplicationMessage) => void
  /** Still the primary of `term`; the answer stops once false. */
  leading: () => boolean
  sends: SnapshotSends
  /** A snapshot send starts (for a log line). */
  onSnapshot?: () => void
  /** A snapshot send failed (it is then abandoned; the replica asks again). */
  onSnapshotError: (err: unknown) => void
}

/**
 * Answer `need { from, snapshot }` from `to` (see {@link needAnswer}): "up to date", a delta, or
 * a snapshot (also when the log was compacted while the delta was read). A Need that arrives
 * while a snapshot to `to` is being sent waits for it (see {@link SnapshotSends}).
 */
export async function answerNeed (ctx: NeedContext, to: string, from: number, snapshot: boolean): Promise<void> {
  if (ctx.sends.defer(to, from, snapshot)) return
  const answer = needAnswer(ctx.store, from, snapshot)
  if (answer === 'up-to-date') ctx.send(upToDate(ctx.store, ctx.term))
  else if (answer === 'snapshot' || !await sendDelta(ctx.store, ctx.term, from, ctx.send, ctx.leading)) await snapshotTo(ctx, to)
}

async function snapshotTo (ctx: NeedContext, to: string): Promise<void> {
  if (!ctx.sends.begin(to)) return
  let later: { from: number, snapshot: boolean } | undefined
  try {
    ctx.onSnapshot?.()
    await sendSnapshot(ctx.store, ctx.term, ctx.send, ctx.leading)
  } catch (err) {
    ctx.onSnapshotError(err)
  } finally {
    later = ctx.sends.end(to)
  }
  if (later !== undefined && ctx.leading() && needAnswer(ctx.store, later.from, later.snapshot) !== 'snapshot') {
    await answerNeed(ctx, to, later.from, later.snapshot)
  }
}
