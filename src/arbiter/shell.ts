/**
 * The arbiter's I/O shell: drives the pure {@link ArbiterCore} with libp2p and LevelDB.
 *
 * - Frames on {@link ARBITER_PROTOCOL} through a {@link Messenger}; every inbound frame is
 *   decoded into a typed verdict, and a malformed one is logged and dropped.
 * - Connection events become `peerConnected`/`peerDisconnected` (bootstrap peers as seeds).
 * - One tick timer (`TICK_INTERVAL_MS`) drives timeouts.
 * - After every input the core's Ready is handled strictly in order: the persisted state is
 *   written durably (store meta `arbiter`, fsync) *before* any message of the same Ready is sent,
 *   then events are emitted.
 */
import type { Logger } from '@libp2p/logger'
import { randomBytes } from 'node:crypto'
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import { OperationFailedError, StorageError } from '../errors.js'
import { Messenger } from '../net/messenger.js'
import type { KvNode } from '../node/node.js'
import type { Store } from '../store/types.js'
import { ArbiterCore } from './core.js'
import { decodeMessage, encodeMessage } from './codec.js'
import { ARBITER_PROTOCOL, MAX_FRAME_BYTES, TICK_INTERVAL_MS } from './constants.js'
import type { ArbiterEvent, ArbiterOptions, ArbiterStatus, LogPosition, PersistedState } from './types.js'

/** Role, term and primary as the write path needs them. */
export interface ArbiterView {
  self: string
  role: ArbiterStatus['role']
  term: number
  primary: string | undefined
  /** A leaving primary: the successor it hands over to. */
  handover: string | undefined
  /** A joining peer: the primary it is joining. */
  joining: string | undefined
}

/** Meta name of the persisted arbiter state. */
export const ARBITER_META = 'arbiter'

/** Options of {@link ArbiterShell}. */
export interface ArbiterShellInit {
  node: KvNode
  store: Store
  options: ArbiterOptions
  /** PeerIds (strings) of the bootstrap peers: reported to the core as seeds. */
  seeds: Set<string>
  /** Called for every core event, in order, after the state they follow from is durable. */
  onEvent: (event: ArbiterEvent) => void
  logger: ComponentLogger
  /**
   * Whether this peer may ask `primary` to join now. Replication answers "once I hold what the
   * primary has", so a peer counts for acks only after catching up. @default always
   */
  canJoin?: (primary: string) => boolean
  /** Clock and randomness (injectable for tests). */
  now?: () => number
  random?: () => number
}

/** Uniform in [0, 1) from the OS CSPRNG (the core also draws the cluster id from it). */
function cryptoRandom (): number {
  return randomBytes(6).readUIntBE(0, 6) / 2 ** 48
}

function encodeState (s: PersistedState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s))
}

function decodeState (bytes: Uint8Array): PersistedState {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as PersistedState
  } catch (err: any) {
    throw new StorageError(`the persisted arbiter state is corrupt: ${err?.message}`, { cause: err })
  }
}

