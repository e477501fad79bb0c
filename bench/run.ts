/**
 * `npm run bench`: kvgrid's benchmark harness. Peers run as separate processes on 127.0.0.1
 * (mDNS off), started fresh per run with their own temporary data directories (removed
 * afterwards, and at exit whatever happens: bench/cleanup.ts); every scenario is repeated
 * `--runs` times (default 3; `--quick`: once, with smaller counts). Durability as shipped:
 * fsync on. Prints a table on stdout (progress on stderr) and, with `--json FILE`, writes every
 * figure in the shape documented in docs/performance.md (built by the pure bench/report.ts).
 *
 *   --quick          every scenario once, smaller counts (a few minutes at most)
 *   --runs N         repetitions of each scenario (default 3)
 *   --json FILE      write the JSON report
 *   --chart FILE     write the latency-vs-concurrency SVG (default with --json FILE: FILE with
 *                    `.json` replaced by `-latency.svg`, e.g. docs/performance-latency.svg)
 *   --compare        also measure Redis (primary + 2 replicas, SET + WAIT) and a 3-member etcd
 *                    when installed (scripts/install-compare.sh); skipped with a note otherwise
 *   --only LIST      comma-separated subset: acked-write (with local and minRevision reads),
 *                    limits, catch-up, catch-up-missed, failover, standalone, ceiling, compare
 *
 * Scenarios: acked writes with 1, 3 and 5 peers (1 and 64 in flight; 3 peers also at 4, 16 and
 * 128 for the chart; client on the primary); what limits the 3-peer figures on one machine (the
 * same writes on 2 peers, and on 3 peers with fsync off); local reads on a secondary; minRevision reads on a
 * secondary right after each write on the primary; catch-up of a fresh peer joining a cluster
 * holding N keys; catch-up of a secondary restarted after missing N writes while down (SIGKILL);
 * failover (SIGKILL of the primary → first acked write, written through a secondary); and, in
 * the same run, the ceilings: raw classic-level batched puts, raw TCP round trips and round trips
 * of kvgrid frames over libp2p (Noise, Yamux), each to an echo process.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, release, totalmem } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { removeDir, tempDir, track } from './cleanup.js'
import { BenchCluster } from './cluster.js'
import { findBinary, startEtcd, startRedis } from './compare.js'
import type { CompareCluster } from './compare.js'
import * as R from './report.js'
import type { Result, Run } from './report.js'

const SCENARIOS = ['acked-write', 'limits', 'catch-up', 'catch-up-missed', 'failover', 'standalone', 'ceiling', 'compare'] as const
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    json: { type: 'string' },
    chart: { type: 'string' },
    runs: { type: 'string' },
    compare: { type: 'boolean' },
    only: { type: 'string' }
  }
})
const quick = values.quick === true
const runs = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 3
if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new TypeError('--runs must be an integer from 1 to 20')
const only = values.only?.split(',').map(s => s.trim()).filter(s => s !== '')
for (const s of only ?? []) if (!(SCENARIOS as readonly string[]).includes(s)) throw new TypeError(`--only: unknown scenario ${s} (${SCENARIOS.join(', ')})`)
const wanted = (s: typeof SCENARIOS[number]): boolean => only === undefined ? s !== 'compare' || values.compare === true : only.includes(s)
const chartPath = values.chart ?? (values.json !== undefined ? values.json.replace(/\.json$/i, '') + '-latency.svg' : undefined)
const worker = fileURLToPath(new URL('./worker.ts', import.meta.url))

/** One measurement in a fresh worker process; `DIR` in args becomes a temporary directory. */
async function measure (args: string[]): Promise<Run> {
  const dir = await tempDir()
  try {
    const full = args.map(a => a === 'DIR' ? dir : a)
    const stdout = await new Promise<string>((resolve, reject) => {
      track(execFile(process.execPath, ['--import=tsx', worker, ...full], { timeout: 120_000, env: { ...process.env, KVGRID_MDNS: 'off' } }, (err, stdout) => {
        if (err !== null) reject(err)
        else resolve(stdout)
      }))
    })
    return JSON.parse(stdout.trim().split('\n').at(-1) as string)
  } finally {
    await removeDir(dir)
  }
}

