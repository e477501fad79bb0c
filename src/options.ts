/**
 * Peer options: every option, its default and its validation in one place. `resolveOptions`
 * runs once in `createPeer`; the rest of the code reads only the resolved object.
 */
import { resolve } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger } from '@libp2p/logger'
import { InvalidArgumentError } from './errors.js'
import { MAX_KEY_BYTES } from './constants.js'

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
   * `RevisionCompactedError`.
   * @default 100000
   */
  retainRevisions?: number
  /**
   * Bytes of recently written or read records kept in memory, so writes to hot keys need no
   * disk read. 0 disables the cache.
   * @default 33554432 (32 MiB)
   */
  cacheBytes?: number
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
  logger: ComponentLogger
}

/** Defaults of every optional option. */
export const DEFAULTS = {
  fsync: true,
  maxValueBytes: 1024 * 1024,
  maxBatchWrites: 4096,
  retainRevisions: 100_000,
  cacheBytes: 32 * 1024 * 1024
} as const

function positiveInt (name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}

/** Apply defaults and validate; throws {@link InvalidArgumentError} on a bad option. */
export function resolveOptions (init: PeerOptions): ResolvedOptions {
  if (init == null || typeof init !== 'object') throw new InvalidArgumentError('createPeer needs an options object with dataDir')
  if (typeof init.dataDir !== 'string' || init.dataDir.length === 0) {
    throw new InvalidArgumentError('option dataDir must be a non-empty string (a directory path)')
  }
  if (init.fsync !== undefined && typeof init.fsync !== 'boolean') {
    throw new InvalidArgumentError('option fsync must be a boolean')
  }
  return {
    dataDir: resolve(init.dataDir),
    fsync: init.fsync ?? DEFAULTS.fsync,
    maxValueBytes: positiveInt('maxValueBytes', init.maxValueBytes, DEFAULTS.maxValueBytes, 64 * 1024 * 1024),
    maxKeyBytes: MAX_KEY_BYTES,
    maxBatchWrites: positiveInt('maxBatchWrites', init.maxBatchWrites, DEFAULTS.maxBatchWrites, 1_000_000),
    retainRevisions: positiveInt('retainRevisions', init.retainRevisions, DEFAULTS.retainRevisions),
    cacheBytes: init.cacheBytes === 0 ? 0 : positiveInt('cacheBytes', init.cacheBytes, DEFAULTS.cacheBytes, 16 * 1024 * 1024 * 1024),
    logger: init.logger ?? defaultLogger()
  }
}
