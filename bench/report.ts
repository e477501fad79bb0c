/**
 * The benchmark report, pure: from the raw figures of each run to the result entries, the JSON
 * report, the stdout table and the latency-vs-concurrency SVG chart. No I/O here (bench/run.ts
 * measures and writes), so test/bench-report.test.ts checks all of it from fake measurements.
 *
 * JSON shape (docs/performance.md): `{ machine, versions, runs, quick, fsync, notes, results }`,
 * each result `{ name, …parameters, …figures }` where every figure is a {@link Spread} over the
 * runs (`{ median, min, max }`; `null` fields when no run measured it), e.g.
 * `{"name": "acked-write", "peers": 3, "inFlight": 1, "opsPerSec": {…}, "p50Ms": {…}, "p99Ms": {…}}`,
 * `{"name": "catch-up", "keys": 100000, "seconds": {…}}`, `{"name": "failover", "seconds": {…}}`,
 * `{"name": "ceiling-level-batch", "opsPerSec": {…}}`, `{"name": "ceiling-tcp-rtt", "p50Ms": {…}}`,
 * `{"name": "ceiling-libp2p-rtt", "p50Ms": {…}, "cpuUsPerRoundTrip": {…}}`.
 */
import { spread } from './stats.js'
import type { Spread } from './stats.js'

/** Raw figures of one run of one measurement (as a worker printed them). */
export type Run = Record<string, number>

/** One entry of `results`: a name, its parameters and its figures. */
export interface Result {
  name: string
  [field: string]: unknown
}

/** The machine the figures were measured on. */
export interface Machine {
  cpu: string | undefined
  cores: number
  memoryBytes: number
  os: string
  node: string
}

/** The whole JSON report. */
export interface Report {
  machine: Machine
  versions: Record<string, string>
  runs: number
  quick: boolean
  /** Durability as shipped, of every kvgrid figure but those whose own `fsync` is false: on. */
  fsync: boolean
  /** Skipped scenarios and other remarks, also printed under the table. */
  notes: string[]
  results: Result[]
}

/** The spread of each of `fields` over `runs` (fields no run has are left out). */
function spreads (runs: Run[], fields: readonly string[]): Record<string, Spread> {
  const out: Record<string, Spread> = {}
  for (const f of fields) {
    if (runs.some(r => typeof r[f] === 'number')) out[f] = spread(runs.map(r => r[f] ?? NaN))
  }
  return out
}

const errorsOf = (runs: Run[]): number => runs.reduce((a, r) => a + (r.errors ?? 0), 0)

/** The figures of a write load: writes/s, p50 and p99 spreads, and the errors summed over the runs. */
const writeFigures = (runs: Run[]): Record<string, Spread | number> => ({ ...spreads(runs, ['opsPerSec', 'p50Ms', 'p99Ms']), errors: errorsOf(runs) })

/** Acked writes through the peer API on the primary of `peers` peers, `inFlight` at a time. */
export function ackedWrite (peers: number, inFlight: number, runs: Run[]): Result {
  return { name: 'acked-write', peers, inFlight, fsync: true, ...writeFigures(runs) }
}

/**
 * The same acked writes with fsync off on every peer (not as shipped): beside the fsync-on
 * figure it shows what the disk flushes cost (the `limits` scenario).
 */
export function ackedWriteFsyncOff (peers: number, inFlight: number, runs: Run[]): Result {
  return { name: 'acked-write-fsync-off', peers, inFlight, fsync: false, ...writeFigures(runs) }
}

/**
 * Acked writes on peers whose stores hold more than `retainRevisions` revisions: every write
 * then also pays for compacting the history below the floor, as on any long-running store.
 */
export function ackedWriteSteady (peers: number, inFlight: number, runs: Run[], retainRevisions = 100_000): Result {
  return { name: 'acked-write-steady', peers, inFlight, fsync: true, retainRevisions, ...writeFigures(runs) }
}

