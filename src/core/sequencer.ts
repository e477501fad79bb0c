/**
 * The sequencer: the single place where revisions are assigned. Writes queue here; one pump
 * takes everything that queued while the previous batch was being written (up to
 * `maxBatchWrites`), reads the records those commands name, plans them with the pure
 * {@link plan}, and appends the resulting entries in one atomic store batch (group commit).
 *
 * After a batch is durable, the `commit` hook decides when its writes are acknowledged. Alone,
 * that is at once; with replication it is when every member confirmed it. The hook's promise is
 * not awaited by the pump, so the next batch is written while the previous waits (pipelining).
 */
import type { Logger } from '@libp2p/logger'
import { AbortError, OperationFailedError, PeerStoppedError } from '../errors.js'
import type { LogEntry, Store, StoredRecord } from '../store/types.js'
import { plan } from './evaluate.js'
import type { Command, CommandResult } from './evaluate.js'

/** Decides when durable entries are acknowledged; rejects to fail them. */
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
  commit?: CommitHook
  /** Called after a batch is durable (e.g. to schedule expiry). */
  onAppended?: (entries: LogEntry[]) => void
  log?: Logger
}

interface Pending {
  command: Command
  id: string
  resolve: (r: CommandResult) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/** Group-commit write queue in front of a {@link Store}. */
export class Sequencer {
  private readonly store: Store
  private readonly sync: boolean
  private readonly maxBatch: number
  private readonly now: () => number
  private readonly term: () => number | undefined
  private readonly commit: CommitHook
  private readonly onAppended?: (entries: LogEntry[]) => void
  private readonly log?: Logger
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
    this.onAppended = init.onAppended
    this.log = init.log
  }

  /** Writes queued or being committed. */
  get pending (): number {
    return this.queue.length + this.inflight.size
  }

  /**
   * Queue a command; resolves with its result once committed and acknowledged. An abort while
   * the command is still queued removes it (nothing is written) and rejects with AbortError;
   * once its batch is being written the abort no longer applies.
   */
  async submit (command: Command, id: string, signal?: AbortSignal): Promise<CommandResult> {
    if (this.stopped) throw new PeerStoppedError()
    if (signal?.aborted === true) throw new AbortError()
    return new Promise<CommandResult>((resolve, reject) => {
      const p: Pending = { command, id, resolve, reject }
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

  private async write (batch: Pending[]): Promise<void> {
    let entries: LogEntry[]
    let results: CommandResult[]
    const term = this.term()
    if (term === undefined) {
      // Deposed while these waited: stamping them with a term this peer does not lead could
      // clash with the real primary's entries of that term.
      for (const p of batch) p.reject(new OperationFailedError('this peer stopped being the primary before the write was made; nothing was written', p.id))
      return
    }
    try {
      const keys = [...new Set(batch.map(p => p.command.key))]
      const found = await this.store.getMany(keys)
      const records = new Map<string, StoredRecord | undefined>()
      keys.forEach((k, i) => records.set(k, found[i]))
      ;({ entries, results } = plan(batch.map(p => p.command), records, this.store.state, term, this.now()))
      await this.store.append(entries, { sync: this.sync })
    } catch (err: any) {
      this.log?.error('batch of %d writes failed: %e', batch.length, err)
      for (const p of batch) p.reject(new OperationFailedError(`write failed in storage: ${err?.message ?? err}`, p.id, { cause: err }))
      return
    }
    if (entries.length > 0) this.onAppended?.(entries)
    const acked = entries.length > 0 ? this.commit(entries) : Promise.resolve()
    const done = acked.then(
      () => { batch.forEach((p, i) => p.resolve(results[i])) },
      (err: any) => {
        // Only the writes that made entries can fail acknowledgement; answers that wrote
        // nothing hold regardless.
        batch.forEach((p, i) => {
          if (results[i].ok) p.reject(err instanceof OperationFailedError ? new OperationFailedError(err.message, p.id, { cause: err.cause, unconfirmed: err.unconfirmed }) : new OperationFailedError(String(err?.message ?? err), p.id, { cause: err }))
          else p.resolve(results[i])
        })
      })
    this.inflight.add(done)
    void done.finally(() => this.inflight.delete(done))
  }

  /** Refuse new writes, then wait until every queued write is committed and answered. */
  async stop (): Promise<void> {
    this.stopped = true
    while (this.pumping !== undefined || this.inflight.size > 0) {
      await this.pumping
      await Promise.all([...this.inflight])
    }
  }
}
