/**
 * The sequencer: the single place where revisions are assigned. Writes queue here; one pump
 * takes everything that queued while the previous batch was being written (up to
 * `maxBatchWrites`), reads the records those commands name, plans them with the pure
 * {@link plan}, and appends the resulting entries in one atomic store batch (group commit).
 * Records read while another append landed (a replica persist finishing as this peer takes
 * over) are read again, so a batch is always planned on the state its records belong to.
 *
 * The `commit` hook decides when a batch's writes are acknowledged: alone, at once; with
 * replication, when every member confirmed it. It is called as soon as the batch is planned, so
 * the members persist it while this peer does (Raft: a leader writes its own log in parallel with
 * AppendEntries); a write is answered only once both its local append and the hook are done.
 * The hook's promise is not awaited by the pump, so the next batch is written while the previous
 * waits (pipelining).
 *
 * A local append that fails after the batch was handed to the hook is retried with the same
 * entries (every {@link PERSIST_RETRY_MS}), since the members may already hold them and the next
 * batch must not reuse their indexes. If it still fails after {@link PERSIST_GIVE_UP_MS}, or this
 * peer stops leading the batch's term meanwhile, the batch fails and the sequencer fail-stops:
 * `onFatal` is called and every later write — queued ones included — is refused with
 * StorageError, so the peer can step aside for one that can write.
 *
 * Repeatable requests. A write submitted with a request fingerprint (core/request.ts) is made at
 * most once: its entry carries the fingerprint, and a repeat — while the first is still running,
 * or later on any peer whose log holds that entry (a new primary after a failover) — is answered
 * `{ ok: true, revision }` from the entry instead of being applied again, once the entry is known
 * to be on every member. For an entry of this primary's term that is the replication's ack
 * (`confirm`); for an entry of an earlier term, it is the ack of a later entry of this term (log
 * matching): the first this peer wrote in the term, or else an empty entry written for the
 * purpose (a barrier, as a Raft leader's no-op). A request whose write changed nothing (a failed
 * condition) left no entry and is evaluated again, as a retry should be; a new primary gives such
 * `ok: false` answers only once its term's first entry is on every member (see `write`).
 */
import type { Logger } from '@libp2p/logger'
import { PERSIST_GIVE_UP_MS, PERSIST_RETRY_MS } from '../constants.js'
import { AbortError, OperationFailedError, PeerStoppedError, StorageError } from '../errors.js'
import { requestKeyOf } from '../store/request-index.js'
import type { LogEntry, RequestEntry, Store, StoredRecord } from '../store/types.js'
import { plan } from './evaluate.js'
import type { Command, CommandResult, PlanItem } from './evaluate.js'


/** Reads of a batch's records before giving up when every read races an append (see `write`). */
const MAX_PLAN_READS = 8

/** Decides when entries are acknowledged (called before they are durable locally); rejects to fail them. */
export type CommitHook = (entries: LogEntry[]) => Promise<void>

/** Options of {@link Sequencer}. */
export interface SequencerInit {
  store: Store
  /** fsync every batch. */
  sync: boolean
  maxBatchWrites: number
  /** Wall clock (ms since epoch), injected for tests. */
  now?: () => number
  /**
   * Term stamped on new entries, asked once per batch; `undefined` when this peer may not write
   * now (it is no longer the primary): the batch then fails with OperationFailedError and
   * nothing of it is written. @default () => 0
   */
  term?: () => number | undefined
  /**
   * Replication. When given, each batch is handed to it before (and persisted locally while) it
   * is appended; see the file header for failures. @default none: acknowledged once durable
   */
  commit?: CommitHook
  /**
   * With `commit`: resolve once every member holds the entry at `index`, which this peer wrote in
   * its current term (the replication's acknowledgement wait); reject to fail. Used to answer a
   * repeated request from its entry. @default none: an entry in the local log is committed
   */
  confirm?: (index: number) => Promise<void>
  /**
   * With `commit`: resolve once a majority of the members confirmed, after the call, that this
   * peer still leads its term (a read barrier, as Raft's ReadIndex); reject to fail. The answers
   * of a batch that changed nothing wait for it: they rest on this peer's state, which a primary
   * cut off from the others (not stepped down yet) cannot otherwise know is still the cluster's.
   * @default none
   */
  leadership?: () => Promise<void>
  /** Called after a batch is durable (e.g. to schedule expiry). */
  onAppended?: (entries: LogEntry[]) => void
  /**
   * Called once when a batch already handed to `commit` cannot be appended locally (see the file
   * header); the sequencer then refuses every write.
   */
  onFatal?: (err: Error) => void
  log?: Logger
}