/** The arbiter over libp2p. start()/stop() lifecycle. */
export class ArbiterShell {
  private readonly init: ArbiterShellInit
  private readonly log: Logger
  private readonly now: () => number
  private core?: ArbiterCore
  private messenger?: Messenger
  private timer?: ReturnType<typeof setInterval>
  private chain: Promise<void> = Promise.resolve()
  private running = false
  private leftWaiters: Array<() => void> = []
  /** A forcePrimary is being persisted: {@link view} reports nothing until it is durable. */
  private forcing = false
  /** Set when the state could not be persisted: the core is stopped (fail-stop). */
  private failure?: Error
  /** {@link confirmLeadership} calls waiting for their round. */
  private confirmations: Array<{ round: number, term: number, resolve: () => void, reject: (err: Error) => void, timer?: ReturnType<typeof setTimeout> }> = []
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    this.core?.peerConnected(id, this.now(), { seed: this.init.seeds.has(id) })
    this.flush()
  }

  /** Peer exchange told us `id` is a peer of this cluster name (maybe not connected yet). */
  peerHeardOf (id: string): void {
    this.core?.peerHeardOf(id, this.now())
    this.flush()
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    this.messenger?.forget(id)
    this.core?.peerDisconnected(id, this.now())
    this.flush()
  }

  constructor (init: ArbiterShellInit) {
    this.init = init
    this.log = init.logger.forComponent('kvgrid:arbiter')
    this.now = init.now ?? Date.now
  }

  /** Load the persisted state, start the core, listen and tick. */
  async start (logPosition: LogPosition): Promise<void> {
    if (this.running) return
    const { node, store } = this.init
    const raw = await store.getMeta(ARBITER_META)
    const state = raw === undefined ? undefined : decodeState(raw)
    this.core = new ArbiterCore({
      ...this.init.options,
      self: node.peerId.toString(),
      ...(state !== undefined ? { state } : {}),
      now: this.now(),
      random: this.init.random ?? cryptoRandom,
      log: logPosition,
      logger: this.log
    })
    this.messenger = new Messenger({
      node,
      protocol: ARBITER_PROTOCOL,
      maxFrameBytes: MAX_FRAME_BYTES,
      onMessage: (from, frame) => {
        const verdict = decodeMessage(frame)
        if (!verdict.ok) {
          this.log('dropped a malformed arbiter frame from %s: %s', from, verdict.reason)
          return
        }
        this.core?.step(from, verdict.msg, this.now())
        this.flush()
      },
      log: this.init.logger.forComponent('kvgrid:arbiter:net')
    })
    await this.messenger.start()
    this.running = true
    node.addEventListener('peer:connect', this.onConnect)
    node.addEventListener('peer:disconnect', this.onDisconnect)
    for (const c of node.getConnections()) {
      const id = c.remotePeer.toString()
      this.core.peerConnected(id, this.now(), { seed: this.init.seeds.has(id) })
    }
    this.timer = setInterval(() => {
      this.core?.tick(this.now())
      this.flush()
    }, TICK_INTERVAL_MS)
    this.flush()
  }

  /** Tell the core where the local log ends (after every append). */
  setLogPosition (pos: LogPosition): void {
    this.core?.setLogPosition(pos)
  }

  /** A snapshot install began or finished (see ArbiterCore.setInstalling). */
  setInstalling (on: boolean): void {
    this.core?.setInstalling(on)
  }

  /** The core's view of the cluster; undefined before start or after a persistence failure. */
  status (): ArbiterStatus | undefined {
    if (this.failure !== undefined) return undefined
    return this.core?.status(this.now())
  }

  /**
   * The cheap part of the status, for the write path and replication (no member list, no ages);
   * undefined before start or after a persistence failure.
   */
  view (): ArbiterView | undefined {
    const core = this.core
    if (core === undefined || this.failure !== undefined || this.forcing) return undefined
    return { self: core.self, role: core.role, term: core.term, primary: core.primary, handover: core.handingOverTo, joining: core.joining }
  }

  /** A joining peer caught up with `primary`: send the held-back Join now. */
  joinNow (primary: string): void {
    if (this.core === undefined || this.failure !== undefined) return
    this.core.retryJoin(primary, this.now())
    this.flush()
  }

  /** Current members (primary included). */
  members (): string[] {
    return this.core?.membership.members ?? []
  }

  /**
   * Stop taking part for good (until restart), as when the state cannot be persisted: no more
   * messages, votes or heartbeats; the others evict this peer and elect without it.
   */
  failStop (err: Error): void {
    const core = this.core
    if (core === undefined || this.failure !== undefined) return
    this.failure = err
    this.log.error('the arbiter stops: %e', err)
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    const s = core.status(this.now())
    this.init.onEvent({ type: 'role', role: 'joining', previous: s.role, term: s.term })
  }

  /** The error that stopped the arbiter, if its state could not be persisted. */
  get failed (): Error | undefined {
    return this.failure
  }

  /**
   * Leave the cluster cleanly: a secondary announces Leave and waits for its removal, a primary
   * hands over to the most up-to-date secondary. Resolves when done or after `timeoutMs`.
   */
  async leave (timeoutMs: number): Promise<boolean> {
    const core = this.core
    if (core === undefined || !this.running) return false
    const left = new Promise<boolean>(resolve => {
      const timer = setTimeout(() => { resolve(false) }, timeoutMs)
      this.leftWaiters.push(() => { clearTimeout(timer); resolve(true) })
    })
    core.leave(this.now())
    this.flush()
    if (core.status(this.now()).left) this.resolveLeft()
    const ok = await left
    await this.chain
    return ok
  }

  /**
   * Operator override (see {@link ArbiterCore.forcePrimary}): resolves once the new cluster
   * state is durable and this peer is primary; `{ ok: false, reason }` when refused.
   */
  async forcePrimary (): Promise<{ ok: true, clusterId: string, term: number } | { ok: false, reason: string }> {
    const core = this.core
    if (core === undefined || !this.running) return { ok: false, reason: 'the arbiter is not running' }
    if (this.failure !== undefined) return { ok: false, reason: `the arbiter stopped: ${this.failure.message}` }
    // Until the new cluster id and term are durable, the write path must not see this peer as
    // primary: an acknowledged write stamped with the new term would outlive a crash that
    // brought the peer back in its old cluster and term.
    this.forcing = true
    let result: ReturnType<ArbiterCore['forcePrimary']>
    try {
      result = core.forcePrimary(this.now())
      this.flush()
      await this.chain
    } finally {
      this.forcing = false
    }
    const failed = this.failed
    if (failed !== undefined) return { ok: false, reason: `the arbiter stopped: ${failed.message}` }
    return result
  }

  private resolveLeft (): void {
    const waiters = this.leftWaiters
    this.leftWaiters = []
    for (const w of waiters) w()
  }

  private flush (): void {
    const core = this.core
    if (core === undefined || this.failure !== undefined) return
    this.settleConfirmations()
    const ready = core.takeReady()
    if (ready.persist === undefined && ready.messages.length === 0 && ready.events.length === 0) return
    this.chain = this.chain.then(async () => {
      if (this.failure !== undefined) return
      if (ready.persist !== undefined) await this.init.store.putMeta(ARBITER_META, encodeState(ready.persist))
      for (const { to, msg } of ready.messages) {
        // Held back until caught up; the core retries Join on its hello interval, or at once
        // when replication reports it caught up (joinNow).
        if (msg.type === 'join' && this.init.canJoin?.(to) === false) continue
        this.messenger?.send(to, encodeMessage(msg))
      }
      for (const event of ready.events) {
        if (event.type === 'left') this.resolveLeft()
        try {
          this.init.onEvent(event)
        } catch (err) {
          this.log.error('event handler failed: %e', err)
        }
      }
    }).catch(err => {
      // Fail-stop: later Readys assume this state is durable, so the core must not go on. The
      // messages that depended on it were not sent. The peer stops taking part (role: joining).
      this.failure = err instanceof Error ? err : new Error(String(err))
      this.log.error('could not persist the arbiter state; the arbiter stops: %e', err)
      this.settleConfirmations(`the arbiter stopped: ${this.failure.message}`)
      if (this.timer !== undefined) clearInterval(this.timer)
      this.timer = undefined
      this.init.onEvent({ type: 'role', role: 'joining', previous: core.status(this.now()).role, term: core.status(this.now()).term })
    })
  }

  /**
   * Resolve once a majority of the members (this peer included) confirmed, after this call, that
   * this peer is still their primary in its term (ArbiterCore.startConfirmation: a read barrier,
   * as Raft's ReadIndex): what this peer read before calling was then the cluster's current
   * state. Rejects with OperationFailedError when this peer is not the primary, stops being it,
   * or is not confirmed within `timeoutMs`.
   */
  async confirmLeadership (timeoutMs: number): Promise<void> {
    const core = this.core
    if (core === undefined || !this.running || this.failure !== undefined) throw new OperationFailedError('the arbiter is not running', '')
    const now = this.now()
    const round = core.startConfirmation(now)
    if (round === undefined) throw new OperationFailedError('this peer is not the primary', '')
    const term = core.status(now).term
    await new Promise<void>((resolve, reject) => {
      const w: ArbiterShell['confirmations'][number] = { round, term, resolve, reject }
      w.timer = setTimeout(() => {
        this.confirmations = this.confirmations.filter(x => x !== w)
        reject(new OperationFailedError(`a majority of the members did not confirm this primary within ${timeoutMs} ms`, ''))
      }, timeoutMs)
      this.confirmations.push(w)
      this.flush() // sends the round's heartbeats; settles at once in a one-member cluster
    })
  }

  /** Settle the confirmation waiters: confirmed, or failed when this peer no longer leads their term. */
  private settleConfirmations (reason?: string): void {
    if (this.confirmations.length === 0) return
    const core = this.core
    const s = core?.status(this.now())
    const confirmed = core?.confirmedRound() ?? 0
    this.confirmations = this.confirmations.filter(w => {
      const lost = reason ?? (s === undefined || s.role !== 'primary' || s.term !== w.term ? 'this peer stopped being the primary before it could confirm it still leads' : undefined)
      if (lost === undefined && confirmed < w.round) return true
      clearTimeout(w.timer)
      if (lost === undefined) w.resolve()
      else w.reject(new OperationFailedError(lost, ''))
      return false
    })
  }

  /** Stop ticking and listening. Does not leave the cluster (see {@link leave}). */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.settleConfirmations('the arbiter stopped')
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.init.node.removeEventListener('peer:connect', this.onConnect)
    this.init.node.removeEventListener('peer:disconnect', this.onDisconnect)
    await this.chain
    await this.messenger?.stop()
    this.resolveLeft()
  }
}
