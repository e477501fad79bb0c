/**
 * Random schedules: many seeded runs of a 2–6 peer cluster under message loss (0–30%),
 * duplication, random delay (so reordering), partitions, link cuts, crashes and restarts, log
 * growth, late joiners and clean leaves. The checker asserts, for every run:
 * - at most one primary per term, ever; every elected primary's log is >= the log of every
 *   peer that granted it a vote; no persisted term goes back, no vote changes within a term;
 * - after healing everything and letting the cluster settle: exactly one primary, and every
 *   live peer is a member agreeing on term, primary and members.
 *
 * SIM_RUNS sets the number of runs (default 4000), SIM_SEED the first seed (default 1). A failure
 * names its seed; replay it alone with `SIM_SEED=<seed> SIM_RUNS=1 npx ava test/arbiter-random.test.ts`.
 */
import test from 'ava'
import { runSchedule } from './helpers/sim-schedule.js'

const RUNS = Number(process.env.SIM_RUNS ?? 4000)
const FIRST_SEED = Number(process.env.SIM_SEED ?? 1)
/** Seeds per ava test: each test reports before ava's inactivity timeout, whatever SIM_RUNS. */
const CHUNK = 500

for (let from = FIRST_SEED; from < FIRST_SEED + RUNS; from += CHUNK) {
  const to = Math.min(from + CHUNK, FIRST_SEED + RUNS) - 1
  test(`random schedules, seeds ${from}–${to}: at most one primary per term, winners at least as up to date as their voters, one agreed primary and membership after healing`, t => {
    const started = Date.now()
    let elections = 0
    let messages = 0
    for (let seed = from; seed <= to; seed++) {
      const r = runSchedule(seed)
      elections += r.terms
      messages += r.messages
      if (r.problem !== undefined) {
        t.fail(`seed ${seed}: ${r.problem}\n  replay: SIM_SEED=${seed} SIM_RUNS=1 npx ava test/arbiter-random.test.ts\n  last actions:\n    ${r.actions.slice(-15).join('\n    ')}`)
        return
      }
    }
    t.log(`${to - from + 1} runs, ${elections} elections, ${messages} messages, ${Date.now() - started} ms wall`)
    t.pass()
  })
}