interface Pending {
  command: PlanItem
  /** Fingerprint of a repeatable request, carried by the entry the command makes. */
  request?: Uint8Array
  id: string
  resolve: (r: CommandResult) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

function rejectAll (batch: Pending[], error: (p: Pending) => Error): void {
  for (const p of batch) p.reject(error(p))
}

/** `err` as the OperationFailedError of request `id` (a non-kvgrid error becomes one too). */
function failedFor (err: any, id: string): OperationFailedError {
  return err instanceof OperationFailedError
    ? new OperationFailedError(err.message, id, { cause: err.cause, unconfirmed: err.unconfirmed })
    : new OperationFailedError(String(err?.message ?? err), id, { cause: err })
}

/** Group-commit write queue in front of a {@link Store}. */
export class Sequencer {
  private readonly store: Store
  private readonly sync: boolean
  private readonly maxBatch: number
  private readonly now: () => number
  private readonly term: () => number | undefined
  private readonly commit: CommitHook
  private readonly confirmHook?: (index: number) => Promise<void>
  private readonly leadershipHook?: () => Promise<void>
  /** First entry this peer planned in its latest term as primary (see the header). */
  private termFirst: { term: number, index: number } | undefined
  /** A term whose first entry every member acknowledged (see `write`). */
  private termConfirmed: number | undefined
  /** Repeatable requests being carried out, by fingerprint (latin1 string). */
  private readonly requests = new Map<string, Promise<CommandResult>>()
  /** A commit hook was given: batches are handed to it before the local append. */
  private readonly replicated: boolean
  private readonly onAppended?: (entries: LogEntry[]) => void
  private readonly onFatal?: (err: Error) => void
  private readonly log?: Logger
  /** Set when a batch handed to `commit` could not be appended: every write is refused. */
  private fatal: Error | undefined
  private queue: Pending[] = []
  private pumping: Promise<void> | undefined
  private stopped = false
  private readonly inflight = new Set<Promise<unknown>>()

  constructor (init: SequencerInit) {
    this.store = init.store
    this.sync = init.sync
    this.maxBatch = init.maxBatchWrites
    this.now = init.now ?? Date.now
    this.term = init.term ?? (() => 0)
    this.commit = init.commit ?? (async () => {})
    this.confirmHook = init.confirm
    this.leadershipHook = init.leadership
    this.replicated = init.commit !== undefined
    this.onAppended = init.onAppended
    this.onFatal = init.onFatal
    this.log = init.log
  }

  /** Writes queued or being committed. */
  get pending (): number {
    return this.queue.length + this.inflight.size
  }

  /**
   * Queue a command; resolves with its result once committed and acknowledged. An abort while
   * the command is still queued removes it (nothing is written) and rejects with AbortError;
   * once its batch is being written the abort no longer applies. With `request` (the fingerprint
   * of a request its sender may repeat) the write is made at most once (see the file header); a
   * repeat while the first is running shares its outcome, and its own `signal` is not applied.
   */
  async submit (command: Command, id: string, signal?: AbortSignal, request?: Uint8Array): Promise<CommandResult> {
    if (this.stopped) throw new PeerStoppedError()
    if (this.fatal !== undefined) throw this.refusal()
    if (signal?.aborted === true) throw new AbortError()
    if (request === undefined) return await this.enqueue(command, id, signal)
    // Registered before anything is awaited, so a concurrent repeat joins this one.
    const key = requestKeyOf(request)
    const running = this.requests.get(key)
    if (running !== undefined) return await running
    const mine = this.once(command, id, signal, request)
    this.requests.set(key, mine)
    try {
      return await mine
    } finally {
      if (this.requests.get(key) === mine) this.requests.delete(key)
    }
  }

  /** A repeatable request: answered from the entry it already made, else written with its fingerprint. */
  private async once (command: Command, id: string, signal: AbortSignal | undefined, request: Uint8Array): Promise<CommandResult> {
    const made = await this.store.findRequest(request)
    if (made === undefined) return await this.enqueue(command, id, signal, request)
    return await this.fromEntry(made, id)
  }

  /** The answer of a repeat whose request made the entry `made`, once every member holds it. */
  private async fromEntry (made: RequestEntry, id: string): Promise<CommandResult> {
    this.log?.trace('request %s is a repeat of entry %d: answering from it', id, made.index)
    try {
      await this.confirmed(made.index)
    } catch (err: any) {
      throw err instanceof OperationFailedError ? failedFor(err, id) : err
    }
    return { ok: true, revision: made.revision }
  }

  /**
   * The read barrier (`leadership` hook) for answers that changed nothing, begun now, after their
   * batch was planned; rejects when it fails or this peer's term moved meanwhile.
   */
  private async stillLeads (term: number): Promise<void> {
    if (this.leadershipHook === undefined) return
    await this.leadershipHook()
    if (this.term() !== term) throw new OperationFailedError(`this peer's term changed from ${term} before it confirmed it still leads`, '')
  }