/** Acked writes on one standalone peer in one process (no networking). */
export function ackedWriteStandalone (inFlight: number, runs: Run[]): Result {
  return { name: 'acked-write-standalone', peers: 1, inFlight, fsync: true, ...spreads(runs, ['opsPerSec', 'p50Ms', 'p99Ms']) }
}

/** Local reads (no minRevision) on a secondary of 3 peers. */
export function localRead (runs: Run[]): Result {
  return { name: 'local-read', peers: 3, on: 'secondary', ...spreads(runs, ['opsPerSec']) }
}

/**
 * A write on the primary, then at once a read of that key on a secondary with
 * `minRevision` = the write's revision, one pair at a time. `opsPerSec` counts reads per second
 * of the loop (each read follows its write); p50/p99 are the read's latency on the secondary
 * (revision received → value returned); `roundTripP50Ms` adds the hop from the writer.
 */
export function minRevisionRead (runs: Run[]): Result {
  return {
    name: 'min-revision-read',
    peers: 3,
    on: 'secondary',
    inFlight: 1,
    ...spreads(runs, ['opsPerSec', 'p50Ms', 'p99Ms']),
    ...spreads(runs, ['roundTripP50Ms', 'roundTripP99Ms']),
    stale: runs.reduce((a, r) => a + (r.stale ?? 0), 0),
    errors: errorsOf(runs)
  }
}

/**
 * A fresh peer joins a cluster holding `keys` keys: process start → member. `startSeconds`
 * (optional): process start → the peer's first status line (node and peer started), the part
 * of `seconds` that is not catch-up.
 */
export function catchUp (keys: number, seconds: number[], startSeconds?: number[]): Result {
  return { name: 'catch-up', keys, seconds: spread(seconds), ...(startSeconds !== undefined ? { startSeconds: spread(startSeconds) } : {}), includes: 'process start, discovery and snapshot transfer' }
}

/**
 * A secondary of 3, down (SIGKILL) while `missed` writes were acked, restarted on its data:
 * process start → member again at the primary's revision (`startSeconds` as in {@link catchUp}).
 */
export function catchUpMissed (missed: number, seconds: number[], startSeconds?: number[]): Result {
  return { name: 'catch-up-missed', peers: 3, missed, seconds: spread(seconds), ...(startSeconds !== undefined ? { startSeconds: spread(startSeconds) } : {}), includes: 'process start, discovery and the delta from its own position' }
}

/** SIGKILL of the primary of 3 → first acked write (started after the kill). */
export function failover (seconds: number[], attempted: number): Result {
  return { name: 'failover', peers: 3, seconds: spread(seconds), runsWithoutAck: attempted - seconds.length, measures: 'SIGKILL of the primary → first acked write (forwarded from a secondary)' }
}

/** Raw classic-level: chained batches of `batch` puts, sync. */
export function ceilingLevelBatch (runs: Run[], batch = 1000): Result {
  return { name: 'ceiling-level-batch', batch, sync: true, ...spreads(runs, ['opsPerSec']) }
}

/** Raw TCP round trips of 32 bytes on 127.0.0.1, to an echo process; `cpuUsPerRoundTrip`: the sender's CPU. */
export function ceilingTcpRtt (runs: Run[]): Result {
  return { name: 'ceiling-tcp-rtt', bytes: 32, ...spreads(runs, ['p50Ms', 'p99Ms', 'cpuUsPerRoundTrip']) }
}

/**
 * Round trips of 100-byte frames between two kvgrid libp2p nodes in separate processes (TCP,
 * Noise, Yamux and kvgrid's framing: the hop every replication message takes); `cpuUsPerRoundTrip`:
 * the sender's CPU for one frame sent and one received.
 */
export function ceilingLibp2pRtt (runs: Run[]): Result {
  return { name: 'ceiling-libp2p-rtt', bytes: 100, ...spreads(runs, ['p50Ms', 'p99Ms', 'cpuUsPerRoundTrip']) }
}

