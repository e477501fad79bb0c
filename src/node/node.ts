/**
 * The libp2p node factory: TCP + Noise + Yamux, identify, ping, gossipsub, bootstrap and
 * (optionally) mDNS, with a persisted identity. mDNS is scoped to the cluster by its service
 * tag, and peers it finds are dialled (libp2p 3 does not dial discovered peers by itself).
 *
 * Multicast guard: when the environment variable `KVGRID_MDNS=off` is set, mDNS is forced off
 * whatever the options say. Tests and CI set it, so a forgotten flag cannot send multicast
 * outside the network namespaces that mDNS tests create.
 */
import './polyfill.js'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { corkedTcp } from './corked-tcp.js'
import { quietNoise } from './noise-frames.js'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import type { ComponentLogger, ConnectionGater, PeerDiscovery, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidArgumentError } from '../errors.js'

/** Environment switch that forces mDNS off (`KVGRID_MDNS=off`). */
export const MDNS_ENV = 'KVGRID_MDNS'

/** Default listen address: every IPv4 interface, a port chosen by the OS. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/** Cluster names: they become an mDNS service label and gossip topic names. */
const CLUSTER_RE = /^[a-z0-9][a-z0-9-]{0,31}$/

/** Options of {@link createNode}. */
export interface NodeInit {
  privateKey: PrivateKey
  /** Cluster name; scopes the mDNS service tag. */
  cluster: string
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Multiaddrs (with /p2p/<id>) dialled at start and kept as bootstrap peers. @default [] */
  bootstrap?: string[]
  /** Discover peers on the LAN by mDNS (forced off by KVGRID_MDNS=off). @default true */
  mdns?: boolean
  logger?: ComponentLogger
  /** libp2p connection gater (fault injection in tests: refuse connections to cut a peer off). */
  connectionGater?: ConnectionGater
}

/** Node options after validation, with the effective mDNS setting. */
export interface ResolvedNodeInit {
  cluster: string
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  /** True when mDNS was asked for but the environment forced it off. */
  mdnsForcedOff: boolean
}

/** The services every kvgrid node runs. */
export type NodeServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
}

/** A kvgrid libp2p node. */
export type KvNode = Libp2p<NodeServices>

function checkAddrs (addrs: unknown, what: string): string[] {
  if (addrs === undefined) return []
  if (!Array.isArray(addrs)) throw new InvalidArgumentError(`${what} must be an array of multiaddr strings`)
  for (const a of addrs) {
    if (typeof a !== 'string') throw new InvalidArgumentError(`${what} must hold multiaddr strings`)
    try {
      multiaddr(a)
    } catch (err: any) {
      throw new InvalidArgumentError(`${what}: "${a}" is not a valid multiaddr (${err?.message})`)
    }
  }
  return addrs
}

/** Validate node options and apply defaults and the multicast guard. Pure except for reading `env`. */
export function resolveNodeInit (init: Omit<NodeInit, 'privateKey' | 'logger'>, env: NodeJS.ProcessEnv = process.env): ResolvedNodeInit {
  if (typeof init.cluster !== 'string' || !CLUSTER_RE.test(init.cluster)) {
    throw new InvalidArgumentError(`cluster must be 1-32 characters of a-z, 0-9 and "-", starting with a letter or digit; got ${JSON.stringify(init.cluster)}`)
  }
  const listen = checkAddrs(init.listen, 'listen')
  const bootstrapList = checkAddrs(init.bootstrap, 'bootstrap')
  for (const b of bootstrapList) {
    if (multiaddr(b).getComponents().every(c => c.name !== 'p2p')) {
      throw new InvalidArgumentError(`bootstrap address "${b}" must end with /p2p/<peer id>`)
    }
  }
  const wanted = init.mdns ?? true
  const forcedOff = env[MDNS_ENV] === 'off'
  return {
    cluster: init.cluster,
    listen: listen.length > 0 ? listen : DEFAULT_LISTEN,
    bootstrap: bootstrapList,
    mdns: wanted && !forcedOff,
    mdnsForcedOff: wanted && forcedOff
  }
}

/** The mDNS service tag of a cluster: two clusters on one LAN ignore each other. */
export function mdnsServiceTag (cluster: string): string {
  return `_kvgrid-${cluster}._udp.local`
}

/** Create (not start) a libp2p node for a kvgrid peer. */
export async function createNode (init: NodeInit): Promise<{ node: KvNode, resolved: ResolvedNodeInit }> {
  const resolved = resolveNodeInit(init)
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (resolved.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: resolved.bootstrap, timeout: 0 }))
  if (resolved.mdns) peerDiscovery.push(mdns({ serviceTag: mdnsServiceTag(resolved.cluster), interval: 5000 }))
  const node = await createLibp2p<NodeServices>({
    privateKey: init.privateKey,
    addresses: { listen: resolved.listen },
    transports: [corkedTcp()],
    connectionEncrypters: [quietNoise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    ...(init.logger !== undefined ? { logger: init.logger } : {}),
    ...(init.connectionGater !== undefined ? { connectionGater: init.connectionGater } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      // Unsigned gossip: replication takes a gossip message only from the primary's own
      // (Noise-authenticated) connection, so per-message signatures add nothing but cost.
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, globalSignaturePolicy: 'StrictNoSign' })
    },
    start: false
  })
  if (resolved.mdns) {
    // libp2p 3 does not dial what mDNS finds: do it, once per discovery of an unconnected peer.
    node.addEventListener('peer:discovery', (evt: CustomEvent<PeerInfo>) => {
      const { id, multiaddrs } = evt.detail
      if (id.equals(node.peerId) || node.getConnections(id).length > 0 || multiaddrs.length === 0) return
      node.dial(multiaddrs).catch(() => {})
    })
  }
  return { node, resolved }
}
