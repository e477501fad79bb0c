/**
 * On-demand runner of the whole-system fault simulation (docs/testing.md):
 *
 *   npm run test:sim -- --runs N [--seed S] [--verbose] [--trace] [--no-fixes]
 *
 * Runs N random schedules from seed S (default 1), prints progress, and on the first failure
 * prints the seed, the violated properties, the last fault actions and a one-line replay command,
 * and exits non-zero. `--trace` prints the world's event trace (roles, crashes, partitions).
 * `--no-fixes` runs the ported shell code exactly as the shells are, without the fixes the
 * simulation proposed (sim-peer.ts ProposedFixes).
 */
import { parseArgs } from 'node:util'
import { replayCommand, runRandom } from '../helpers/fault-schedule.js'
import type { RandomOptions } from '../helpers/fault-schedule.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    verbose: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'no-fixes': { type: 'boolean', default: false }
  }
})
const runs = Number(values.runs)
const first = Number(values.seed)
if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(first) || first < 0) {
  process.stderr.write('usage: npm run test:sim -- --runs N [--seed S] [--verbose] [--trace] [--no-fixes]\n')
  process.exit(2)
}

const started = Date.now()
let writes = 0
let acked = 0
let crashes = 0
for (let seed = first; seed < first + runs; seed++) {
  const t0 = Date.now()
  const opts: RandomOptions = values['no-fixes'] ? { fixes: {} } : {}
  if (values.trace) opts.onWorld = w => { w.trace = line => { process.stdout.write(`  ${line}\n`) } }
  const r = await runRandom(seed, opts)
  writes += r.stats.writes
  acked += r.stats.acked
  crashes += r.stats.crashes
  const s = r.stats
  if (values.verbose || r.problems.length > 0) {
    process.stdout.write(`seed ${seed}: ${s.writes} writes (${s.acked} acked, ${s.failed} failed), ${s.crashes} crashes (${s.lostDiskWrites} disk writes lost), ${s.elections} elections, ${s.messages} messages, ${s.virtualMs} virtual ms, ${Date.now() - t0} ms wall\n`)
  }
  if (r.problems.length > 0) {
    process.stdout.write(`\nFAILED seed ${seed}:\n  ${r.problems.slice(0, 20).join('\n  ')}\n  last actions:\n    ${r.actions.slice(-20).join('\n    ')}\n\nreplay: ${replayCommand(seed, { fixes: !values['no-fixes'] })}\n`)
    process.exit(1)
  }
  const done = seed - first + 1
  if (!values.verbose && (done % 10 === 0 || done === runs)) {
    process.stdout.write(`${done}/${runs} seeds ok (${writes} writes, ${acked} acked, ${crashes} crashes) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  }
}
process.stdout.write(`all ${runs} seeds from ${first} passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