async function repeat (args: string[]): Promise<Run[]> {
  const out = []
  for (let i = 0; i < runs; i++) out.push(await measure(args))
  return out
}

const results: Result[] = []
const notes: string[] = []
const n = (full: number, small: number): number => quick ? small : full
const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`) }

/** Run one scenario; a failure is noted (and the other scenarios still run). */
async function scenario (name: typeof SCENARIOS[number], body: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return
  const started = Date.now()
  try {
    await body()
  } catch (err: any) {
    notes.push(`${name} failed: ${String(err?.message ?? err)}`)
    log(`${name} failed: ${String(err?.stack ?? err)}`)
  }
  log(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

/** Writes per load: enough to last a few seconds at each level, bounded. */
const writesAt = (inFlight: number): number => inFlight === 1 ? n(3000, 500) : Math.min(n(40_000, 8000), n(2500, 500) * inFlight)

/**
 * Warm a cluster up, unmeasured: a running peer has its code compiled by the JIT and its
 * connections and files open; the first few thousand writes of a fresh process do not.
 */
async function warmUp (cluster: BenchCluster): Promise<void> {
  await cluster.primary.run(`load 16 ${n(4000, 1000)} 10000`, 'load')
  await cluster.primary.run(`load 1 ${n(1000, 200)} 10000`, 'load')
}

// 1 and 2. Acked writes with 1, 3 and 5 peers; on 3 peers also the chart's levels, local reads on
// a secondary and minRevision reads on a secondary right after each write on the primary.
await scenario('acked-write', async () => {
  const reads: Run[] = []
  const mrReads: Run[] = []
  const steady = new Map<number, Run[]>([[1, []], [64, []]])
  for (const peers of [1, 3, 5]) {
    const levels = peers === 3 ? [1, 4, 16, 64, 128] : [1, 64]
    const byInFlight = new Map<number, Run[]>(levels.map(l => [l, []]))
    for (let run = 0; run < runs; run++) {
      log(`acked writes, ${peers} peer(s), in flight ${levels.join('/')}, run ${run + 1}/${runs}`)
      const cluster = await BenchCluster.start(peers)
      try {
        await warmUp(cluster)
        let revision = 0
        for (const inFlight of levels) {
          const r = await cluster.primary.run(`load ${inFlight} ${writesAt(inFlight)} 10000`, 'load')
          byInFlight.get(inFlight)!.push(r)
          revision = r.revision
        }
        if (peers === 3 && !quick) {
          // The levels took the stores past retainRevisions (100 000): from here on every write
          // also pays for compacting history, as on any long-running store.
          if (revision <= 100_000 + 1024) notes.push(`acked-write-steady ran at revision ${revision}, before compaction was due`)
          for (const [inFlight, rs] of steady) rs.push(await cluster.primary.run(`load ${inFlight} ${inFlight === 1 ? 3000 : 40_000} 10000`, 'load'))
        }
        if (peers === 3) {
          const secondary = cluster.secondary
          reads.push(await secondary.run(`reads ${n(200_000, 50_000)}`, 'reads'))
          const { port } = await secondary.run<{ port: number }>('serve-reads', 'serving')
          mrReads.push(await cluster.primary.run(`mrread ${port} ${n(3000, 500)}`, 'mrread'))
        }
      } finally {
        await cluster.close()
      }
    }
    for (const [inFlight, rs] of byInFlight) results.push(R.ackedWrite(peers, inFlight, rs))
  }
  if (!quick) for (const [inFlight, rs] of steady) results.push(R.ackedWriteSteady(3, inFlight, rs))
  results.push(R.localRead(reads), R.minRevisionRead(mrReads))
})

// 1b. What limits the 3-peer figures here, where every peer shares the same two cores and disk:
// the same writes on 2 peers (one process fewer), and on 3 peers with fsync off on every peer.
await scenario('limits', async () => {
  const setups = [
    { peers: 2, fsync: true, result: R.ackedWrite },
    { peers: 3, fsync: false, result: R.ackedWriteFsyncOff }
  ]
  for (const { peers, fsync, result } of setups) {
    const byInFlight = new Map<number, Run[]>([[1, []], [64, []]])
    for (let run = 0; run < runs; run++) {
      log(`acked writes, ${peers} peers, fsync ${fsync ? 'on' : 'off'}, in flight 1/64, run ${run + 1}/${runs}`)
      const cluster = await BenchCluster.start(peers, { fsync })
      try {
        await warmUp(cluster)
        for (const [inFlight, rs] of byInFlight) rs.push(await cluster.primary.run(`load ${inFlight} ${writesAt(inFlight)} 10000`, 'load'))
      } finally {
        await cluster.close()
      }
    }
    for (const [inFlight, rs] of byInFlight) results.push(result(peers, inFlight, rs))
  }
})

// 3a. Catch-up: a fresh peer joins a one-peer cluster holding `keys` keys; time until it is a member.
await scenario('catch-up', async () => {
  const keys = n(100_000, 20_000)
  const secs: number[] = []
  const startSecs: number[] = []
  for (let run = 0; run < runs; run++) {
    log(`catch-up of ${keys} keys, run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(1)
    try {
      await cluster.primary.run(`fill ${keys}`, 'filled')
      const started = performance.now()
      const joiner = await cluster.add(cluster.primary.status!.multiaddrs[0])
      await cluster.until(() => joiner.status !== undefined, 'the joiner to start', 60_000)
      startSecs.push((performance.now() - started) / 1000)
      await cluster.until(() => joiner.status?.members === 2 && joiner.status.role === 'secondary', 'the joiner to become a member', 120_000)
      secs.push((performance.now() - started) / 1000)
    } finally {
      await cluster.close()
    }
  }
  results.push(R.catchUp(keys, secs, startSecs))
})

