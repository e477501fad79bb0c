/**
 * One random schedule of the arbiter simulation (see test/arbiter-random.test.ts): form a
 * cluster, inject random faults for a while, heal everything and check safety and convergence.
 * Deterministic per seed.
 */
import { TICK_INTERVAL_MS } from '../../src/arbiter/index.js'
import { convergenceProblem, safetyViolations } from './sim-check.js'
import { formCluster } from './sim-cluster.js'
import { mulberry32, PERFECT_LINKS } from './simnet.js'
import type { SimNet } from './simnet.js'

/** Virtual time of random faults per run. */
export const CHAOS_MS = 20_000
/** Virtual time allowed to converge after healing. */
export const SETTLE_MS = 40_000

/** Outcome of one run. */
export interface RunResult {
  seed: number
  problem?: string
  actions: string[]
  terms: number
  messages: number
  net?: SimNet
}

function pick<T> (rnd: () => number, xs: readonly T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]
}

function randomSplit (rnd: () => number, ids: string[]): string[][] {
  const groups: string[][] = [[], [], []]
  const k = 2 + (rnd() < 0.3 ? 1 : 0)
  for (const id of ids) groups[Math.floor(rnd() * k)].push(id)
  return groups.filter(g => g.length > 0)
}

/** Options of {@link runSchedule}. */
export interface ScheduleOptions {
  /** Called with the network once the cluster is formed, before any fault (to hook tracing). */
  trace?: (net: SimNet) => void
  /** Range of the initial cluster size. @default [2, 6] */
  peers?: [number, number]
}

/**
 * Run the schedule of `seed`: form a cluster of fresh peers (requireSeed on, perfect links),
 * then for CHAOS_MS apply a random fault every 0.2–2 s (crash, restart, partition, link cut,
 * heal, new link faults, log growth, a late joiner, a leave), then heal everything, restart every
 * crashed peer and give the cluster SETTLE_MS to converge. `problem` is set when a safety
 * invariant was violated at any time, or the cluster did not converge.
 */
export function runSchedule (seed: number, opts: ScheduleOptions = {}): RunResult {
  const rnd = mulberry32(seed * 2654435761)
  const [min, max] = opts.peers ?? [2, 6]
  const n = min + Math.floor(rnd() * (max - min + 1))
  const actions: string[] = []
  let net: SimNet
  try {
    net = formCluster({ seed, n, options: { requireSeed: true }, tickMs: TICK_INTERVAL_MS }).net
  } catch (err) {
    return { seed, problem: String(err), actions, terms: 0, messages: 0 }
  }
  const log = (what: string): void => { actions.push(`t=${net.now} ${what}`) }
  opts.trace?.(net)
  const gone = new Set<string>() // left and stopped: never restarted
  let joiners = 0
  let leaves = 0
  const faults = (): void => {
    const drop = rnd() * 0.3
    const dup = rnd() * 0.1
    const maxDelayMs = 1 + Math.floor(rnd() * 150)
    net.faults = { drop, dup, minDelayMs: 1, maxDelayMs }
    log(`links drop=${drop.toFixed(2)} dup=${dup.toFixed(2)} delay<=${maxDelayMs}`)
  }
  faults()
  const end = net.now + CHAOS_MS
  while (net.now < end) {
    net.runFor(200 + Math.floor(rnd() * 1800))
    for (const node of net.nodes.values()) {
      if (node.core?.hasLeft === true && !gone.has(node.id)) {
        gone.add(node.id)
        net.crash(node.id)
        log(`${node.id} left and stopped`)
      }
    }
    const ids = [...net.nodes.keys()].filter(id => !gone.has(id))
    const up = ids.filter(id => net.node(id).up)
    const down = ids.filter(id => !net.node(id).up)
    const r = rnd()
    if (r < 0.18) {
      const id = pick(rnd, up)
      if (id !== undefined) { net.crash(id); log(`crash ${id}`) }
    } else if (r < 0.36) {
      const id = pick(rnd, down)
      if (id !== undefined) { net.restart(id); log(`restart ${id}`) }
    } else if (r < 0.5) {
      const groups = randomSplit(rnd, ids)
      net.partition(...groups)
      log(`partition ${groups.map(g => `{${g.join(',')}}`).join(' ')}`)
    } else if (r < 0.58) {
      const a = pick(rnd, ids)
      const b = pick(rnd, ids)
      if (a !== undefined && b !== undefined && a !== b) { net.cut(a, b); log(`cut ${a}-${b}`) }
    } else if (r < 0.7) {
      net.heal()
      log('heal')
    } else if (r < 0.78) {
      faults()
    } else if (r < 0.9) {
      const k = 1 + Math.floor(rnd() * 5)
      net.appendOnPrimary(k)
      log(`append ${k}`)
    } else if (r < 0.95) {
      if (joiners < 2) {
        const id = `j${joiners++}`
        net.add(id, { options: { requireSeed: true }, seeds: [...net.nodes.keys()].filter(x => x.startsWith('p')) })
        net.start(id)
        log(`start fresh ${id}`)
      }
    } else if (leaves < 1) {
      const id = pick(rnd, up)
      if (id !== undefined) { leaves++; net.leave(id); log(`leave ${id}`) }
    }
  }
  // Heal everything and let it settle.
  net.heal()
  net.faults = PERFECT_LINKS
  for (const id of net.nodes.keys()) if (!gone.has(id) && !net.node(id).up) net.restart(id)
  log('heal all, restart all, perfect links')
  // Settled: one primary, and every live peer (all but those that left) a member agreeing on
  // term, primary and members. A peer that left while its Join was in flight is evicted first.
  const expected = (): string[] => net.live().map(x => x.id)
  const settledNow = (): string | undefined => {
    const leaving = net.live().filter(x => x.core?.status(net.now).leaving === true).map(x => x.id)
    if (leaving.length > 0) return `leave of ${leaving.join(', ')} did not complete`
    return convergenceProblem(net, expected())
  }
  let problem: string | undefined
  const settled = net.runUntil(() => settledNow() === undefined, SETTLE_MS, 250)
  if (settled === undefined) {
    problem = `did not settle within ${SETTLE_MS} ms: ${String(settledNow())}`
  } else {
    net.runFor(3000) // and it stays settled
    problem = settledNow()
  }
  const violations = safetyViolations(net)
  if (violations.length > 0) problem = `safety: ${violations.slice(0, 5).join('; ')}`
  return { seed, problem, actions, terms: net.history.elections.length, messages: net.history.sent, net }
}

