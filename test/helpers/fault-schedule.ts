/**
 * Schedules for the whole-system fault simulation: forming a cluster, a client load, and one
 * random schedule per seed (test/fault-sim.test.ts, test/sim/run.ts). Deterministic per seed.
 */
import type { Command } from '../../src/core/evaluate.js'
import { checkHistory, settledProblem } from './fault-check.js'
import { FaultWorld, GOOD_LINKS } from './fault-sim.js'
import type { WorldInit } from './fault-sim.js'
import type { ProposedFixes } from './sim-peer.js'
import { mulberry32 } from './simnet.js'

/** Virtual time of faults and client load per random run. */
export const CHAOS_MS = 12_000
/** Virtual time allowed to settle after healing. */
export const SETTLE_MS = 40_000

/** Peer ids p0, p1 … */
export function peerIds (n: number): string[] {
  return Array.from({ length: n }, (_, i) => `p${i}`)
}

/**
 * A world with `n` fresh peers started together, run until they formed one cluster with all of
 * them as members and settled. Throws when they do not within `withinMs`.
 */
export async function formCluster (init: WorldInit & { n: number, withinMs?: number }): Promise<FaultWorld> {
  const world = new FaultWorld(init)
  for (const id of peerIds(init.n)) world.add(id)
  for (const id of peerIds(init.n)) world.start(id)
  const took = await world.runUntil(() => settledProblem(world) === undefined, init.withinMs ?? 15_000, 25)
  if (took === undefined) throw new Error(`seed ${init.seed}: ${init.n} peers did not form a cluster: ${String(settledProblem(world))}`)
  return world
}

/** The single peer that believes it is primary; throws unless exactly one. */
export function primaryOf (world: FaultWorld): string {
  const p = world.primaries()
  if (p.length !== 1) throw new Error(`expected one primary, found [${p.join(', ')}]`)
  return p[0]
}

function pick<T> (rnd: () => number, xs: readonly T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]
}

/**
 * A client load: every `gapMs` (random up to it) a write — puts with unique values, deletes,
 * conditional sets (ifNotExists, ifExists, ifRevision) and conditional deletes — on a few keys,
 * sent to a peer that believes it is primary (one in ten to any live peer). With `repeat`, every
 * other write (odd ids) is repeatable: it carries a request fingerprint and is sent again to a
 * primary when an attempt fails, is refused or dies with its peer, while `repeat()` holds and
 * until `stop()` — as a secondary's forwarder does. A repeat is recognised from the log of the
 * primary it reaches, so the schedule turns repeats off where that log cannot know the write.
 * Runs until `stop()`.
 */
export function startClient (world: FaultWorld, rnd: () => number, opts: { keys?: number, gapMs?: number, repeat?: () => boolean } = {}): { stop: () => void } {
  const keys = Array.from({ length: opts.keys ?? 6 }, (_, i) => `k${i}`)
  const known = new Map<string, number>()
  const gap = opts.gapMs ?? 60
  let stopped = false
  const loop = (): void => {
    if (stopped) return
    const up = [...world.machines.keys()].filter(id => world.isUp(id))
    const target = rnd() < 0.1 ? pick(rnd, up) : pick(rnd, world.primaries())
    if (target !== undefined) {
      const key = pick(rnd, keys) as string
      const r = rnd()
      let command: Command
      if (r < 0.55) command = world.putCommand(key)
      else if (r < 0.65) command = { op: 'delete', key }
      else if (r < 0.75) command = world.putCommand(key, { ifNotExists: true })
      else if (r < 0.85) command = world.putCommand(key, { ifRevision: known.get(key) ?? 0 })
      else if (r < 0.9) command = world.putCommand(key, { ifExists: true })
      else command = { op: 'delete', key, ifRevision: known.get(key) ?? 1 }
      const repeat = opts.repeat
      const rec = world.write(target, command, repeat !== undefined && repeat() && world.history.writes.length % 2 === 0 ? () => !stopped && repeat() : undefined)
      const watch = (): void => {
        if (rec.status === 'acked' && rec.revision !== undefined) known.set(key, command.op === 'delete' ? 0 : rec.revision)
        else if (rec.status === 'pending' && !stopped) world.at(50, watch)
      }
      world.at(1, watch)
    }
    world.at(1 + Math.floor(rnd() * gap), loop)
  }
  world.at(0, loop)
  return { stop: () => { stopped = true } }
}

/** Outcome of one run. */
export interface RunResult {
  seed: number
  /** Violated properties (empty: the run was correct). */
  problems: string[]
  actions: string[]
  stats: { writes: number, acked: number, failed: number, crashes: number, lostDiskWrites: number, elections: number, messages: number, virtualMs: number }
  world?: FaultWorld
}

/** Options of {@link runRandom}. */
export interface RandomOptions {
  /** Called with the world before anything runs (to hook tracing). */
  onWorld?: (world: FaultWorld) => void
  chaosMs?: number
  /** Proposed fixes in the ported shell code. @default ALL_FIXES */
  fixes?: ProposedFixes
}

/**
 * The random schedule of `seed`: 3–5 fresh peers form a cluster (random disk latency, group
 * commit limit and compaction), then for CHAOS_MS a client writes while a random fault strikes
 * every 0.2–1.5 s — crash (the disk keeps a random prefix of its in-flight writes), restart,
 * partition, link cut, heal, new link faults (drop ≤ 20 %, dup ≤ 10 %, delay ≤ 80 ms), a fresh
 * late joiner. Then everything is healed and restarted, the cluster gets SETTLE_MS to settle and
 * the history is checked (fault-check.ts).
 */
