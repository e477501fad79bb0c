/**
 * The peer: the public API over one store, and (unless standalone) a libp2p node with the
 * arbiter. Writes go through the {@link Sequencer} (the one place revisions are assigned, with
 * group commit) and are accepted only on the primary; reads go straight to the local store and
 * hide keys past their expiry. Lifecycle: `createPeer` opens and starts; `stop()` drains queued
 * writes, leaves the cluster cleanly (a primary hands over first), stops the node, the expiry
 * timer and compaction, and closes LevelDB.
 *
 * Not yet here (issue 4): replication of the log to secondaries, catch-up, and forwarding of
 * writes from secondaries; a write on a secondary fails with NotPrimaryError.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { Logger } from '@libp2p/logger'
import type { ConnectionGater } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { multiaddr } from '@multiformats/multiaddr'
import { COMPACTION_SLACK } from '../constants.js'
import {
  AbortError, ClusterUnavailableError, FutureRevisionError, InvalidArgumentError, NetworkError, NotPrimaryError,
  ForcePrimaryRefusedError, OperationFailedError, PeerStoppedError, ReadTimeoutError, RevisionCompactedError
} from '../errors.js'
import { ArbiterShell } from '../arbiter/shell.js'
import { resolveArbiterOptions } from '../arbiter/options.js'
import type { ArbiterEvent } from '../arbiter/types.js'
import { createNode, loadOrCreateIdentity, resolveNodeInit } from '../node/index.js'
import type { KvNode } from '../node/index.js'
import { PeerExchange } from '../net/peer-exchange.js'
import { Replication } from '../replication/shell.js'
import { Forwarder } from '../client/forwarder.js'
import type { ClientCommand } from '../client/codec.js'
import type { ReplicationMessage } from '../replication/types.js'
import { isLive } from '../core/evaluate.js'
import type { Command } from '../core/evaluate.js'
import { requestFingerprint } from '../core/request.js'
import { Sequencer } from '../core/sequencer.js'
import { resolveOptions } from '../options.js'
import type { PeerOptions, ResolvedOptions } from '../options.js'
import { LevelStore } from '../store/level-store.js'
import type { LogEntry, Store, StoredRecord } from '../store/types.js'
import type {
  AbortOptions, DeleteOptions, Entry, ExtendOptions, GetOptions, KvPeer, MemberInfo, PeerEvents, PeerStatus,
  RangeOptions, Role, SetOptions, Value, WriteResult
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

/** Extra wiring for tests: a different store, a clock, fault injection. Not for production use. */
export interface PeerInternals {
  store?: Store
  now?: () => number
  /** Drop an inbound replication frame when it returns true (lossy-link tests); `via`: the direct stream or gossip. */
  dropReplication?: (from: string, msg: ReplicationMessage, via: 'direct' | 'gossip') => boolean
  /** libp2p connection gater (partition tests refuse every connection while cut off). */
  connectionGater?: ConnectionGater
  /** Called with the libp2p node once created (tests close its connections to cut it off). */
  onNode?: (node: KvNode) => void
}

/** A kvgrid peer. Create it with {@link createPeer}. */
export class Peer extends TypedEventEmitter<PeerEvents> implements KvPeer {
  private readonly opts: ResolvedOptions
  private readonly internals: PeerInternals
  private readonly store: Store
  private readonly now: () => number
  private readonly log: Logger
  private readonly sequencer: Sequencer
  private readonly expiry: ExpirySweeper
  private compacting: Promise<void> | undefined
  private readonly lifetime = new AbortController()
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new'
  private stopping: Promise<void> | undefined
  private node?: KvNode
  private arbiter?: ArbiterShell
  private exchange?: PeerExchange
  private replication?: Replication
  private forwarder?: Forwarder
  private revisionWaiters: Array<{ revision: number, wake: () => void }> = []
  /** The `forcePrimary` start option's attempt (awaited by stop). */
  private startForce: Promise<void> | undefined

