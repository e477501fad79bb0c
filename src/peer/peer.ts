/**
 * The peer: the public API over one store. Writes go through the {@link Sequencer} (the one
 * place revisions are assigned, with group commit); reads go straight to the local store and
 * hide keys past their expiry. Lifecycle: `createPeer` opens and starts, `stop()` drains queued
 * writes, stops the expiry timer and compaction, and closes LevelDB.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { Logger } from '@libp2p/logger'
import { COMPACTION_SLACK } from '../constants.js'
import { FutureRevisionError, InvalidArgumentError, PeerStoppedError, RevisionCompactedError, AbortError } from '../errors.js'
import { isLive } from '../core/evaluate.js'
import type { Command } from '../core/evaluate.js'
import { Sequencer } from '../core/sequencer.js'
import { resolveOptions } from '../options.js'
import type { PeerOptions, ResolvedOptions } from '../options.js'
import { LevelStore } from '../store/level-store.js'
import type { LogEntry, Store, StoredRecord } from '../store/types.js'
import type {
  AbortOptions, DeleteOptions, Entry, ExtendOptions, GetOptions, KvPeer, PeerStatus, RangeOptions,
  SetOptions, Value, WriteResult
} from '../types.js'
import { ExpirySweeper } from './expiry.js'
import {
  checkBound, checkFlag, checkId, checkInt, checkKey, checkOptions, checkSignal, checkTtl, checkValue
} from './validate.js'

function toEntry (key: string, r: StoredRecord): Entry {
  const e: Entry = { key, value: r.value, revision: r.revision, createRevision: r.createRevision, version: r.version }
  if (r.expiresAt !== undefined) e.expiresAt = r.expiresAt
  return e
}

function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortError()
}

/** Extra wiring for tests: a different store or clock. */
export interface PeerInternals {
  store?: Store
  now?: () => number
}

/** A kvgrid peer. Create it with {@link createPeer}. */
export class Peer implements KvPeer {
  private readonly opts: ResolvedOptions
  private readonly store: Store
  private readonly now: () => number
  private readonly log: Logger
  private readonly sequencer: Sequencer
  private readonly expiry: ExpirySweeper
  private compacting: Promise<void> | undefined
  private readonly lifetime = new AbortController()
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new'
  private stopping: Promise<void> | undefined

  constructor (opts: ResolvedOptions, internals: PeerInternals = {}) {
    this.opts = opts
    this.log = opts.logger.forComponent('kvgrid:peer')
    this.now = internals.now ?? Date.now
    this.store = internals.store ?? new LevelStore({
      location: join(opts.dataDir, 'db'),
      dataDir: opts.dataDir,
      cacheBytes: opts.cacheBytes,
      log: opts.logger.forComponent('kvgrid:store')
    })
    this.sequencer = new Sequencer({
      store: this.store,
      sync: opts.fsync,
      maxBatchWrites: opts.maxBatchWrites,
      now: this.now,
      onAppended: entries => { this.afterAppend(entries) },
      log: opts.logger.forComponent('kvgrid:sequencer')
    })
    this.expiry = new ExpirySweeper({
      store: this.store,
      expire: async command => this.sequencer.submit(command, `expire:${command.key}`),
      now: this.now,
      log: opts.logger.forComponent('kvgrid:expiry')
    })
  }

  /** Open the store and start background work. Called by {@link createPeer}. */
  async start (): Promise<void> {
    if (this.state !== 'new') return
    await mkdir(this.opts.dataDir, { recursive: true })
    await this.store.open()
    await this.expiry.start()
    this.state = 'running'
    this.log('started in %s at revision %d', this.opts.dataDir, this.store.state.revision)
  }

  private afterAppend (entries: LogEntry[]): void {
    for (const e of entries) {
      for (const m of e.mutations) {
        if (m.type === 'put' && m.record.expiresAt !== undefined) this.expiry.notify(m.record.expiresAt)
      }
    }
    const { revision, compactedRevision } = this.store.state
    if (this.compacting === undefined && revision - compactedRevision > this.opts.retainRevisions + COMPACTION_SLACK) {
      const to = revision - this.opts.retainRevisions
      this.compacting = this.store.compact(to, { signal: this.lifetime.signal })
        .catch(err => { this.log.error('compaction to %d failed: %e', to, err) })
        .finally(() => { this.compacting = undefined })
    }
  }

  private checkRunning (): void {
    if (this.state !== 'running') throw new PeerStoppedError()
  }

  private async write (command: Command, id: string | undefined, signal: AbortSignal | undefined): Promise<WriteResult> {
    this.checkRunning()
    const result = await this.sequencer.submit(command, id ?? randomUUID(), signal)
    return { ok: result.ok, revision: result.revision }
  }

