/**
 * Storage: the {@link Store} contract and its two implementations.
 */
export type { Store, StoreSnapshot, LogPosition, StoreState, StoredRecord, LogEntry, Mutation, PutMutation, DelMutation, KeyBounds, ExpiryCandidate, PackedRecords, PackOptions, RawLogEntry, RequestEntry, RequestRow } from './types.js'
export { LevelStore } from './level-store.js'
export type { LevelStoreInit } from './level-store.js'
export { MemoryStore, compareKeys } from './memory-store.js'
export type { MemoryStoreInit } from './memory-store.js'
export { emptyState, stateAfter } from './state.js'