/** Another system measured in the same run (`--compare`). */
export function compare (name: string, setup: string, inFlight: number, runs: Run[]): Result {
  return { name, setup, inFlight, ...writeFigures(runs) }
}

const isSpread = (v: unknown): v is Spread => typeof v === 'object' && v !== null && 'median' in v

/**
 * Every figure beside what the hardware allows: `vsCeiling.opsPerSec` is the median's share of
 * the raw LevelDB batch ceiling (writes only: acked writes and the compared systems),
 * `vsCeiling.p50Ms` the median p50 in raw TCP round trips.
 */
export function withCeilingRatios (results: Result[]): Result[] {
  const level = results.find(r => r.name === 'ceiling-level-batch')?.opsPerSec
  const rtt = results.find(r => r.name === 'ceiling-tcp-rtt')?.p50Ms
  return results.map(r => {
    if (r.name.startsWith('ceiling-')) return r
    const vs: Record<string, number> = {}
    const writes = r.name.startsWith('acked-write') || r.name.startsWith('compare-')
    if (writes && isSpread(r.opsPerSec) && isSpread(level) && level.median > 0) vs.opsPerSec = r.opsPerSec.median / level.median
    if (isSpread(r.p50Ms) && isSpread(rtt) && rtt.median > 0) vs.p50Ms = r.p50Ms.median / rtt.median
    return Object.keys(vs).length > 0 ? { ...r, vsCeiling: vs } : r
  })
}

/** The JSON report (ceiling ratios added). */
export function buildReport (input: { machine: Machine, versions: Record<string, string>, runs: number, quick: boolean, notes?: string[], results: Result[] }): Report {
  return {
    machine: input.machine,
    versions: input.versions,
    runs: input.runs,
    quick: input.quick,
    fsync: true,
    notes: input.notes ?? [],
    results: withCeilingRatios(input.results)
  }
}

/** A figure for the table: NaN as "—", large numbers grouped, small ones to 3 significant digits. */
export function num (v: number): string {
  if (!Number.isFinite(v)) return '—'
  if (Math.abs(v) >= 100) return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ')
  if (v === 0) return '0'
  return v.toPrecision(3)
}

const range = (s: unknown): string => {
  if (!isSpread(s)) return ''
  return s.min === s.max || !Number.isFinite(s.min) ? num(s.median) : `${num(s.median)} (${num(s.min)}–${num(s.max)})`
}

/** The scenario column: the name and what sets it apart. */
export function label (r: Result): string {
  const extra: string[] = []
  if (typeof r.keys === 'number') extra.push(`${num(r.keys)} keys`)
  if (typeof r.missed === 'number') extra.push(`${num(r.missed)} missed`)
  if (typeof r.on === 'string') extra.push(`on ${r.on}`)
  if (isSpread(r.cpuUsPerRoundTrip)) extra.push(`${num(r.cpuUsPerRoundTrip.median)} µs CPU each`)
  if (typeof r.retainRevisions === 'number') extra.push(`past ${num(r.retainRevisions)} revisions, compacting`)
  return extra.length > 0 ? `${r.name} (${extra.join(', ')})` : r.name
}