export async function runRandom (seed: number, opts: RandomOptions = {}): Promise<RunResult> {
  const rnd = mulberry32((seed * 2654435761) ^ 0x5eed)
  const n = 3 + Math.floor(rnd() * 3)
  const maxBatchWrites = pick(rnd, [1, 4, 64]) as number
  const slowDisk = rnd() < 0.3
  const disk = slowDisk ? { minMs: 2, maxMs: 20, slowP: 0.05, slowMs: 300 } : { minMs: 1, maxMs: 5, slowP: 0.01, slowMs: 40 }
  const retain = rnd() < 0.5 ? { revisions: 10 + Math.floor(rnd() * 30), slack: 5 } : undefined
  const actions: string[] = [`${n} peers, maxBatchWrites=${maxBatchWrites}, disk ${disk.minMs}-${disk.maxMs} ms (slow ${disk.slowP} ≤${disk.slowMs} ms), compaction ${retain === undefined ? 'off' : `keep ${retain.revisions}`}`]
  const stats = { writes: 0, acked: 0, failed: 0, crashes: 0, lostDiskWrites: 0, elections: 0, messages: 0, virtualMs: 0 }
  let world: FaultWorld
  try {
    world = await formCluster({ seed, n, maxBatchWrites, disk, ...(retain !== undefined ? { retain } : {}), ...(opts.fixes !== undefined ? { fixes: opts.fixes } : {}) })
  } catch (err) {
    return { seed, problems: [String(err)], actions, stats }
  }
  opts.onWorld?.(world)
  const w = world
  const log = (what: string): void => { actions.push(`t=${w.now} ${what}`) }
  let joiners = 0
  // Repeats are recognised from the retained log (and, on a fresh joiner, which catches up by
  // snapshot here, from the request rows the snapshot brought): not after compaction to a few
  // dozen revisions.
  const client = startClient(world, rnd, { repeat: () => retain === undefined })
  const end = world.now + (opts.chaosMs ?? CHAOS_MS)
  while (world.now < end) {
    await world.runFor(200 + Math.floor(rnd() * 1300))
    const ids = [...world.machines.keys()]
    const up = ids.filter(id => world.isUp(id))
    const down = ids.filter(id => !world.isUp(id))
    const r = rnd()
    if (r < 0.2) {
      // Prefer the primary: that is where unacknowledged suffixes come from.
      const id = rnd() < 0.5 ? pick(rnd, world.primaries()) ?? pick(rnd, up) : pick(rnd, up)
      if (id !== undefined) {
        // Half the time, strike while its disk has writes in flight (they may be lost).
        if (rnd() < 0.5) await world.runUntil(() => world.machine(id).device.inFlight > 0, 300, 1)
        if (world.isUp(id)) { world.crash(id); log(`crash ${id}`) }
      }
    } else if (r < 0.38) {
      const id = pick(rnd, down)
      if (id !== undefined) { world.start(id); log(`restart ${id}`) }
    } else if (r < 0.53) {
      const groups: string[][] = [[], []]
      for (const id of ids) groups[Math.floor(rnd() * 2)].push(id)
      // Often isolate the primary with a minority: it keeps taking writes it cannot commit.
      const p = pick(rnd, world.primaries())
      if (p !== undefined && rnd() < 0.5) {
        for (const g of groups) { const i = g.indexOf(p); if (i >= 0) g.splice(i, 1) }
        groups[0] = [p]
        groups[1] = ids.filter(id => id !== p)
      }
      world.partition(...groups.filter(g => g.length > 0))
      log(`partition ${groups.map(g => `{${g.join(',')}}`).join(' ')}`)
    } else if (r < 0.6) {
      const a = pick(rnd, ids)
      const b = pick(rnd, ids)
      if (a !== undefined && b !== undefined && a !== b) { world.cut(a, b); log(`cut ${a}-${b}`) }
    } else if (r < 0.75) {
      world.heal()
      log('heal')
    } else if (r < 0.9) {
      const links = { drop: rnd() * 0.2, dup: rnd() * 0.1, minDelayMs: 1, maxDelayMs: 1 + Math.floor(rnd() * 80) }
      world.links = links
      log(`links drop=${links.drop.toFixed(2)} dup=${links.dup.toFixed(2)} delay<=${links.maxDelayMs}`)
    } else if (joiners < 1) {
      const id = `j${joiners++}`
      world.add(id, { seed: false })
      world.start(id)
      log(`start fresh ${id}`)
    }
  }
  client.stop()
  world.heal()
  world.links = GOOD_LINKS
  for (const id of world.machines.keys()) if (!world.isUp(id)) world.start(id)
  log('stop writes, heal all, restart all, good links')
  const problems: string[] = []
  const settled = await world.runUntil(() => settledProblem(world) === undefined, SETTLE_MS, 100)
  if (settled === undefined) {
    problems.push(`did not settle within ${SETTLE_MS} ms after healing: ${String(settledProblem(world))}`)
  } else {
    await world.runFor(1000)
    const again = settledProblem(world)
    if (again !== undefined) problems.push(`settled, then not: ${again}`)
  }
  problems.push(...await checkHistory(world))
  const h = world.history
  Object.assign(stats, {
    writes: h.writes.length,
    acked: h.writes.filter(x => x.status === 'acked').length,
    failed: h.writes.filter(x => x.status === 'failed').length,
    crashes: h.crashes,
    lostDiskWrites: h.lostWrites,
    elections: h.elections,
    messages: world.sent,
    virtualMs: world.now
  })
  return { seed, problems: [...new Set(problems)], actions, stats, world }
}

/** The one-line command that replays a seed. */
export function replayCommand (seed: number, opts: { fixes?: boolean } = {}): string {
  return `npm run test:sim -- --seed ${seed} --runs 1 --verbose${opts.fixes === false ? ' --no-fixes' : ''}`
}