  /** Keep `done` (an answer still to be given) in `inflight` until it settles, for `stop`. */
  private track (done: Promise<unknown>): void {
    this.inflight.add(done)
    void done.finally(() => this.inflight.delete(done))
  }

  /**
   * Resolve once every member holds the entry at `index` of this peer's log (see the file
   * header); rejects with OperationFailedError when that cannot be confirmed.
   */
  private async confirmed (index: number): Promise<void> {
    const confirm = this.confirmHook
    if (!this.replicated || confirm === undefined) return // alone: the local log is the commit
    const term = this.term()
    if (term === undefined) throw new OperationFailedError('this peer stopped being the primary before the write could be confirmed', '')
    const first = this.termFirst
    if (first?.term === term) {
      await confirm(Math.max(index, first.index))
      return
    }
    // Nothing written in this term yet: an empty entry, whose acknowledgement confirms the log before it.
    await this.enqueue({ op: 'barrier' }, 'barrier')
  }

  private async enqueue (command: PlanItem, id: string, signal?: AbortSignal, request?: Uint8Array): Promise<CommandResult> {
    if (this.stopped) throw new PeerStoppedError()
    if (this.fatal !== undefined) throw this.refusal()
    return await new Promise<CommandResult>((resolve, reject) => {
      const p: Pending = { command, id, resolve, reject }
      if (request !== undefined) p.request = request
      if (signal !== undefined) {
        p.signal = signal
        p.onAbort = () => {
          const i = this.queue.indexOf(p)
          if (i >= 0) {
            this.queue.splice(i, 1)
            reject(new AbortError())
          }
        }
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      this.queue.push(p)
      this.kick()
    })
  }

  private kick (): void {
    if (this.pumping !== undefined) return
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined
      if (this.queue.length > 0) this.kick()
    })
  }

