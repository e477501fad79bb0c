/**
 * Arbiter options: defaults and validation in one place, applied once when a core is made.
 */
import { InvalidArgumentError } from '../errors.js'
import {
  DEFAULT_CLUSTER, DISCOVERY_MS, ELECTION_TIMEOUT_MS, EVICT_AFTER_MS, HEARTBEAT_MS,
  HELLO_INTERVAL_MS, MAX_CLUSTER_NAME_BYTES, STEP_DOWN_AFTER_MS
} from './constants.js'
import type { ArbiterOptions, ResolvedArbiterOptions } from './types.js'

/** Defaults of every arbiter option. */
export const ARBITER_DEFAULTS: ResolvedArbiterOptions = {
  cluster: DEFAULT_CLUSTER,
  heartbeatMs: HEARTBEAT_MS,
  electionTimeoutMs: ELECTION_TIMEOUT_MS,
  stepDownAfterMs: STEP_DOWN_AFTER_MS,
  evictAfterMs: EVICT_AFTER_MS,
  discoveryMs: DISCOVERY_MS,
  helloIntervalMs: HELLO_INTERVAL_MS,
  requireSeed: false
}

const MAX_TIMEOUT_MS = 24 * 3600 * 1000

function ms (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`arbiter option ${name} must be an integer number of ms from 1 to ${MAX_TIMEOUT_MS}, got ${String(value)}`)
  }
  return value
}

/**
 * Apply defaults and validate. Throws {@link InvalidArgumentError} on a bad value or on timeouts
 * that cannot work together (a heartbeat must fit several times in the election timeout, and a
 * primary must step down before it would evict).
 */
export function resolveArbiterOptions (init: ArbiterOptions = {}): ResolvedArbiterOptions {
  const cluster = init.cluster ?? DEFAULT_CLUSTER
  if (typeof cluster !== 'string' || cluster.length === 0 || new TextEncoder().encode(cluster).length > MAX_CLUSTER_NAME_BYTES) {
    throw new InvalidArgumentError(`arbiter option cluster must be a non-empty string of at most ${MAX_CLUSTER_NAME_BYTES} bytes`)
  }
  if (init.requireSeed !== undefined && typeof init.requireSeed !== 'boolean') {
    throw new InvalidArgumentError('arbiter option requireSeed must be a boolean')
  }
  const o: ResolvedArbiterOptions = {
    cluster,
    heartbeatMs: ms('heartbeatMs', init.heartbeatMs, HEARTBEAT_MS),
    electionTimeoutMs: ms('electionTimeoutMs', init.electionTimeoutMs, ELECTION_TIMEOUT_MS),
    stepDownAfterMs: ms('stepDownAfterMs', init.stepDownAfterMs, STEP_DOWN_AFTER_MS),
    evictAfterMs: ms('evictAfterMs', init.evictAfterMs, EVICT_AFTER_MS),
    discoveryMs: ms('discoveryMs', init.discoveryMs, DISCOVERY_MS),
    helloIntervalMs: ms('helloIntervalMs', init.helloIntervalMs, HELLO_INTERVAL_MS),
    requireSeed: init.requireSeed ?? false
  }
  if (o.heartbeatMs * 2 > o.electionTimeoutMs) {
    throw new InvalidArgumentError(`arbiter option electionTimeoutMs (${o.electionTimeoutMs}) must be at least twice heartbeatMs (${o.heartbeatMs})`)
  }
  if (o.stepDownAfterMs <= o.heartbeatMs) {
    throw new InvalidArgumentError(`arbiter option stepDownAfterMs (${o.stepDownAfterMs}) must exceed heartbeatMs (${o.heartbeatMs})`)
  }
  if (o.evictAfterMs <= o.stepDownAfterMs) {
    throw new InvalidArgumentError(`arbiter option evictAfterMs (${o.evictAfterMs}) must exceed stepDownAfterMs (${o.stepDownAfterMs})`)
  }
  return o
}