/** The readable table printed on stdout. */
export function formatTable (report: Report): string {
  const m = report.machine
  const head = `kvgrid bench — ${m.cores} × ${m.cpu ?? 'unknown CPU'}, node ${m.node}, runs ${report.runs}${report.quick ? ' (quick)' : ''}, fsync ${report.fsync ? 'on' : 'off'}; median (min–max)`
  const header = ['scenario', 'peers', 'in flight', 'ops/s', 'p50 ms', 'p99 ms', 'seconds', 'vs ceiling']
  const rows = report.results.map(r => {
    const vs = r.vsCeiling as Record<string, number> | undefined
    const ratio = [
      vs?.opsPerSec !== undefined ? `${num(vs.opsPerSec * 100)}% LevelDB` : '',
      vs?.p50Ms !== undefined ? `${num(vs.p50Ms)}× RTT` : ''
    ].filter(s => s !== '').join(', ')
    return [label(r), String(r.peers ?? ''), String(r.inFlight ?? ''), range(r.opsPerSec), range(r.p50Ms), range(r.p99Ms), range(r.seconds), ratio]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
  const out = [head, '', line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)]
  if (report.notes.length > 0) out.push('', ...report.notes.map(n => `note: ${n}`))
  return out.join('\n') + '\n'
}

/** One point of the latency-vs-concurrency chart. */
export interface ChartPoint { inFlight: number, p50Ms: Spread, p99Ms: Spread, opsPerSec: Spread }

/** The acked-write results of `peers` peers, by in-flight level (those with every figure). */
export function chartPoints (results: Result[], peers = 3): ChartPoint[] {
  return results
    .filter(r => r.name === 'acked-write' && r.peers === peers && typeof r.inFlight === 'number' &&
      isSpread(r.p50Ms) && isSpread(r.p99Ms) && isSpread(r.opsPerSec) &&
      Number.isFinite(r.p50Ms.median) && Number.isFinite(r.p99Ms.median) && Number.isFinite(r.opsPerSec.median))
    .map(r => ({ inFlight: r.inFlight as number, p50Ms: r.p50Ms as Spread, p99Ms: r.p99Ms as Spread, opsPerSec: r.opsPerSec as Spread }))
    .sort((a, b) => a.inFlight - b.inFlight)
}

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above `v` (1 for v ≤ 0). */
export function niceMax (v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p
  return 10 * p
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fix = (v: number): string => (Math.round(v * 10) / 10).toString()
/** An axis label: grouped thousands, otherwise at most 3 significant digits without trailing zeros. */
const tick = (v: number): string => v >= 1000 ? num(v) : String(Number(v.toPrecision(3)))

/**
 * The latency-vs-concurrency chart as a standalone SVG document: p50 and p99 latency (left axis,
 * ms, log scale; whiskers show min–max over the runs) and acked writes/s (right axis, linear,
 * dashed) against the number of writes in flight (log scale). `subtitle` may hold two lines.
 */
export function latencyChartSvg (points: ChartPoint[], options: { title?: string, subtitle?: string } = {}): string {
  const W = 760
  const H = 460
  const L = 70
  const R = 80
  const T = 92
  const B = 60
  const w = W - L - R
  const h = H - T - B
  const title = options.title ?? 'kvgrid: acked-write latency and throughput vs writes in flight (3 peers)'
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`
  ]
  for (const [i, line] of (options.subtitle?.split('\n') ?? []).entries()) {
    out.push(`<text x="${W / 2}" y="${40 + i * 15}" text-anchor="middle" font-size="11" fill="#555555">${esc(line)}</text>`)
  }
  if (points.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no measurements</text>`, '</svg>')
    return out.join('\n') + '\n'
  }
  const logs = points.map(p => Math.log2(p.inFlight))
  const lo = Math.min(...logs)
  const hi = Math.max(...logs)
  const x = (f: number): number => hi === lo ? L + w / 2 : L + (Math.log2(f) - lo) / (hi - lo) * w
  const positive = (vs: number[]): number[] => vs.filter(v => Number.isFinite(v) && v > 0)
  const lows = positive(points.flatMap(p => [p.p50Ms.min, p.p50Ms.median]))
  const highs = positive(points.flatMap(p => [p.p99Ms.max, p.p99Ms.median]))
  const msLo = 10 ** Math.floor(Math.log10(lows.length > 0 ? Math.min(...lows) : 1))
  const msHi = Math.max(msLo * 10, 10 ** Math.ceil(Math.log10(highs.length > 0 ? Math.max(...highs) : 1)))
  const opsMax = niceMax(Math.max(...points.map(p => Math.max(p.opsPerSec.max, p.opsPerSec.median))))
  const yMs = (v: number): number => T + h - (Math.log10(Math.max(v, msLo)) - Math.log10(msLo)) / (Math.log10(msHi) - Math.log10(msLo)) * h
  const yOps = (v: number): number => T + h - (v / opsMax) * h
  // Grid and left ticks: decades, with 2 and 5 between them while there are few decades.
  const decades = Math.round(Math.log10(msHi / msLo))
  for (let d = msLo; d <= msHi * 1.0001; d *= 10) {
    for (const m of decades <= 3 ? [1, 2, 5] : [1]) {
      const v = d * m
      if (v > msHi * 1.0001) break
      const y = fix(yMs(v))
      out.push(`<line x1="${L}" y1="${y}" x2="${L + w}" y2="${y}" stroke="${m === 1 ? '#dddddd' : '#f0f0f0'}"/>`)
      out.push(`<text x="${L - 8}" y="${fix(yMs(v) + 4)}" text-anchor="end"${m === 1 ? '' : ' fill="#888888"'}>${esc(tick(v))}</text>`)
    }
  }
  // Right ticks: writes/s, linear.
  for (let i = 0; i <= 5; i++) {
    const y = yOps(opsMax * i / 5)
    out.push(`<line x1="${L + w}" y1="${fix(y)}" x2="${L + w + 5}" y2="${fix(y)}" stroke="#999999"/>`)
    out.push(`<text x="${L + w + 8}" y="${fix(y + 4)}" fill="#666666">${esc(tick(opsMax * i / 5))}</text>`)
  }
  out.push(`<line x1="${L}" y1="${T + h}" x2="${L + w}" y2="${T + h}" stroke="#333333"/>`)
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${T + h}" stroke="#333333"/>`)
  out.push(`<line x1="${L + w}" y1="${T}" x2="${L + w}" y2="${T + h}" stroke="#999999"/>`)
  for (const p of points) out.push(`<text x="${fix(x(p.inFlight))}" y="${T + h + 18}" text-anchor="middle">${p.inFlight}</text>`)
  out.push(`<text x="${L + w / 2}" y="${H - 18}" text-anchor="middle">writes in flight (log scale)</text>`)
  out.push(`<text transform="translate(18 ${T + h / 2}) rotate(-90)" text-anchor="middle">latency, ms (log scale)</text>`)
  out.push(`<text transform="translate(${W - 14} ${T + h / 2}) rotate(90)" text-anchor="middle" fill="#666666">acked writes/s</text>`)
  // Series.
  const series: Array<{ name: string, color: string, dash?: string, pick: (p: ChartPoint) => Spread, y: (v: number) => number, unit: string }> = [
    { name: 'p50 latency', color: '#1f77b4', pick: p => p.p50Ms, y: yMs, unit: 'ms' },
    { name: 'p99 latency', color: '#d62728', pick: p => p.p99Ms, y: yMs, unit: 'ms' },
    { name: 'acked writes/s', color: '#7f7f7f', dash: '6 4', pick: p => p.opsPerSec, y: yOps, unit: 'writes/s' }
  ]
  series.forEach((s, i) => {
    const path = points.map((p, j) => `${j === 0 ? 'M' : 'L'}${fix(x(p.inFlight))} ${fix(s.y(s.pick(p).median))}`).join(' ')
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    for (const p of points) {
      const v = s.pick(p)
      const cx = fix(x(p.inFlight))
      if (Number.isFinite(v.min) && v.min !== v.max) out.push(`<line x1="${cx}" y1="${fix(s.y(v.min))}" x2="${cx}" y2="${fix(s.y(v.max))}" stroke="${s.color}" stroke-width="1"/>`)
      out.push(`<circle cx="${cx}" cy="${fix(s.y(v.median))}" r="3.5" fill="${s.color}"><title>${esc(`${s.name} at ${p.inFlight} in flight: ${num(v.median)} ${s.unit} (${num(v.min)}–${num(v.max)})`)}</title></circle>`)
    }
    const lx = L + 10 + i * 180
    out.push(`<line x1="${lx}" y1="${T - 16}" x2="${lx + 24}" y2="${T - 16}" stroke="${s.color}" stroke-width="2"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    out.push(`<text x="${lx + 30}" y="${T - 12}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
