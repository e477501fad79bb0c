/**
 * Whole-system fault simulation (docs/testing.md): the real arbiter, replication, sequencer and
 * store cores of every peer, glued as the shells glue them, over a simulated network and
 * simulated disks, in virtual time. Targeted scenarios first, then many random schedules within a
 * time budget. Every failure names its seed and the command that replays it.
 *
 * FAULT_SIM_RUNS (default 400) and FAULT_SIM_SEED (default 1) choose the random seeds,
 * FAULT_SIM_BUDGET_MS (default 30000) bounds their wall time; at least 25 seeds always run.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { checkHistory, settledProblem } from './helpers/fault-check.js'
import { ALL_FIXES, GOOD_LINKS } from './helpers/fault-sim.js'
import type { FaultWorld, WriteRecord } from './helpers/fault-sim.js'
import { formCluster, primaryOf, replayCommand, runRandom, SETTLE_MS, startClient } from './helpers/fault-schedule.js'
import { mulberry32 } from './helpers/simnet.js'

const RUNS = Number(process.env.FAULT_SIM_RUNS ?? 400)
const FIRST_SEED = Number(process.env.FAULT_SIM_SEED ?? 1)
const BUDGET_MS = Number(process.env.FAULT_SIM_BUDGET_MS ?? 30_000)
const MIN_RUNS = 25

/** Heal, restart everything, settle, and check the history; the violations (with the seed). */
async function settleAndCheck (world: FaultWorld): Promise<string[]> {
  world.heal()
  world.links = GOOD_LINKS
  for (const id of world.machines.keys()) if (!world.isUp(id)) world.start(id)
  const took = await world.runUntil(() => settledProblem(world) === undefined, SETTLE_MS, 100)
  const out = took === undefined ? [`did not settle: ${String(settledProblem(world))}`] : []
  return [...out, ...await checkHistory(world)]
}

function assertClean (t: ExecutionContext, world: FaultWorld, problems: string[]): void {
  t.deepEqual(problems, [], `seed ${world.seed}: ${problems.slice(0, 10).join('\n  ')}`)
}

function puts (world: FaultWorld, node: string, n: number, prefix = 'k'): WriteRecord[] {
  return Array.from({ length: n }, (_, i) => world.write(node, world.putCommand(`${prefix}${i % 4}`)))
}

function finalValues (world: FaultWorld, id: string): Set<string> {
  const dec = new TextDecoder()
  const out = new Set<string>()
  for (const e of world.machine(id).device.shadow) {
    if (e === undefined) continue
    for (const m of e.mutations) if (m.type === 'put') out.add(dec.decode(m.record.value))
  }
  return out
}

test('a primary that loses power in the middle of group-committed batches: acknowledged writes survive on the new primary, the rest are applied everywhere or nowhere', async t => {
  for (const seed of [11, 12, 13]) {
    const world = await formCluster({ seed, n: 3, maxBatchWrites: 8, disk: { minMs: 5, maxMs: 15, slowP: 0, slowMs: 15 } })
    const old = primaryOf(world)
    puts(world, old, 12)
    await world.runFor(40)
    const burst = puts(world, old, 12)
    // Strike while the primary's disk has batches in flight.
    t.not(await world.runUntil(() => world.machine(old).device.inFlight > 0, 500, 1), undefined, `seed ${seed}`)
    world.crash(old)
    t.true(burst.every(w => w.status !== 'acked' || w.settledAt !== undefined))
    t.not(await world.runUntil(() => world.primaries().length === 1, 10_000), undefined, `seed ${seed}: a new primary`)
    const next = primaryOf(world)
    t.not(next, old)
    const after = puts(world, next, 8)
    await world.runFor(2000)
    t.true(after.every(w => w.status === 'acked'), `seed ${seed}: writes resume on ${next}`)
    world.start(old)
    assertClean(t, world, await settleAndCheck(world))
  }
})

test('a primary cut off in a minority keeps taking writes it cannot commit: they fail, its unacknowledged suffix is discarded on healing, the majority\'s acknowledged writes stay', async t => {
  for (const seed of [21, 22, 23]) {
    const world = await formCluster({ seed, n: 3 })
    const old = primaryOf(world)
    const others = [...world.machines.keys()].filter(id => id !== old)
    world.partition([old], others)
    const doomed = puts(world, old, 6, 'x')
    await world.runFor(1500)
    t.true(doomed.every(w => w.status === 'failed'), `seed ${seed}: ${doomed.map(w => w.status).join(',')}`)
    // The old primary wrote them durably: a suffix no other peer has.
    t.true(world.machine(old).device.store.state.index > world.machine(others[0]).device.store.state.index)
    t.not(await world.runUntil(() => world.primaries().some(p => p !== old), 10_000), undefined, `seed ${seed}: the majority elects`)
    const next = world.primaries().find(p => p !== old) as string
    const kept = puts(world, next, 6, 'x')
    await world.runFor(1000)
    t.true(kept.every(w => w.status === 'acked'), `seed ${seed}: ${kept.map(w => w.status).join(',')}`)
    assertClean(t, world, await settleAndCheck(world))
    const values = finalValues(world, old)
    t.true(doomed.every(w => !values.has(w.value as string)), `seed ${seed}: the deposed primary's suffix is gone`)
    t.true(kept.every(w => values.has(w.value as string)))
  }
})

