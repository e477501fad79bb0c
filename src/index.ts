/**
 * kvgrid: a replicated key-value store for desktop peers on a LAN.
 *
 * @example
 * ```ts
 * import { createPeer } from 'kvgrid'
 *
 * const peer = await createPeer({ dataDir: './data/a' })
 * await peer.ready()
 * await peer.set('user/1', 'ada', { ttlMs: 60_000 })
 * const entry = await peer.get('user/1')
 * const text = new TextDecoder().decode(entry?.value) // 'ada', at entry.revision
 * await peer.stop()
 * ```
 */
export { createPeer, Peer } from './peer/peer.js'
export type { PeerInternals } from './peer/peer.js'
export { DEFAULTS, resolveOptions } from './options.js'
export type { PeerOptions, ResolvedOptions } from './options.js'
export * from './errors.js'
export type * from './types.js'
export { MAX_KEY_BYTES } from './constants.js'
export { LevelStore, MemoryStore } from './store/index.js'
export type { Store, StoreState, StoredRecord, LogEntry, Mutation } from './store/index.js'
