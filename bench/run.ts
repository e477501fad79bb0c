/**
 * `npm run bench`: kvgrid's benchmark harness. Every measurement runs in a fresh child process
 * with its own temporary data directory (removed afterwards), repeated `--runs` times (default
 * 3; `--quick`: once, with smaller counts). Prints a table and, with `--json FILE`, writes the
 * figures in the shape documented in docs/performance.md.
 *
 * Today it measures a single peer (networking and replication are not wired yet) next to the
 * machine's ceilings: raw classic-level batched puts and raw TCP round trips on 127.0.0.1.
 * Durability as shipped: fsync on.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { cpus, tmpdir, totalmem, release } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { spread } from './stats.js'
import type { Spread } from './stats.js'

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

for (const inFlight of [1, 64]) {
  const rs = await repeat(['acked-write', 'DIR', String(inFlight), inFlight === 1 ? n(3000, 500) : n(50_000, 10_000), 'true'])
  results.push({ name: 'acked-write', peers: 1, inFlight, fsync: true, opsPerSec: pick(rs, 'opsPerSec'), p50Ms: pick(rs, 'p50Ms'), p99Ms: pick(rs, 'p99Ms') })
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
  fmt(r.opsPerSec as Spread | undefined), fmt(r.p50Ms as Spread | undefined, 3), fmt(r.p99Ms as Spread | undefined, 3)
])
const header = ['scenario', 'peers', 'in flight', 'ops/s median (min–max)', 'p50 ms', 'p99 ms']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
process.stdout.write(`kvgrid bench — ${report.machine.cores} × ${report.machine.cpu}, node ${process.version}, runs ${runs}${quick ? ' (quick)' : ''}, fsync on\n\n`)
process.stdout.write(line(header) + '\n' + widths.map(w => '-'.repeat(w)).join('  ') + '\n')
for (const r of rows) process.stdout.write(line(r) + '\n')
if (values.json !== undefined) {
  await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`\nwrote ${values.json}\n`)
}
