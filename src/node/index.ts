/**
 * Networking: the libp2p node factory and the persisted identity.
 */
export { createNode, resolveNodeInit, mdnsServiceTag, MDNS_ENV, DEFAULT_LISTEN } from './node.js'
export type { NodeInit, ResolvedNodeInit, KvNode, NodeServices } from './node.js'
export { loadOrCreateIdentity, identityMode, IDENTITY_FILE } from './identity.js'
