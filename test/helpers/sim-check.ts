/**
 * Invariant checker for simulated runs. Safety is checked over the whole history (it must hold
 * at every instant, whatever the faults); convergence only after the faults are healed and the
 * cluster had time to settle. Later fault tests (replication, failover) extend these with their
 * own invariants (acked writes present everywhere, revision order …).
 */
import { compareLog } from '../../src/arbiter/index.js'
import type { SimNet } from './simnet.js'

function pos (p: { term: number, index: number }): string {
  return `(${p.term},${p.index})`
}

/**
 * Safety violations of a run, empty when it is safe:
 * - at most one primary per term, ever;
 * - every elected primary's log is at least as up to date as the log of every peer that
 *   granted it a vote in that term;
 * - no node lowered its persisted term, changed its persisted vote within a term, or changed
 *   its cluster id (recorded by the simulator as it happened).
 */
export function safetyViolations (net: SimNet): string[] {
  const h = net.history
  const out = [...h.violations]
  for (const [key, ids] of h.primaries) {
    if (ids.size > 1) out.push(`cluster:term ${key} had ${ids.size} primaries: ${[...ids].join(', ')}`)
  }
  const byElection = new Map<string, typeof h.grants>()
  for (const g of h.grants) {
    const k = `${g.term}|${g.candidate}`
    byElection.set(k, [...(byElection.get(k) ?? []), g])
  }
  for (const e of h.elections) {
    for (const g of byElection.get(`${e.term}|${e.id}`) ?? []) {
      if (compareLog(e.log, g.voterLog) < 0) {
        out.push(`t=${e.at}: ${e.id} won term ${e.term} with log ${pos(e.log)} but ${g.voter} granted with newer log ${pos(g.voterLog)}`)
      }
    }
  }
  return [...new Set(out)]
}

function same (a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort()
  const y = [...b].sort()
  return x.length === y.length && x.every((v, i) => v === y[i])
}

/**
 * Why the live nodes have not converged, or undefined when they have: exactly one primary, and
 * every live node is a secondary or that primary, in the same term, naming the same primary and
 * the same members (and, when given, exactly `expectedMembers`).
 */
export function convergenceProblem (net: SimNet, expectedMembers?: readonly string[]): string | undefined {
  const live = net.live()
  const primaries = live.filter(n => n.core?.role === 'primary')
  if (primaries.length !== 1) {
    return `expected exactly one primary, found ${primaries.length} [${primaries.map(n => n.id).join(', ')}]; roles: ` +
      live.map(n => `${n.id}=${n.core?.role ?? 'down'}@${n.core?.term ?? '-'}`).join(' ')
  }
  const p = primaries[0].core
  if (p === undefined) return 'primary is down'
  const members = p.membership.members
  if (expectedMembers !== undefined && !same(members, expectedMembers)) {
    return `primary ${p.self} has members [${members.join(', ')}], expected [${[...expectedMembers].join(', ')}]`
  }
  for (const n of live) {
    const c = n.core
    if (c === undefined) continue
    if (c.role !== 'primary' && c.role !== 'secondary') return `${n.id} is ${c.role} (term ${c.term})`
    if (c.term !== p.term) return `${n.id} is in term ${c.term}, primary ${p.self} in ${p.term}`
    if (c.primary !== p.self) return `${n.id} names primary ${String(c.primary)}, not ${p.self}`
    if (!same(c.membership.members, members)) return `${n.id} has members [${c.membership.members.join(', ')}], primary has [${members.join(', ')}]`
    if (c.cluster !== p.cluster) return `${n.id} is in cluster ${String(c.cluster)}, primary in ${String(p.cluster)}`
  }
  return undefined
}

/** Both checks in one message (for assertion output), or undefined when all is well. */
export function describeRun (net: SimNet, label: string, expectedMembers?: readonly string[]): string | undefined {
  const v = safetyViolations(net)
  if (v.length > 0) return `${label}: safety violated:\n  ${v.slice(0, 10).join('\n  ')}`
  const c = convergenceProblem(net, expectedMembers)
  if (c !== undefined) return `${label}: did not converge: ${c}`
  return undefined
}
