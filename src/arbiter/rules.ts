/**
 * The small pure rules the arbiter's safety rests on, kept apart so tests and the simulator's
 * checker use exactly the same definitions as the core.
 */
import type { ConfigId, LogPosition } from './types.js'

/** Votes needed among `n` members: a strict majority. Any two majorities of one set intersect. */
export function majority (n: number): number {
  return Math.floor(n / 2) + 1
}

/** Order of log positions: by term of the last entry, then by index. Negative when a < b. */
export function compareLog (a: LogPosition, b: LogPosition): number {
  return a.term !== b.term ? a.term - b.term : a.index - b.index
}

/** Order of memberships: by the issuing primary's term, then by version. Negative when a < b. */
export function compareConfig (a: ConfigId, b: ConfigId): number {
  return a.configTerm !== b.configTerm ? a.configTerm - b.configTerm : a.version - b.version
}

/**
 * Whether a voter may vote for a candidate: the candidate's log is at least as up to date as
 * the voter's, and so is its membership (see docs/protocol.md, "Why the membership is compared").
 */
export function upToDate (candidateLog: LogPosition, candidateConfig: ConfigId, voterLog: LogPosition, voterConfig: ConfigId): boolean {
  return compareLog(candidateLog, voterLog) >= 0 && compareConfig(candidateConfig, voterConfig) >= 0
}