  constructor (opts: ResolvedOptions, internals: PeerInternals = {}) {
    super()
    this.opts = opts
    this.internals = internals
    if (!opts.standalone) {
      // Validate network and arbiter options before anything touches the disk.
      resolveNodeInit({ cluster: opts.cluster, listen: opts.listen, bootstrap: opts.bootstrap, mdns: opts.mdns })
      resolveArbiterOptions({ ...opts.arbiter, cluster: opts.cluster })
    }
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
      // The term replication leads (not the arbiter's latest): entries of one term come only
      // from that term's primary. Standalone: always 0.
      term: () => this.replication !== undefined ? this.replication.writeTerm() : this.arbiter === undefined ? 0 : undefined,
      ...(opts.standalone
        ? {}
        : {
            commit: async (entries: LogEntry[]) => { if (this.replication !== undefined) await this.replication.commit(entries) },
            confirm: async (index: number) => {
              if (this.replication === undefined) throw new OperationFailedError('this peer is not replicating', '', { unconfirmed: [] })
              await this.replication.confirm(index)
            },
            leadership: async () => {
              if (this.arbiter === undefined) throw new OperationFailedError('this peer has no arbiter', '')
              await this.arbiter.confirmLeadership(opts.ackTimeoutMs)
            }
          }),
      onFatal: err => { this.failStop(err) },
      onAppended: entries => {
        this.replication?.appended(entries)
        this.afterAppend(entries)
      },
      log: opts.logger.forComponent('kvgrid:sequencer')
    })
    this.expiry = new ExpirySweeper({
      store: this.store,
      // Expiry is decided by the primary and (with replication) reaches replicas as a delete.
      expire: async command => this.role === 'primary' ? await this.sequencer.submit(command, `expire:${command.key}`) : { ok: false },
      now: this.now,
      log: opts.logger.forComponent('kvgrid:expiry')
    })
  }

  /** Open the store, start the node and the arbiter, and background work. Called by {@link createPeer}. */
  async start (): Promise<void> {
    if (this.state !== 'new') return
    await mkdir(this.opts.dataDir, { recursive: true })
    await this.store.open()
    try {
      if (!this.opts.standalone) await this.startNetwork()
      await this.expiry.start()
    } catch (err) {
      await this.arbiter?.stop()
      await this.forwarder?.stop()
      await this.replication?.stop()
      await this.exchange?.stop()
      await this.node?.stop()
      await this.store.close()
      throw err
    }
    this.state = 'running'
    this.log('started in %s at revision %d', this.opts.dataDir, this.store.state.revision)
    if (this.opts.forcePrimary !== undefined && this.arbiter !== undefined) this.startForce = this.forceAtStart(this.opts.forcePrimary)
  }

  private async startNetwork (): Promise<void> {
    const o = this.opts
    const { node, resolved } = await createNode({
      privateKey: await loadOrCreateIdentity(o.dataDir),
      cluster: o.cluster,
      listen: o.listen,
      bootstrap: o.bootstrap,
      mdns: o.mdns,
      logger: o.logger,
      ...(this.internals.connectionGater !== undefined ? { connectionGater: this.internals.connectionGater } : {})
    })
    this.internals.onNode?.(node)
    if (resolved.mdnsForcedOff) this.log('mDNS is off: KVGRID_MDNS=off')
    this.node = node
    try {
      await node.start()
    } catch (err: any) {
      const text = `${String(err?.stack ?? err)} ${String(err?.cause?.stack ?? '')} ${(err?.errors ?? []).map(String).join(' ')}`
      const why = /EADDRINUSE/.test(text) ? 'the address is already in use' : /EADDRNOTAVAIL/.test(text) ? 'the address is not available on this machine' : String(err?.message ?? err).split('\n')[0].replace(/:\s*$/, '')
      throw new NetworkError(`cannot listen on ${o.listen.length > 0 ? o.listen.join(', ') : 'the default addresses'}: ${why}`, { cause: err })
    }
    this.exchange = new PeerExchange({
      node,
      cluster: o.cluster,
      log: o.logger.forComponent('kvgrid:peers'),
      // A fresh peer must not found while a lower-id peer it just heard of may still connect.
      onHeardOf: id => { this.arbiter?.peerHeardOf(id) }
    })
    await this.exchange.start()
    const seeds = new Set<string>()
    for (const b of resolved.bootstrap) {
      const id = multiaddr(b).getComponents().find(c => c.name === 'p2p')?.value
      if (id !== undefined) seeds.add(id)
    }
    this.replication = new Replication({
      node,
      store: this.store,
      cluster: o.cluster,
      sync: o.fsync,
      ackTimeoutMs: o.ackTimeoutMs,
      logger: o.logger,
      view: () => {
        const v = this.arbiter?.view()
        if (v === undefined) return undefined
        const primary = v.primary ?? v.joining
        return { self: v.self, role: v.role, term: v.term, members: this.arbiter?.members() ?? [], ...(primary !== undefined ? { primary } : {}) }
      },
      onApplied: entries => { this.afterAppend(entries) },
      onInstalled: () => { this.afterInstall() },
      onInstalling: on => { if (on) this.arbiter?.setInstalling(true); else this.logPositionToArbiter() },
      // Joining: ask the primary at once instead of on the next hello round (up to 500 ms).
      onCaughtUp: primary => { this.arbiter?.joinNow(primary) },
      // A replica that cannot persist would hold back every write: stop taking part instead.
      onFatal: err => { this.failStop(err) },
      onProgress: p => { this.safeDispatch('catchup', p) },
      ...(this.internals.dropReplication !== undefined ? { dropInbound: this.internals.dropReplication } : {})
    })
    await this.replication.start()
    this.forwarder = new Forwarder({
      node,
      logger: o.logger,
      // A write forwarded by a secondary: checked against this peer's limits, then the same
      // role-gated path as a local write.
      execute: async (command, id, _from, info) => await this.writeHere(this.recheck(command), id, undefined, info.request)
    })
    await this.forwarder.start()
    this.arbiter = new ArbiterShell({
      node,
      store: this.store,
      options: { ...o.arbiter, cluster: o.cluster, requireSeed: seeds.size > 0 },
      seeds,
      canJoin: primary => this.replication?.caughtUpWith(primary) === true,
      onEvent: event => { this.onArbiterEvent(event) },
      logger: o.logger
    })
    const { term, index } = this.store.state
    await this.arbiter.start({ term, index })
    // Peers heard of before the arbiter started.
    for (const id of this.exchange.known) this.arbiter.peerHeardOf(id)
  }

  private onArbiterEvent (event: ArbiterEvent): void {
    this.replication?.sync()
    switch (event.type) {
      case 'role':
        this.log('role %s → %s in term %d', event.previous, event.role, event.term)
        if (event.role === 'primary') this.expiry.rescan()
        this.safeDispatch('role', { role: event.role, previous: event.previous, term: event.term })
        break
      case 'primary':
        this.safeDispatch('primary', event.primary === undefined ? { term: event.term } : { primary: event.primary, term: event.term })
        break
      case 'members':
        this.safeDispatch('members', { members: event.members })
        break
      case 'conflict':
        this.log.error('peer %s belongs to cluster %s; this peer keeps its own cluster', event.peer, event.clusterId)
        break
      case 'forced':
        this.log.error('FORCED PRIMARY: left cluster %s, now sole member and primary of new cluster %s in term %d; dropped members: %s',
          event.previousClusterId, event.clusterId, event.term, event.dropped.join(',') || 'none')
        this.safeDispatch('forced', { clusterId: event.clusterId, previousClusterId: event.previousClusterId, term: event.term, dropped: event.dropped })
        break
      case 'left':
        break
    }
  }

  private safeDispatch<K extends keyof PeerEvents> (type: K, detail: PeerEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(type, { detail })
    } catch (err) {
      this.log.error('a %s listener threw: %e', type, err)
    }
  }

  /** This peer's role now. */
  get role (): Role {
    return this.arbiter?.view()?.role ?? (this.opts.standalone ? 'primary' : 'joining')
  }

  get multiaddrs (): string[] {
    return this.node?.getMultiaddrs().map(String) ?? []
  }

  async ready (options?: AbortOptions): Promise<void> {
    const signal = checkSignal(checkOptions<AbortOptions>(options, 'ready').signal)
    const isReady = (): boolean => {
      if (this.state !== 'running') throw new PeerStoppedError()
      const s = this.arbiter?.view()
      return this.opts.standalone || (s !== undefined && (s.role === 'primary' || s.role === 'secondary') && s.primary !== undefined)
    }
    if (isReady()) return
    throwIfAborted(signal)
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        try {
          if (!isReady()) return
        } catch (err) {
          done(); reject(err); return
        }
        done(); resolve()
      }
      const onAbort = (): void => { done(); reject(new AbortError('ready() was aborted')) }
      const done = (): void => {
        this.removeEventListener('role', check)
        this.removeEventListener('primary', check)
        signal?.removeEventListener('abort', onAbort)
      }
      this.addEventListener('role', check)
      this.addEventListener('primary', check)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** After a snapshot install: the store jumped to a new position. */
  private afterInstall (): void {
    this.logPositionToArbiter()
    this.wakeReaders()
  }

  /** The store is not installing (any more): the arbiter may lead again, at the store's position. */
  private logPositionToArbiter (): void {
    const { index, term } = this.store.state
    this.arbiter?.setInstalling(false)
    this.arbiter?.setLogPosition({ term, index })
  }

  private wakeReaders (): void {
    if (this.revisionWaiters.length === 0) return
    const revision = this.store.state.revision
    const ready = this.revisionWaiters.filter(w => w.revision <= revision)
    if (ready.length === 0) return
    this.revisionWaiters = this.revisionWaiters.filter(w => w.revision > revision)
    for (const w of ready) w.wake()
  }

  /** Wait until the local replica reached `revision`. */
  private async waitForRevision (revision: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.store.state.revision >= revision) return
    const timeoutMs = this.opts.minRevisionTimeoutMs
    await new Promise<void>((resolve, reject) => {
      const waiter = { revision, wake: () => { cleanup(); resolve() } }
      const timer = setTimeout(() => { cleanup(); reject(new ReadTimeoutError(revision, this.store.state.revision, timeoutMs)) }, timeoutMs)
      const onAbort = (): void => { cleanup(); reject(new AbortError()) }
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.revisionWaiters = this.revisionWaiters.filter(w => w !== waiter)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.revisionWaiters.push(waiter)
    })
  }

  private afterAppend (entries: LogEntry[]): void {
    const last = entries[entries.length - 1]
    this.arbiter?.setLogPosition({ term: last.term, index: last.index })
    this.wakeReaders()
    for (const e of entries) {
      for (const m of e.mutations) {
        if (m.type === 'put' && m.record.expiresAt !== undefined) this.expiry.notify(m.record.expiresAt)
      }
    }
    this.maybeCompact()
  }

  /**
   * Compact in the background once the history exceeds `retainRevisions` (plus slack); when a
   * compaction finishes, check again, since writes that arrived meanwhile may have made another
   * one due (otherwise an idle peer would keep what piled up while the last one ran).
   */
  private maybeCompact (): void {
    const { revision, compactedRevision } = this.store.state
    if (this.compacting !== undefined || this.lifetime.signal.aborted || this.store.installing) return
    if (revision - compactedRevision <= this.opts.retainRevisions + COMPACTION_SLACK) return
    const to = revision - this.opts.retainRevisions
    this.compacting = this.store.compact(to, { signal: this.lifetime.signal })
      .then(() => true, err => { this.log.error('compaction to %d failed: %e', to, err); return false })
      .then(ok => {
        this.compacting = undefined
        // After a failure, wait for the next append rather than retry in a loop.
        if (ok && this.state === 'running') this.maybeCompact()
      })
  }

  private checkRunning (): void {
    if (this.state !== 'running') throw new PeerStoppedError()
  }

  /** Reads are refused while a snapshot is being installed: the data is partial until then. */
  private checkReadable (): void {
    this.checkRunning()
    if (this.store.installing) throw new ClusterUnavailableError('this peer is catching up (installing a snapshot): its data is partial until it is a member; read from another peer or wait for ready()')
  }

  /** Re-check a forwarded command against this peer's own limits (the wire only bounds sizes). */
  private recheck (c: ClientCommand): Command {
    checkKey(c.key, this.opts.maxKeyBytes)
    if (c.op === 'set') {
      checkValue(c.value, this.opts.maxValueBytes)
      if (c.ifValue !== undefined) checkValue(c.ifValue, this.opts.maxValueBytes, 'ifValue')
      if (c.ifExists === true && c.ifNotExists === true) throw new InvalidArgumentError('ifExists and ifNotExists cannot both be set')
    }
    if (c.op === 'delete' && c.ifRevision !== undefined) checkInt(c.ifRevision, 'ifRevision', 1)
    return c
  }

  /**
   * A write from the API: carried out here when this peer is the primary (or standalone),
   * forwarded to the primary when it is a secondary. Without a known primary it waits for one,
   * up to the forward timeout, then fails with ClusterUnavailableError.
   */
  private async write (command: Command, id: string | undefined, signal: AbortSignal | undefined): Promise<WriteResult> {
    this.checkRunning()
    const requestId = id ?? randomUUID()
    // A request its sender may repeat carries a fingerprint in the entry it makes, so a repeat
    // is answered from that entry on whichever peer is primary then: one with an id given by
    // the caller, and one this peer forwarded (it retries with the same id when the primary
    // changes, and may be the new primary itself).
    let request = id === undefined ? undefined : requestFingerprint(requestId, command as ClientCommand)
    const arbiter = this.arbiter
    const forwarder = this.forwarder
    if (arbiter === undefined || forwarder === undefined) return await this.writeHere(command, requestId, signal, request)
    const deadline = Date.now() + this.forwardTimeoutMs
    let lastPrimary: string | undefined
    for (let attempt = 0; ; attempt++) {
      if (attempt > 4) throw new ClusterUnavailableError(`the write could not reach a primary (last tried ${lastPrimary ?? 'none'})`)
      const s = arbiter.view()
      if (s === undefined) throw new ClusterUnavailableError(`the arbiter stopped: ${arbiter.failed?.message ?? 'not started'}`)
      if (s.role === 'primary') return await this.writeHere(command, requestId, signal, request)
      const primary = s.primary ?? await this.waitForPrimary(deadline, signal)
      if (primary === s.self) {
        await new Promise(resolve => setTimeout(resolve, 20)) // becoming primary: let the role settle
        continue
      }
      if (primary === lastPrimary) throw new ClusterUnavailableError(`the write could not reach a primary (last tried ${primary})`)
      lastPrimary = primary
      request ??= requestFingerprint(requestId, command as ClientCommand)
      // Give up on this primary as soon as the arbiter names another one (it died or stepped
      // down), and retry there with the same request id.
      const switched = new AbortController()
      const onPrimary = (): void => {
        const now = this.arbiter?.view()?.primary
        if (now !== undefined && now !== primary) switched.abort()
      }
      this.addEventListener('primary', onPrimary)
      const signals = signal === undefined ? switched.signal : AbortSignal.any([signal, switched.signal])
      try {
        const r = await forwarder.forward(primary, command as ClientCommand, requestId, { timeoutMs: Math.max(1, deadline - Date.now()), signal: signals })
        return { ok: r.ok, revision: r.revision }
      } catch (err) {
        if (switched.signal.aborted && signal?.aborted !== true && Date.now() < deadline) continue
        // An election raced the write: follow the new primary with the same (idempotent) id.
        if (err instanceof NotPrimaryError && err.primary !== undefined && err.primary !== primary && Date.now() < deadline) continue
        if (err instanceof PeerStoppedError && this.state === 'running') throw new ClusterUnavailableError('the primary is stopping')
        throw err
      } finally {
        this.removeEventListener('primary', onPrimary)
      }
    }
  }

  /** How long a write on a secondary may take end to end (forwarding plus the primary's ack wait). */
  private get forwardTimeoutMs (): number {
    return this.opts.ackTimeoutMs + 2000
  }

  /** Resolve with the primary's id once one is known, or throw ClusterUnavailableError at `deadline`. */
  private async waitForPrimary (deadline: number, signal: AbortSignal | undefined): Promise<string> {
    for (;;) {
      const p = this.arbiter?.view()?.primary
      if (p !== undefined) return p
      if (Date.now() >= deadline) throw new ClusterUnavailableError(`no primary is known (this peer is ${this.arbiter?.view()?.role ?? 'stopped'})`)
      throwIfAborted(signal)
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.removeEventListener('primary', done); resolve() }
        const timer = setTimeout(done, Math.min(100, Math.max(0, deadline - Date.now())))
        this.addEventListener('primary', done)
      })
    }
  }

  /**
   * Carry out a write on this peer, which must be the primary (or standalone); `request` is the
   * fingerprint of a request that may be repeated (see Sequencer.submit).
   */
  private async writeHere (command: Command, id: string, signal: AbortSignal | undefined, request?: Uint8Array): Promise<WriteResult> {
    this.checkRunning()
    const s = this.arbiter?.view()
    if (this.arbiter !== undefined) {
      if (s === undefined) throw new ClusterUnavailableError(`the arbiter stopped: ${this.arbiter.failed?.message ?? 'not started'}`)
      if (s.role !== 'primary') {
        if (s.primary === undefined) throw new ClusterUnavailableError(`no primary is known (this peer is ${s.role})`)
        throw new NotPrimaryError(s.primary)
      }
      // A leaving primary takes no new writes, so its successor can catch up.
      if (s.handover !== undefined) throw new ClusterUnavailableError('the primary is handing over its role')
    }
    const result = await this.sequencer.submit(command, id, signal, request)
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
    const minRevision = checkInt(o.minRevision, 'minRevision', 0)
    const signal = checkSignal(o.signal)
    this.checkReadable()
    throwIfAborted(signal)
    if (minRevision !== undefined) {
      await this.waitForRevision(minRevision, signal)
      this.checkReadable()
    }
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
    this.checkReadable()
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
    const a = this.arbiter?.status()
    const network: Omit<PeerStatus, 'revision' | 'keys' | 'dataDir' | 'compactedRevision' | 'fsync' | 'pendingWrites'> = a === undefined
      ? { role: this.opts.standalone ? 'primary' : 'joining', term: 0, members: [], connections: [] }
      : {
          peerId: a.self,
          role: a.role,
          term: a.term,
          cluster: a.cluster,
          members: a.members.map(m => this.memberInfo(m.peerId, a.primary, m.lastSeenMs)),
          connections: a.connected,
          ...(a.primary !== undefined ? { primary: a.primary } : {}),
          ...(a.clusterId !== undefined ? { clusterId: a.clusterId } : {}),
          ...(a.conflict !== undefined ? { conflict: { clusterId: a.conflict.clusterId, peer: a.conflict.peer } } : {})
        }
    return {
      ...network,
      revision: s.revision,
      keys: s.keys,
      dataDir: this.opts.dataDir,
      compactedRevision: s.compactedRevision,
      fsync: this.opts.fsync,
      pendingWrites: this.sequencer.pending
    }
  }

  private memberInfo (peerId: string, primary: string | undefined, lastSeenMs: number | undefined): MemberInfo {
    const node = this.node
    const self = node?.peerId.toString() === peerId
    const addrs = node === undefined
      ? []
      : self
        ? node.getMultiaddrs().map(String)
        : this.exchange?.addressesOf(peerId) ?? []
    const info: MemberInfo = { peerId, role: peerId === primary ? 'primary' : 'secondary', addrs }
    if (lastSeenMs !== undefined) info.lastSeenMs = lastSeenMs
    return info
  }

  /**
   * This peer's storage keeps failing on the write path, so it stops taking part (fail-stop, like
   * an arbiter that cannot persist) and the others evict it (and elect a primary without it).
   * As primary it could not append a batch it had already sent to the members, and must not
   * write again in this term (the next batch would reuse those indexes); as a secondary it could
   * not persist the primary's entries for PERSIST_GIVE_UP_MS, and would hold back every write
   * (a write needs every member's ack). Reads keep working; a restart brings it back.
   */
  private failStop (err: Error): void {
    this.log.error('storage failed on the write path; this peer stops taking part in the cluster until restarted: %e', err)
    this.arbiter?.failStop(err)
  }

  /**
   * Operator override for a cluster that lost its majority (for instance the survivor of a
   * two-member cluster): this peer becomes sole member and primary of a new cluster id, keeping
   * its data. Writes acknowledged by the old cluster that this peer never received are lost, and
   * every other old member must be reset (data directory removed) before it can join again. See
   * docs/operations.md. Throws {@link ForcePrimaryRefusedError} when a live primary is reachable,
   * this peer is already primary, not a member, leaving, or standalone.
   */
  async forcePrimary (): Promise<{ clusterId: string, term: number }> {
    if (this.state !== 'running') throw new PeerStoppedError()
    if (this.arbiter === undefined) throw new ForcePrimaryRefusedError('a standalone peer is always its own primary')
    const r = await this.arbiter.forcePrimary()
    if (!r.ok) throw new ForcePrimaryRefusedError(r.reason)
    return { clusterId: r.clusterId, term: r.term }
  }

  /**
   * `forcePrimary` option: only in cluster `clusterId` (so it is one-shot: a forced peer is in a
   * new cluster); give the cluster `2 × electionTimeoutMs` to produce a primary the normal way;
   * force only if none appeared.
   */
  private async forceAtStart (clusterId: string): Promise<void> {
    const current = this.arbiter?.status()?.clusterId
    if (current !== clusterId) {
      this.log.error('forcePrimary: not forcing: this peer belongs to cluster %s, not %s', current ?? '(none)', clusterId)
      return
    }
    const waitMs = 2 * resolveArbiterOptions({ ...this.opts.arbiter, cluster: this.opts.cluster }).electionTimeoutMs
    try {
      await this.ready({ signal: AbortSignal.any([this.lifetime.signal, AbortSignal.timeout(waitMs)]) })
      this.log('forcePrimary: not forcing, primary %s is live', String(this.arbiter?.view()?.primary))
      return
    } catch {
      if (this.lifetime.signal.aborted) return
    }
    try {
      await this.forcePrimary()
    } catch (err: any) {
      this.log.error('forcePrimary: %s', err?.message ?? String(err))
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
    if (this.arbiter !== undefined) {
      const left = await this.arbiter.leave(this.opts.leaveTimeoutMs)
      if (!left) this.log('left without confirmation after %d ms', this.opts.leaveTimeoutMs)
      await this.arbiter.stop()
    }
    await this.forwarder?.stop()
    await this.replication?.stop()
    await this.exchange?.stop()
    await this.node?.stop()
    this.lifetime.abort()
    await this.startForce
    for (const w of this.revisionWaiters) w.wake()
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