test('a secondary that loses power loses its unsynced tail, and catches up after its restart', async t => {
  for (const seed of [31, 32, 33]) {
    const world = await formCluster({ seed, n: 3, disk: { minMs: 4, maxMs: 12, slowP: 0, slowMs: 12 } })
    const primary = primaryOf(world)
    const victim = [...world.machines.keys()].find(id => id !== primary) as string
    const client = startClient(world, mulberry32(seed), { gapMs: 20 })
    await world.runFor(500)
    t.not(await world.runUntil(() => world.machine(victim).device.inFlight > 0, 500, 1), undefined, `seed ${seed}`)
    const before = world.history.lostWrites
    world.crash(victim, 'none')
    t.true(world.history.lostWrites > before, `seed ${seed}: the crash lost writes in flight`)
    await world.runFor(3000) // long enough to be evicted: writes flow again without it
    world.start(victim)
    await world.runFor(2000)
    client.stop()
    assertClean(t, world, await settleAndCheck(world))
    t.true(world.history.writes.filter(w => w.status === 'acked' && w.submittedAt > 2500).length > 0, `seed ${seed}: writes were acknowledged after the crash`)
  }
})

test('duplicated, reordered and lost frames on every path (beyond what streams do) never break order or convergence', async t => {
  for (const seed of [41, 42, 43]) {
    const world = await formCluster({ seed, n: 4 })
    world.links = { drop: 0.1, dup: 0.3, minDelayMs: 1, maxDelayMs: 60, unordered: true }
    const client = startClient(world, mulberry32(seed), { gapMs: 30 })
    await world.runFor(6000)
    client.stop()
    assertClean(t, world, await settleAndCheck(world))
    t.true(world.history.writes.filter(w => w.status === 'acked').length > 20, `seed ${seed}: writes were acknowledged`)
  }
})

test(`random schedules (up to ${RUNS} seeds from ${FIRST_SEED}, ${BUDGET_MS} ms budget): no acknowledged write lost, replicas converge, no key goes back, one primary per term`, async t => {
  const started = Date.now()
  let runs = 0
  let writes = 0
  let acked = 0
  let crashes = 0
  let lost = 0
  for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS; seed++) {
    if (runs >= MIN_RUNS && Date.now() - started > BUDGET_MS) break
    const r = await runRandom(seed)
    runs++
    writes += r.stats.writes
    acked += r.stats.acked
    crashes += r.stats.crashes
    lost += r.stats.lostDiskWrites
    if (r.problems.length > 0) {
      t.fail(`seed ${seed} failed:\n  ${r.problems.slice(0, 10).join('\n  ')}\n  replay: ${replayCommand(seed)}\n  last actions:\n    ${r.actions.slice(-15).join('\n    ')}`)
      return
    }
  }
  t.log(`${runs} seeds, ${writes} writes (${acked} acknowledged), ${crashes} crashes (${lost} disk writes lost) in ${Date.now() - started} ms`)
  t.pass()
})

// ---------------------------------------------------------------------------------------------
// Bugs the simulation found in src/replication/shell.ts, now fixed there and in the port
// (sim-peer.ts). Each switch in ProposedFixes turns one fix off again: these tests check that the
// simulation still catches the bug without its fix (so the checker keeps guarding against it),
// and that the same seed is clean with it. Which seeds reproduce a bug changes whenever the
// write path's timing does, so each test tries the seeds known to have reproduced it, then
// searches (bounded). The storeMoved fix has no reproducing seed in 1–1500 since the local
// append runs in parallel with replication, and noLeadWhileInstalling none in 1–5000 since the
// read barrier and indexed snapshot messages changed the schedules, so they have no test here
// (see docs/testing.md; the arbiter core's unit test covers the install gate).

const REGRESSIONS: Array<[name: string, fix: keyof typeof ALL_FIXES, known: number[]]> = [
  ['gossip coalescing: a re-elected primary published stale and new entries in one frame every codec refuses', 'gossipCoalesce', [257, 159, 191, 111]],
  ['stale snapshot: a snapshot judged against the replica core while a persist was on the disk replaced a newer store; a key went back', 'staleSnapshot', [90, 405, 214, 608, 216, 772]],
  ['snapshot receive: a finished transfer cleared a newer one, installs ran unserialized and the store claimed data it no longer held', 'snapshotReceive', [21, 485, 214, 253, 119]],
  ['read barrier: a primary cut off from the others answered a repeat ok: false from its stale state while a new primary applied the first attempt', 'readBarrier', [1286]],
  ['indexed snapshot messages: a lost begin let another transfer\'s chunks and end complete this one; the store held another index\'s data', 'snapshotIndexed', [2633]]
]
/** Seeds searched (after the known ones) for one that reproduces a bug, and the time allowed. */
const SEARCH_SEEDS = 800
const SEARCH_BUDGET_MS = 60_000

for (const [name, fix, known] of REGRESSIONS) {
  test(`regression, ${name}: caught without the fix, clean with it`, async t => {
    t.timeout(SEARCH_BUDGET_MS + 30_000)
    const without = { fixes: { ...ALL_FIXES, [fix]: false } }
    const started = Date.now()
    let found: number | undefined
    for (const seed of [...known, ...Array.from({ length: SEARCH_SEEDS }, (_, i) => i + 1)]) {
      if ((await runRandom(seed, without)).problems.length > 0) { found = seed; break }
      if (Date.now() - started > SEARCH_BUDGET_MS) break
    }
    t.not(found, undefined, `no seed among ${known.join(', ')} and 1–${SEARCH_SEEDS} reproduces the ${fix} bug without its fix within ${SEARCH_BUDGET_MS} ms`)
    if (found === undefined) return
    t.log(`seed ${found} reproduces it without the fix (${Date.now() - started} ms to find)`)
    const withFix = await runRandom(found)
    t.deepEqual(withFix.problems, [], `replay: ${replayCommand(found)}`)
  })
}
