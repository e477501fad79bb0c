/**
 * Peer options: every option, its default and its validation in one place. `resolveOptions`
 * runs once in `createPeer`; the rest of the code reads only the resolved object.
 */
import { resolve } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger } from '@libp2p/logger'
import { InvalidArgumentError } from './errors.js'
import { MAX_KEY_BYTES } from './constants.js'
import type { ArbiterOptions } from './arbiter/types.js'

/** Options of {@link createPeer}. Only `dataDir` is required. */
export interface PeerOptions {
  /** Directory holding this peer's LevelDB (created when missing). */
  dataDir: string
  /**
   * fsync every commit before the write resolves. `false` trades durability for speed: a power
   * loss or OS crash can lose the last writes that were acknowledged (a process crash cannot).
   * @default true
   */
  fsync?: boolean
  /**
   * Largest value accepted, in bytes.
   * @default 1048576 (1 MiB)
   */
  maxValueBytes?: number
  /**
   * Largest number of queued writes one commit takes (group commit batch size).
   * @default 4096
   */
  maxBatchWrites?: number
  /**
   * How many revisions of per-key history and update log are kept before older ones are
   * compacted away. `get(key, { atRevision })` below the retained window fails with
   * `RevisionCompactedError`. It also bounds how long a repeated write is recognised (its entry
   * must still be in the log).
   * @default 100000
   */
  retainRevisions?: number
  /**
   * Bytes of recently written or read records kept in memory, so writes to hot keys need no
   * disk read. 0 disables the cache.
   * @default 33554432 (32 MiB)
   */
  cacheBytes?: number
  /**
   * Run without networking: no libp2p node, the peer is the primary of its own one-member
   * cluster. For embedded and local use.
   * @default false
   */
  standalone?: boolean
  /**
   * Cluster name: scopes the mDNS service tag and the arbiter, so two clusters on one LAN
   * ignore each other. 1–32 characters of a-z, 0-9 and "-".
   * @default 'kvgrid'
   */
  cluster?: string
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Multiaddrs (ending in /p2p/<peer id>) of peers to dial at start. @default [] */
  bootstrap?: string[]
  /** Discover peers by mDNS on the LAN. Forced off when KVGRID_MDNS=off. @default true */
  mdns?: boolean
  /** Arbiter timeouts (see docs/protocol.md for each default). */
  arbiter?: Omit<ArbiterOptions, 'cluster' | 'requireSeed'>
  /**
   * How long a write waits for every member to confirm it persisted it before it fails with
   * OperationFailedError.
   * @default 1000
   */
  ackTimeoutMs?: number
  /**
   * Default wait of `get(key, { minRevision })` for the local replica to reach that revision.
   * @default 5000
   */
  minRevisionTimeoutMs?: number
  /**
   * How long `stop()` waits for a clean leave (a secondary's removal, a primary's handover).
   * @default 2000
   */
  leaveTimeoutMs?: number
  /**
   * Operator override at start, one-shot by construction: the id of the cluster (`status().
   * clusterId`) this peer may force itself out of. If this peer is in that cluster and no primary
   * appears within 2 × the election timeout, it calls `forcePrimary()` and becomes sole member
   * and primary of a new cluster id — so the option does nothing on later starts, even if left in
   * place. Only for a cluster that lost its majority for good; see docs/operations.md.
   * @default undefined (never force)
   */
  forcePrimary?: string
  /** Logger factory (libp2p's ComponentLogger); debug output is enabled with DEBUG=kvgrid:*. */
  logger?: ComponentLogger
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  dataDir: string
  fsync: boolean
  maxValueBytes: number
  maxKeyBytes: number
  maxBatchWrites: number
  retainRevisions: number
  cacheBytes: number
  standalone: boolean
  cluster: string
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  arbiter: Omit<ArbiterOptions, 'cluster' | 'requireSeed'>
  leaveTimeoutMs: number
  forcePrimary: string | undefined
  ackTimeoutMs: number
  minRevisionTimeoutMs: number
  logger: ComponentLogger
}

/** Defaults of every optional option. */
export const DEFAULTS = {
  fsync: true,
  maxValueBytes: 1024 * 1024,
  maxBatchWrites: 4096,
  retainRevisions: 100_000,
  cacheBytes: 32 * 1024 * 1024,
  standalone: false,
  cluster: 'kvgrid',
  mdns: true,
  leaveTimeoutMs: 2000,
  ackTimeoutMs: 1000,
  minRevisionTimeoutMs: 5000
} as const

function positiveInt (name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}

function clusterIdOption (value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^[0-9a-f]{32}$/.test(value)) {
    throw new InvalidArgumentError(`option forcePrimary must be the cluster id to force out of (32 hex characters, as status().clusterId shows), got ${JSON.stringify(value)}`)
  }
  return value
}

function flag (name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`option ${name} must be a boolean`)
  return value
}

/**
 * Apply defaults and validate (network options — cluster, listen, bootstrap — are checked by
 * the node factory, arbiter timeouts by the arbiter); throws {@link InvalidArgumentError} on a bad option. */
export function resolveOptions (init: PeerOptions): ResolvedOptions {
  if (init == null || typeof init !== 'object') throw new InvalidArgumentError('createPeer needs an options object with dataDir')
  if (typeof init.dataDir !== 'string' || init.dataDir.length === 0) {
    throw new InvalidArgumentError('option dataDir must be a non-empty string (a directory path)')
  }
  return {
    dataDir: resolve(init.dataDir),
    fsync: flag('fsync', init.fsync, DEFAULTS.fsync),
    maxValueBytes: positiveInt('maxValueBytes', init.maxValueBytes, DEFAULTS.maxValueBytes, 64 * 1024 * 1024),
    maxKeyBytes: MAX_KEY_BYTES,
    maxBatchWrites: positiveInt('maxBatchWrites', init.maxBatchWrites, DEFAULTS.maxBatchWrites, 1_000_000),
    retainRevisions: positiveInt('retainRevisions', init.retainRevisions, DEFAULTS.retainRevisions),
    cacheBytes: init.cacheBytes === 0 ? 0 : positiveInt('cacheBytes', init.cacheBytes, DEFAULTS.cacheBytes, 16 * 1024 * 1024 * 1024),
    standalone: flag('standalone', init.standalone, DEFAULTS.standalone),
    cluster: init.cluster ?? DEFAULTS.cluster,
    listen: init.listen ?? [],
    bootstrap: init.bootstrap ?? [],
    mdns: flag('mdns', init.mdns, DEFAULTS.mdns),
    arbiter: init.arbiter ?? {},
    leaveTimeoutMs: positiveInt('leaveTimeoutMs', init.leaveTimeoutMs, DEFAULTS.leaveTimeoutMs, 60_000),
    forcePrimary: clusterIdOption(init.forcePrimary),
    ackTimeoutMs: positiveInt('ackTimeoutMs', init.ackTimeoutMs, DEFAULTS.ackTimeoutMs, 600_000),
    minRevisionTimeoutMs: positiveInt('minRevisionTimeoutMs', init.minRevisionTimeoutMs, DEFAULTS.minRevisionTimeoutMs, 3_600_000),
    logger: init.logger ?? defaultLogger()
  }
}
