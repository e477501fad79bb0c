/**
 * `npm run bench`: kvgrid's benchmark harness. Peers run as separate processes on 127.0.0.1
 * (mDNS off), started fresh per run with their own temporary data directories (removed
 * afterwards); every scenario is repeated `--runs` times (default 3; `--quick`: once, with
 * smaller counts). Durability as shipped: fsync on. Prints a table and, with `--json FILE`,
 * writes every figure in the shape documented in docs/performance.md.
 *
 * Scenarios: acked writes with 1, 3 and 5 peers (1 and 64 in flight, client on the primary);
 * local reads on a secondary; catch-up of a fresh peer joining a cluster holding N keys;
 * failover (SIGKILL of the primary → first acked write, written through a secondary); and, in
 * the same run, the ceilings: raw classic-level batched puts and raw TCP round trips.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { cpus, tmpdir, totalmem, release } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { spread } from './stats.js'
import type { Spread } from './stats.js'
import { BenchCluster } from './cluster.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, json: { type: 'string' }, runs: { type: 'string' } } })
const quick = values.quick === true
const runs = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 3
const worker = fileURLToPath(new URL('./worker.ts', import.meta.url))

async function measure (args: string[]): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'kvgrid-bench-'))
  try {
    const full = args.map(a => a === 'DIR' ? dir : a)
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(process.execPath, ['--import=tsx', worker, ...full], { timeout: 120_000, env: { ...process.env, KVGRID_MDNS: 'off' } }, (err, stdout) => {
        if (err !== null) reject(err)
        else resolve({ stdout })
      })
    })
    return JSON.parse(stdout.trim().split('\n').at(-1) as string)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function repeat (args: string[]): Promise<Array<Record<string, number>>> {
  const out = []
  for (let i = 0; i < runs; i++) out.push(await measure(args))
  return out
}

const pick = (rs: Array<Record<string, number>>, k: string): Spread => spread(rs.map(r => r[k]))
const results: Array<Record<string, unknown>> = []
const n = (full: number, small: number): string => String(quick ? small : full)

const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`) }

// 1. Acked writes (and local reads on a secondary) with 1, 3 and 5 peers.
const reads: Array<Record<string, number>> = []
for (const peers of [1, 3, 5]) {
  const byInFlight = new Map<number, Array<Record<string, number>>>([[1, []], [64, []]])
  for (let run = 0; run < runs; run++) {
    log(`acked writes, ${peers} peer(s), run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(peers)
    try {
      for (const inFlight of [1, 64]) {
        const count = inFlight === 1 ? n(3000, 500) : n(40_000, 8000)
        byInFlight.get(inFlight)!.push(await cluster.primary.run(`load ${inFlight} ${count} 10000`, 'load'))
      }
      if (peers === 3) {
        const secondary = cluster.peers.find(p => p.status?.role === 'secondary')!
        reads.push(await secondary.run(`reads ${n(200_000, 50_000)}`, 'reads'))
      }
    } finally {
      await cluster.close()
    }
  }
  for (const [inFlight, rs] of byInFlight) {
    results.push({ name: 'acked-write', peers, inFlight, fsync: true, opsPerSec: pick(rs, 'opsPerSec'), p50Ms: pick(rs, 'p50Ms'), p99Ms: pick(rs, 'p99Ms'), errors: rs.reduce((a, r) => a + r.errors, 0) })
  }
}
results.push({ name: 'local-read', peers: 3, on: 'secondary', opsPerSec: pick(reads, 'opsPerSec') })

// 2. Catch-up: a fresh peer joins a one-peer cluster holding `keys` keys; time until it is a member.
{
  const keys = Number(n(100_000, 20_000))
  const secs: number[] = []
  for (let run = 0; run < runs; run++) {
    log(`catch-up of ${keys} keys, run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(1)
    try {
      await cluster.primary.run(`fill ${keys}`, 'filled')
      const started = performance.now()
      const joiner = await cluster.add(cluster.primary.status!.multiaddrs[0])
      await cluster.until(() => joiner.status?.members === 2 && joiner.status.role === 'secondary', 'the joiner to become a member', 120_000)
      secs.push((performance.now() - started) / 1000)
    } finally {
      await cluster.close()
    }
  }
  results.push({ name: 'catch-up', keys, seconds: spread(secs), includes: 'process start, discovery and snapshot transfer' })
}

// 3. Failover: SIGKILL the primary of 3 while a secondary writes; time to its first acked write after.
{
  const secs: number[] = []
  for (let run = 0; run < runs; run++) {
    log(`failover, run ${run + 1}/${runs}`)
    const cluster = await BenchCluster.start(3)
    try {
      const writer = cluster.peers.find(p => p.status?.role === 'secondary')!
      const probe = writer.run('probe 8000', 'probe')
      await new Promise(resolve => setTimeout(resolve, 1500))
      const old = cluster.primary
      const killedAt = Date.now()
      old.child.kill('SIGKILL')
      const { oks } = await probe as { oks: Array<[number, number]> }
      // The first write that started after the kill and was acknowledged.
      const first = oks.find(([started]) => started >= killedAt)
      if (first !== undefined) secs.push((first[1] - killedAt) / 1000)
      else log('failover: no acked write within the probe window')
    } finally {
      await cluster.close()
    }
  }
  if (secs.length > 0) results.push({ name: 'failover', peers: 3, seconds: spread(secs), measures: 'SIGKILL of the primary → first acked write (forwarded from a secondary)' })
}

// 4. Single-peer figures without networking, for comparison with the ceiling.
for (const inFlight of [1, 64]) {
  const rs = await repeat(['acked-write', 'DIR', String(inFlight), inFlight === 1 ? n(3000, 500) : n(50_000, 10_000), 'true'])
  results.push({ name: 'acked-write-standalone', peers: 1, inFlight, fsync: true, opsPerSec: pick(rs, 'opsPerSec'), p50Ms: pick(rs, 'p50Ms'), p99Ms: pick(rs, 'p99Ms') })
}
{
  const rs = await repeat(['ceiling-level', 'DIR', n(500_000, 100_000)])
  results.push({ name: 'ceiling-level-batch', batch: 1000, sync: true, opsPerSec: pick(rs, 'opsPerSec') })
}
{
  const rs = await repeat(['ceiling-tcp', n(20_000, 2000)])
  results.push({ name: 'ceiling-tcp-rtt', p50Ms: pick(rs, 'p50Ms'), p99Ms: pick(rs, 'p99Ms') })
}

const pkg = async (name: string): Promise<string> => JSON.parse(await readFile(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version
const report = {
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryBytes: totalmem(), os: `${process.platform} ${release()}`, node: process.version },
  versions: { kvgrid: JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version, libp2p: await pkg('libp2p'), 'classic-level': await pkg('classic-level') },
  runs,
  quick,
  results
}

const fmt = (s: Spread | undefined, digits = 0): string => s === undefined ? '' : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
const rows = results.map(r => [
  String(r.name), String(r.peers ?? ''), String(r.inFlight ?? ''),
  fmt(r.opsPerSec as Spread | undefined), fmt(r.p50Ms as Spread | undefined, 3), fmt(r.p99Ms as Spread | undefined, 3),
  fmt(r.seconds as Spread | undefined, 2)
])
const header = ['scenario', 'peers', 'in flight', 'ops/s median (min–max)', 'p50 ms', 'p99 ms', 'seconds']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
process.stdout.write(`kvgrid bench — ${report.machine.cores} × ${report.machine.cpu}, node ${process.version}, runs ${runs}${quick ? ' (quick)' : ''}, fsync on\n\n`)
process.stdout.write(line(header) + '\n' + widths.map(w => '-'.repeat(w)).join('  ') + '\n')
for (const r of rows) process.stdout.write(line(r) + '\n')
if (values.json !== undefined) {
  await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`\nwrote ${values.json}\n`)
}