  private async pump (): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      for (const p of batch) {
        if (p.onAbort !== undefined) p.signal?.removeEventListener('abort', p.onAbort)
      }
      await this.write(batch)
    }
  }

  private async write (queued: Pending[]): Promise<void> {
    let batch = queued
    if (this.fatal !== undefined) {
      rejectAll(batch, () => this.refusal())
      return
    }
    const failed = (err: any, consequence: string): void => {
      rejectAll(batch, p => new OperationFailedError(`write failed in storage: ${err?.message ?? err}${consequence}`, p.id, { cause: err }))
    }
    let term: number | undefined
    let planned: ReturnType<typeof plan> | undefined
    try {
      const named = new Set<string>()
      for (const p of batch) if (p.command.op !== 'barrier') named.add(p.command.key)
      const keys = [...named]
      // The records must be those of the state the batch is planned on: an append that lands
      // while they are read (a replica persist finishing as this peer takes over as primary)
      // makes them stale, and the entries would name wrong prior revisions. Read again then.
      // Repeatable requests are looked up again with them, on the same state: the entry of one
      // may have landed since `submit` looked (the same replica persist).
      let requests = batch.some(p => p.request !== undefined) ? batch.map(p => p.request) : undefined
      let found: Array<StoredRecord | undefined>
      let repeats: Array<RequestEntry | undefined> | undefined
      for (let reads = 1; ; reads++) {
        const index = this.store.state.index
        found = await this.store.getMany(keys)
        if (requests !== undefined) repeats = await Promise.all(requests.map(async r => r === undefined ? undefined : await this.store.findRequest(r)))
        if (this.store.state.index === index) break
        if (reads >= MAX_PLAN_READS) throw new Error(`the store kept moving while the batch was planned (${reads} reads)`)
      }
      if (repeats?.some(made => made !== undefined) === true) {
        const made = repeats
        batch.forEach((p, i) => {
          const entry = made[i]
          if (entry !== undefined) this.track(this.fromEntry(entry, p.id).then(p.resolve, p.reject))
        })
        batch = batch.filter((_, i) => made[i] === undefined)
        if (batch.length === 0) return
        requests = batch.map(p => p.request)
      }
      const records = new Map<string, StoredRecord | undefined>()
      keys.forEach((k, i) => records.set(k, found[i]))
      // Asked after the reads: a peer deposed (or re-elected in a newer term) meanwhile must not
      // stamp entries with a term it does not lead — they could clash with the real primary's.
      term = this.term()
      if (term !== undefined) planned = plan(batch.map(p => p.command), records, this.store.state, term, this.now(), requests)
    } catch (err: any) {
      this.log?.error('batch of %d writes failed: %e', batch.length, err)
      failed(err, '')
      return
    }
    if (term === undefined || planned === undefined) {
      rejectAll(batch, p => new OperationFailedError('this peer stopped being the primary before the write was made; nothing was written', p.id))
      return
    }
    const { entries, results } = planned
    if (entries.length === 0) {
      // Every condition failed: nothing to write. The answers rest on this peer's state, which
      // is the cluster's only once an entry of this term is on every member: before that, an
      // earlier primary's unacknowledged suffix this peer lacks could still be committed (if
      // that primary were elected again), and a repeated request answered `ok: false` here
      // could turn out applied after all. So a new primary answers once its term's first
      // entry is confirmed (a barrier if it has none); not confirmed: OperationFailedError.
      // And every such answer waits for a read barrier begun after it was planned: a majority
      // still following this peer in its term, so that a primary cut off from the others, not
      // yet stepped down, does not answer from a state a new primary may already have changed.
      const answer = (): void => { batch.forEach((p, i) => { p.resolve(results[i]) }) }
      if (!this.replicated || this.confirmHook === undefined) {
        answer()
        return
      }
      const done = (async () => {
        if (this.termConfirmed !== term) {
          await this.confirmed(0)
          // Confirmed for a later term of this peer: its log may have been cut back in between.
          if (this.term() !== term) throw new OperationFailedError(`this peer's term changed from ${term} before its state was confirmed`, '')
          this.termConfirmed = term
        }
        await this.stillLeads(term)
        answer()
      })().catch((err: any) => {
        rejectAll(batch, p => new OperationFailedError(`the write changed nothing, but this primary could not confirm its state: ${String(err?.message ?? err)}`, p.id, { cause: err, unconfirmed: err?.unconfirmed }))
      })
      this.track(done)
      return
    }
    if (this.termFirst?.term !== term) this.termFirst = { term, index: entries[0].index }
    let acked: Promise<void>
    let failure: Error | undefined
    if (this.replicated) {
      // Hand the batch to replication first: the members persist it while this peer does.
      acked = this.commit(entries)
      acked.catch(() => {}) // answered below, once the local append is settled
      failure = await this.persist(entries, term)
    } else {
      try {
        await this.store.append(entries, { sync: this.sync })
      } catch (err: any) {
        // Nothing was sent anywhere: the batch fails, the next one starts afresh.
        this.log?.error('batch of %d writes failed: %e', batch.length, err)
        failed(err, '')
        return
      }
      acked = this.commit(entries)
    }
    if (failure !== undefined) {
      failed(failure, '; its entry may still reach the other members and be applied there')
      return
    }
    this.onAppended?.(entries)
    const done = acked.then(
      () => {
        this.termConfirmed = term // every member holds this batch, so the term's first entry too
        batch.forEach((p, i) => p.resolve(results[i]))
      },
      async (err: any) => {
        // The writes that made entries fail. Answers that wrote nothing hold once this term is
        // confirmed, and behind a read barrier begun after planning, as for a batch that changed
        // nothing (above): the failed acknowledgement proved nothing about who leads. Until then,
        // or when the barrier fails too, they fail with the batch.
        const confirmed = this.termConfirmed === term && results.some(r => !r.ok) &&
          await this.stillLeads(term).then(() => true, () => false)
        batch.forEach((p, i) => {
          if (results[i].ok || !confirmed) p.reject(failedFor(err, p.id))
          else p.resolve(results[i])
        })
      })
    this.track(done)
  }

  /** The error every write gets once the sequencer fail-stopped. */
  private refusal (): StorageError {
    const f = this.fatal as Error
    return new StorageError(`this peer cannot write: ${f.message}`, { cause: f })
  }

  /**
   * Append `entries` durably; undefined when done. They were already handed to the commit hook,
   * so a failure is retried with the same entries; past the give-up time, or once this peer no
   * longer leads `term`, the sequencer fail-stops and the error is returned.
   */
  private async persist (entries: LogEntry[], term: number): Promise<Error | undefined> {
    const started = Date.now()
    for (;;) {
      try {
        await this.store.append(entries, { sync: this.sync })
        return undefined
      } catch (e: any) {
        const err = e instanceof Error ? e : new Error(String(e))
        const first = entries[0].index
        const last = entries[entries.length - 1].index
        if (this.term() !== term || Date.now() - started >= PERSIST_GIVE_UP_MS || this.store.state.index !== first - 1) {
          this.log?.error('entries %d..%d could not be appended; this peer stops writing: %e', first, last, err)
          if (this.fatal === undefined) {
            this.fatal = err
            rejectAll(this.queue.splice(0), () => this.refusal())
            this.onFatal?.(err)
          }
          return err
        }
        this.log?.error('appending entries %d..%d failed; retrying: %e', first, last, err)
        await new Promise(resolve => setTimeout(resolve, PERSIST_RETRY_MS))
      }
    }
  }

  /** Refuse new writes, then wait until every queued write is committed and answered. */
  async stop (): Promise<void> {
    this.stopped = true
    while (this.pumping !== undefined || this.inflight.size > 0 || this.requests.size > 0) {
      await this.pumping
      await Promise.allSettled([...this.inflight, ...this.requests.values()])
    }
  }
}