// 3b. A secondary of 3 SIGKILLed, `missed` writes acked by the other two, then restarted on its
// data: time from the restart until it is a member again holding the primary's revision.
await scenario('catch-up-missed', async () => {
  const missed = n(10_000, 3000)
  const secs: number[] = []
  const startSecs: number[] = []
  for (let run = 0; run < runs; run++) {
    log(`catch-up after missing ${missed} writes, run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(3)
    try {
      const primary = cluster.primary
      await primary.run('load 16 1000 1000', 'load') // some history before it goes down
      const victim = cluster.secondary
      await cluster.kill(victim)
      await cluster.until(() => cluster.peers.every(p => !p.alive() || p.status?.members === 2), 'the killed secondary to be evicted', 30_000)
      const { revision: target } = await primary.run<{ revision: number }>(`fill ${missed} missed`, 'filled')
      const started = performance.now()
      const back = cluster.restart(victim, primary.status!.multiaddrs[0])
      // Queued on its stdin now; the worker reads it once its peer started.
      const caughtUp = back.run(`caught-up ${target} 3`, 'caught-up')
      await cluster.until(() => back.status !== undefined, 'the restarted secondary to start', 60_000)
      startSecs.push((performance.now() - started) / 1000)
      await caughtUp
      secs.push((performance.now() - started) / 1000)
    } finally {
      await cluster.close()
    }
  }
  results.push(R.catchUpMissed(missed, secs, startSecs))
})

// 4. Failover: SIGKILL the primary of 3 while a secondary writes; time to its first acked write after.
await scenario('failover', async () => {
  const secs: number[] = []
  for (let run = 0; run < runs; run++) {
    log(`failover, run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(3)
    try {
      const writer = cluster.secondary
      const probe = writer.run('probe 8000', 'probe')
      await new Promise(resolve => setTimeout(resolve, 1500))
      const killedAt = Date.now()
      cluster.primary.child.kill('SIGKILL')
      const { oks } = await probe as { oks: Array<[number, number]> }
      // The first write that started after the kill and was acknowledged.
      const first = oks.find(([started]) => started >= killedAt)
      if (first !== undefined) secs.push((first[1] - killedAt) / 1000)
      else log('failover: no acked write within the probe window')
    } finally {
      await cluster.close()
    }
  }
  results.push(R.failover(secs, runs))
})

// 5. Single-peer figures without networking, and the ceilings, for comparison.
await scenario('standalone', async () => {
  for (const inFlight of [1, 64]) {
    log(`standalone acked writes, in flight ${inFlight}`)
    results.push(R.ackedWriteStandalone(inFlight, await repeat(['acked-write', 'DIR', String(inFlight), String(inFlight === 1 ? n(3000, 500) : n(50_000, 10_000)), 'true'])))
  }
})
await scenario('ceiling', async () => {
  log('ceilings')
  results.push(R.ceilingLevelBatch(await repeat(['ceiling-level', 'DIR', String(n(500_000, 100_000))])))
  results.push(R.ceilingTcpRtt(await repeat(['ceiling-tcp', String(n(20_000, 2000))])))
  results.push(R.ceilingLibp2pRtt(await repeat(['ceiling-libp2p', 'DIR', String(n(10_000, 2000))])))
})

// 6. --compare: Redis (primary + 2 replicas, SET + WAIT 2 1000) and a 3-member etcd.
const versionOf = (bin: string, args: string[], pattern: RegExp): string => {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', timeout: 10_000 }).match(pattern)?.[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
const compared: Record<string, string> = {}
await scenario('compare', async () => {
  const systems = [
    { name: 'compare-redis-wait', bin: 'redis-server', start: startRedis, mode: 'compare-redis', version: /v=(\S+)/, setup: 'Redis primary + 2 replicas, SET + WAIT 2 1000 per write (one round trip), persistence off' },
    { name: 'compare-etcd', bin: 'etcd', start: startEtcd, mode: 'compare-etcd', version: /etcd Version: (\S+)/, setup: 'etcd 3 members, put via the v3 JSON gateway to the leader, fsync on' }
  ]
  for (const s of systems) {
    const bin = findBinary(s.bin)
    if (bin === undefined) {
      notes.push(`${s.name} skipped: ${s.bin} not found on PATH (scripts/install-compare.sh installs it)`)
      log(`${s.name} skipped: ${s.bin} not installed`)
      continue
    }
    compared[s.bin] = versionOf(bin, ['--version'], s.version)
    const byInFlight = new Map<number, Run[]>([[1, []], [64, []]])
    try {
      for (let run = 0; run < runs; run++) {
        log(`${s.name}, run ${run + 1}/${runs}`)
        const cluster: CompareCluster = await s.start(bin)
        try {
          for (const [inFlight, rs] of byInFlight) rs.push(await measure([s.mode, cluster.target, String(inFlight), String(writesAt(inFlight))]))
        } finally {
          await cluster.close()
        }
      }
      for (const [inFlight, rs] of byInFlight) results.push(R.compare(s.name, `${s.setup} (${s.bin} ${compared[s.bin]})`, inFlight, rs))
    } catch (err: any) {
      notes.push(`${s.name} failed: ${String(err?.message ?? err)}`)
      log(`${s.name} failed: ${String(err?.stack ?? err)}`)
    }
  }
})

const pkg = async (name: string): Promise<string> => JSON.parse(await readFile(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version
const report = R.buildReport({
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryBytes: totalmem(), os: `${process.platform} ${release()}`, node: process.version },
  versions: { kvgrid: JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version, libp2p: await pkg('libp2p'), 'classic-level': await pkg('classic-level'), ...compared },
  runs,
  quick,
  notes,
  results
})

process.stdout.write('\n' + R.formatTable(report))
if (values.json !== undefined) {
  await mkdir(dirname(values.json), { recursive: true })
  await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`\nwrote ${values.json}\n`)
}
if (chartPath !== undefined) {
  const points = R.chartPoints(report.results, 3)
  if (points.length === 0) {
    process.stdout.write('no chart: no 3-peer acked-write figures\n')
  } else {
    const m = report.machine
    const subtitle = `${m.cores} × ${m.cpu ?? 'CPU'}, ${m.os}, node ${m.node}, ${new Date().toISOString().slice(0, 10)}\n` +
      `peers as processes on 127.0.0.1, fsync on, 100-byte values; median of ${runs} run${runs === 1 ? '' : 's'} (whiskers: min–max)${quick ? ', --quick' : ''}`
    await mkdir(dirname(chartPath), { recursive: true })
    await writeFile(chartPath, R.latencyChartSvg(points, { subtitle }))
    process.stdout.write(`wrote ${chartPath}\n`)
  }
}
