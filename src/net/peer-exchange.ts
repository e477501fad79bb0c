/**
 * Peer exchange: keeps the peers of one cluster fully connected. A kvgrid cluster is a small
 * full mesh — the primary heartbeats every member, a candidate asks every member for a vote —
 * but discovery only guarantees that each peer reaches *some* other peer (one bootstrap
 * address, or whoever mDNS found first). So peers tell each other whom they know.
 *
 * Protocol `/kvgrid/peers/1.0.0`, one frame per message:
 *   u8 version(1) · string cluster · varint n · n × (string peerId · varint k · k × string multiaddr)
 * When identify shows that a newly connected peer speaks the protocol, each side sends the
 * list of the same-cluster peers it knows (itself first, with its listen addresses). A receiver
 * ignores lists of another cluster name, records the sender as same-cluster, adds the addresses
 * to its peer store and dials peers it is not connected to. When it learns of a new
 * same-cluster peer it sends its updated list to the others, so the mesh closes transitively.
 *
 * Reconnection: a same-cluster peer this node was connected to is redialled while it is not
 * connected (a LAN blip, a sleeping laptop, a healed partition), first after
 * {@link REDIAL_MIN_MS}, then backing off exponentially up to {@link REDIAL_MAX_MS}; a connection
 * that lasts resets it. After {@link REDIAL_GIVE_UP} failures in a row the peer is forgotten
 * (discovery, bootstrap and peer lists bring it back if it returns). Ids only heard of in peer
 * lists are dialled once, never redialled.
 */
import type { Logger } from '@libp2p/logger'
import type { IdentifyResult, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Reader, Writer } from '../codec/bytes.js'
import type { KvNode } from '../node/node.js'
import { Messenger } from './messenger.js'

/** Protocol id of peer exchange. */
export const PEER_EXCHANGE_PROTOCOL = '/kvgrid/peers/1.0.0'
/** Limits of one message (a LAN cluster is small; anything bigger is refused). */
const MAX_PEERS = 256
const MAX_ADDRS = 16
const MAX_ADDR_BYTES = 256
const MAX_FRAME = 128 * 1024
/** First redial of a disconnected same-cluster peer, and the backoff's ceiling. */
export const REDIAL_MIN_MS = 500
export const REDIAL_MAX_MS = 30_000
/** Consecutive failed redials after which a peer is no longer redialled (about 10 minutes). */
export const REDIAL_GIVE_UP = 25
/** Period of the redial check. */
const REDIAL_TICK_MS = 250
/** Timeout of one redial attempt. */
const REDIAL_TIMEOUT_MS = 5000

/** One known peer. */
export interface PeerRecord {
  id: string
  addrs: string[]
}

/** A peer-exchange message. */
export interface PeerList {
  cluster: string
  peers: PeerRecord[]
}

/** Encode a peer list. */
export function encodePeerList (m: PeerList): Uint8Array {
  const w = new Writer(256).u8(1).string(m.cluster).varint(m.peers.length)
  for (const p of m.peers) {
    w.string(p.id).varint(p.addrs.length)
    for (const a of p.addrs) w.string(a)
  }
  return w.finish()
}

/** Decode a peer list; undefined when malformed or over the limits. */
export function decodePeerList (bytes: Uint8Array): PeerList | undefined {
  try {
    const r = new Reader(bytes)
    if (r.u8() !== 1) return undefined
    const cluster = r.string(64)
    const n = r.varint()
    if (n > MAX_PEERS) return undefined
    const peers: PeerRecord[] = []
    for (let i = 0; i < n; i++) {
      const id = r.string(128)
      const k = r.varint()
      if (k > MAX_ADDRS) return undefined
      const addrs: string[] = []
      for (let j = 0; j < k; j++) addrs.push(r.string(MAX_ADDR_BYTES))
      peers.push({ id, addrs })
    }
    r.end()
    return { cluster, peers }
  } catch {
    return undefined
  }
}

/** Options of {@link PeerExchange}. */
export interface PeerExchangeInit {
  node: KvNode
  cluster: string
  log?: Logger
  /** Called with each peer id of this cluster name first learned from another peer's list. */
  onHeardOf?: (id: string) => void
}

