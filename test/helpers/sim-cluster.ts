/**
 * Shortcuts for simulated arbiter tests: name peers, form a cluster, wait for conditions in
 * virtual time with a deadline.
 */
import type { ArbiterOptions, LogPosition } from '../../src/arbiter/index.js'
import { convergenceProblem } from './sim-check.js'
import { SimNet } from './simnet.js'
import type { LinkFaults } from './simnet.js'

/** Peer ids p0, p1 … (lexicographic order = numeric order below 10). */
export function peerIds (n: number, prefix = 'p'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`)
}

/** Options of {@link formCluster}. */
export interface FormInit {
  seed: number
  n: number
  options?: ArbiterOptions
  faults?: LinkFaults
  logs?: LogPosition[]
  /** Tick period of every node. @default 25 */
  tickMs?: number
  /** Simulate log positions (see SimNet). @default true */
  replicate?: boolean
  /** Virtual ms allowed for founding. @default 10000 */
  withinMs?: number
}

/**
 * Start `n` fresh peers together and run until they form one cluster with all of them as
 * members. Throws (with the seed) when they do not within `withinMs`.
 */
export function formCluster (init: FormInit): { net: SimNet, ids: string[], tookMs: number } {
  const net = new SimNet({ seed: init.seed, faults: init.faults, options: init.options, replicate: init.replicate, tickMs: init.tickMs })
  const ids = peerIds(init.n)
  // Every peer lists all the others as seeds (used only with requireSeed).
  ids.forEach((id, i) => net.add(id, { log: init.logs?.[i], seeds: ids }))
  net.startAll()
  const tookMs = net.runUntil(() => convergenceProblem(net, ids) === undefined, init.withinMs ?? 10_000, 25)
  if (tookMs === undefined) {
    throw new Error(`seed ${init.seed}: ${init.n} peers did not form a cluster: ${String(convergenceProblem(net, ids))}`)
  }
  return { net, ids, tookMs }
}

/** The single live primary's id; throws when there is not exactly one. */
export function primaryOf (net: SimNet): string {
  const p = net.primaries()
  if (p.length !== 1) throw new Error(`expected one primary, found [${p.map(n => n.id).join(', ')}]`)
  return p[0].id
}