  async set (key: string, value: Value, options?: SetOptions): Promise<WriteResult> {
    const o = checkOptions<SetOptions>(options, 'set')
    const k = checkKey(key, this.opts.maxKeyBytes)
    const v = checkValue(value, this.opts.maxValueBytes)
    const command: Command = { op: 'set', key: k, value: v }
    if (checkFlag(o.ifNotExists, 'ifNotExists') === true) command.ifNotExists = true
    if (checkFlag(o.ifExists, 'ifExists') === true) command.ifExists = true
    if (command.ifExists === true && command.ifNotExists === true) throw new InvalidArgumentError('ifExists and ifNotExists cannot both be set')
    if (o.ifValue !== undefined) command.ifValue = checkValue(o.ifValue, this.opts.maxValueBytes, 'ifValue')
    const ifRevision = checkInt(o.ifRevision, 'ifRevision', 0)
    if (ifRevision !== undefined) command.ifRevision = ifRevision
    const ttl = checkTtl(o.ttlMs)
    if (ttl !== undefined && ttl > 0) command.ttlMs = ttl
    return this.write(command, checkId(o.id), checkSignal(o.signal))
  }

  async delete (key: string, options?: DeleteOptions): Promise<WriteResult> {
    const o = checkOptions<DeleteOptions>(options, 'delete')
    const command: Command = { op: 'delete', key: checkKey(key, this.opts.maxKeyBytes) }
    const ifRevision = checkInt(o.ifRevision, 'ifRevision', 1)
    if (ifRevision !== undefined) command.ifRevision = ifRevision
    return this.write(command, checkId(o.id), checkSignal(o.signal))
  }

  async extend (key: string, ttlMs: number, options?: ExtendOptions): Promise<WriteResult> {
    const o = checkOptions<ExtendOptions>(options, 'extend')
    const k = checkKey(key, this.opts.maxKeyBytes)
    const ttl = checkTtl(ttlMs)
    if (ttl === undefined) throw new InvalidArgumentError('extend needs ttlMs (0 removes the expiry)')
    return this.write({ op: 'extend', key: k, ttlMs: ttl }, checkId(o.id), checkSignal(o.signal))
  }

  async get (key: string, options?: GetOptions): Promise<Entry | undefined> {
    const o = checkOptions<GetOptions>(options, 'get')
    const k = checkKey(key, this.opts.maxKeyBytes)
    const at = checkInt(o.atRevision, 'atRevision', 0)
    const signal = checkSignal(o.signal)
    this.checkRunning()
    throwIfAborted(signal)
    let record: StoredRecord | undefined
    if (at === undefined) {
      record = await this.store.get(k)
    } else {
      const { revision, compactedRevision } = this.store.state
      if (at > revision) throw new FutureRevisionError(at, revision)
      if (at < compactedRevision) throw new RevisionCompactedError(at, compactedRevision)
      record = await this.store.getAt(k, at)
    }
    return isLive(record, this.now()) ? toEntry(k, record) : undefined
  }

  async exists (key: string, options?: AbortOptions): Promise<boolean> {
    return (await this.get(key, { signal: checkOptions<AbortOptions>(options, 'exists').signal })) !== undefined
  }

  async range (options?: RangeOptions): Promise<Entry[]> {
    const o = checkOptions<RangeOptions>(options, 'range')
    const prefix = checkBound(o.prefix, 'prefix')
    const start = checkBound(o.start, 'start')
    const end = checkBound(o.end, 'end')
    const limit = checkInt(o.limit, 'limit', 0) ?? Infinity
    const reverse = checkFlag(o.reverse, 'reverse') === true
    const signal = checkSignal(o.signal)
    this.checkRunning()
    throwIfAborted(signal)
    const out: Entry[] = []
    if (limit === 0) return out
    const now = this.now()
    for await (const [key, record] of this.store.range({ prefix, gte: start, lt: end, reverse })) {
      if (!isLive(record, now)) continue
      out.push(toEntry(key, record))
      if (out.length >= limit) break
      throwIfAborted(signal)
    }
    return out
  }

  status (): PeerStatus {
    const s = this.store.state
    return {
      role: 'primary',
      revision: s.revision,
      keys: s.keys,
      dataDir: this.opts.dataDir,
      compactedRevision: s.compactedRevision,
      fsync: this.opts.fsync,
      pendingWrites: this.sequencer.pending
    }
  }

  async stop (): Promise<void> {
    if (this.state === 'new') this.state = 'stopped'
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown (): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopping'
    await this.expiry.stop()
    await this.sequencer.stop()
    this.lifetime.abort()
    await this.compacting
    await this.store.close()
    this.state = 'stopped'
    this.log('stopped')
  }
}

/**
 * Create and start a peer on `options.dataDir`.
 *
 * @example
 * ```ts
 * const peer = await createPeer({ dataDir: './data/a' })
 * const { revision } = await peer.set('greeting', 'hello')
 * const entry = await peer.get('greeting') // { value: Uint8Array, revision, … }
 * await peer.stop()
 * ```
 */
export async function createPeer (options: PeerOptions, internals?: PeerInternals): Promise<Peer> {
  const peer = new Peer(resolveOptions(options), internals)
  await peer.start()
  return peer
}