/** Full-mesh maintenance for one cluster. start()/stop() lifecycle. */
export class PeerExchange {
  private readonly node: KvNode
  private readonly cluster: string
  private readonly log?: Logger
  private readonly onHeardOf?: (id: string) => void
  private readonly messenger: Messenger
  private readonly sameCluster = new Set<string>()
  /** Listen addresses by peer, from identify and from peer lists (for status). */
  private readonly listenAddrs = new Map<string, string[]>()
  private running = false
  /** Redial schedule of disconnected same-cluster peers. */
  private readonly redial = new Map<string, { at: number, delay: number, dialing: boolean, failures: number }>()
  /** Same-cluster peers this node was connected to (the only ones it redials), with when. */
  private readonly connectedAt = new Map<string, number>()
  private timer?: ReturnType<typeof setInterval>
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const id = evt.detail.peerId.toString()
    this.listenAddrs.set(id, evt.detail.listenAddrs.map(a => `${a.toString()}/p2p/${id}`).slice(0, MAX_ADDRS))
    if (evt.detail.protocols.includes(PEER_EXCHANGE_PROTOCOL)) void this.sendTo(id)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.messenger.forget(evt.detail.toString())
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    this.connectedAt.set(id, Date.now())
    // A connection that lasted resets the backoff; one that drops at once (flapping) keeps it.
    const r = this.redial.get(id)
    if (r !== undefined) r.dialing = false
  }

  constructor (init: PeerExchangeInit) {
    this.node = init.node
    this.cluster = init.cluster
    this.log = init.log
    this.onHeardOf = init.onHeardOf
    this.messenger = new Messenger({
      node: init.node,
      protocol: PEER_EXCHANGE_PROTOCOL,
      maxFrameBytes: MAX_FRAME,
      onMessage: (from, frame) => { this.receive(from, frame) },
      ...(init.log !== undefined ? { log: init.log } : {})
    })
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.messenger.start()
    this.node.addEventListener('peer:identify', this.onIdentify)
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.node.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => { this.redialDisconnected(Date.now()) }, REDIAL_TICK_MS)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.node.removeEventListener('peer:identify', this.onIdentify)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    this.node.removeEventListener('peer:connect', this.onConnect)
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.redial.clear()
    this.connectedAt.clear()
    await this.messenger.stop()
  }

  /** Dialable addresses last learned for a peer (identify or a peer list); [] when unknown. */
  addressesOf (id: string): string[] {
    return this.listenAddrs.get(id) ?? []
  }

  /** Same-cluster peers learned so far (for status and tests). */
  get known (): string[] {
    return [...this.sameCluster]
  }

  /** Dial every known same-cluster peer that is not connected and whose backoff has passed. */
  private redialDisconnected (now: number): void {
    for (const [id, since] of this.connectedAt) {
      if (!this.sameCluster.has(id)) continue
      let peerId: PeerId
      try { peerId = peerIdFromString(id) } catch { continue }
      let r = this.redial.get(id)
      if (this.node.getConnections(peerId).length > 0) {
        // Connected for a while: forget the backoff.
        if (r !== undefined && !r.dialing && now - since > REDIAL_MAX_MS) this.redial.delete(id)
        continue
      }
      if (r === undefined) {
        r = { at: now + REDIAL_MIN_MS, delay: REDIAL_MIN_MS, dialing: false, failures: 0 }
        this.redial.set(id, r)
      }
      if (r.dialing || now < r.at) continue
      const entry = r
      entry.dialing = true
      // Whatever happens, the next attempt (if the connection drops again) waits longer.
      entry.delay = Math.min(REDIAL_MAX_MS, entry.delay * 2)
      entry.at = now + entry.delay
      this.node.dial(peerId, { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) })
        .then(() => { entry.dialing = false; entry.failures = 0 })
        .catch(err => {
          entry.dialing = false
          entry.failures++
          entry.at = Date.now() + entry.delay
          if (entry.failures >= REDIAL_GIVE_UP) {
            this.log?.('giving up redialling %s after %d failures', id, entry.failures)
            this.redial.delete(id)
            this.connectedAt.delete(id)
            return
          }
          this.log?.('redial of %s failed (next in %d ms): %e', id, entry.delay, err)
        })
    }
  }

  private async addrsOf (id: string): Promise<string[]> {
    try {
      const p = await this.node.peerStore.get(peerIdFromString(id))
      return p.addresses.map(a => a.multiaddr.toString()).filter(a => a.length <= MAX_ADDR_BYTES).slice(0, MAX_ADDRS)
    } catch {
      return []
    }
  }

  private async snapshot (): Promise<PeerList> {
    const self = this.node.peerId.toString()
    const peers: PeerRecord[] = [{ id: self, addrs: this.node.getMultiaddrs().map(String).slice(0, MAX_ADDRS) }]
    for (const id of this.sameCluster) {
      if (peers.length >= MAX_PEERS) break
      if (this.node.getConnections(peerIdFromString(id)).length === 0) continue
      const addrs = await this.addrsOf(id)
      if (addrs.length > 0) peers.push({ id, addrs })
    }
    return { cluster: this.cluster, peers }
  }

  private async sendTo (id: string): Promise<void> {
    if (!this.running) return
    this.messenger.send(id, encodePeerList(await this.snapshot()))
  }

  private receive (from: string, frame: Uint8Array): void {
    const list = decodePeerList(frame)
    if (list === undefined) {
      this.log?.('dropped a malformed peer list from %s', from)
      return
    }
    if (list.cluster !== this.cluster) return
    const self = this.node.peerId.toString()
    let learned = !this.sameCluster.has(from)
    this.sameCluster.add(from)
    for (const p of list.peers) {
      if (p.id === self || p.id === from) continue
      let peerId: PeerId
      let addrs: Multiaddr[]
      try {
        peerId = peerIdFromString(p.id)
        addrs = p.addrs.map(a => multiaddr(a))
      } catch {
        continue
      }
      if (!this.sameCluster.has(p.id)) {
        learned = true
        this.onHeardOf?.(p.id)
      }
      this.sameCluster.add(p.id)
      if (!this.listenAddrs.has(p.id)) this.listenAddrs.set(p.id, p.addrs)
      if (this.node.getConnections(peerId).length > 0 || addrs.length === 0) continue
      void this.node.peerStore.merge(peerId, { multiaddrs: addrs })
        .then(async () => this.node.dial(peerId, { signal: AbortSignal.timeout(5000) }))
        .catch(err => { this.log?.('could not dial %s learned from %s: %e', p.id, from, err) })
    }
    if (learned) {
      for (const id of this.sameCluster) {
        if (id !== from && this.node.getConnections(peerIdFromString(id)).length > 0) void this.sendTo(id)
      }
    }
  }
}
