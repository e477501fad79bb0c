/**
 * The benchmark report (bench/report.ts) from fake measurements: the JSON shape other tools
 * read, the ceiling ratios, the table and the latency-vs-concurrency chart. No peers run here.
 */
import test from 'ava'
import * as R from '../bench/report.js'
import type { Run } from '../bench/report.js'

const spreadShape = { median: 'number', min: 'number', max: 'number' }
const shapeOf = (v: unknown): unknown => typeof v === 'object' && v !== null && !Array.isArray(v)
  ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shapeOf(x)]))
  : typeof v

const writes = (p50: number): Run[] => [
  { ops: 100, errors: 0, opsPerSec: 400, p50Ms: p50, p99Ms: 10 },
  { ops: 100, errors: 1, opsPerSec: 500, p50Ms: p50 + 0.2, p99Ms: 12 },
  { ops: 100, errors: 0, opsPerSec: 450, p50Ms: p50 - 0.2, p99Ms: 11 }
]

function fakeReport (): R.Report {
  const results = [
    ...[1, 4, 16, 64, 128].map(f => R.ackedWrite(3, f, writes(f))),
    R.ackedWrite(1, 1, writes(0.2)),
    R.ackedWriteSteady(3, 64, writes(5)),
    R.ackedWrite(2, 1, writes(0.4)),
    R.ackedWriteFsyncOff(3, 1, writes(0.3)),
    R.localRead([{ opsPerSec: 300_000 }, { opsPerSec: 310_000 }, { opsPerSec: 290_000 }]),
    R.minRevisionRead([{ ops: 500, errors: 0, stale: 0, opsPerSec: 450, p50Ms: 0.05, p99Ms: 0.4, roundTripP50Ms: 0.2, roundTripP99Ms: 0.9 }]),
    R.catchUp(100_000, [5.1, 4.4, 5.5]),
    R.catchUpMissed(10_000, [1.9, 2.1, 2.0], [1.2, 1.3, 1.1]),
    R.failover([2.4, 2.0, 2.5], 3),
    R.ceilingLevelBatch([{ opsPerSec: 600_000 }, { opsPerSec: 700_000 }, { opsPerSec: 650_000 }]),
    R.ceilingTcpRtt([{ p50Ms: 0.01, p99Ms: 0.05 }, { p50Ms: 0.02, p99Ms: 0.04 }, { p50Ms: 0.012, p99Ms: 0.06 }]),
    R.ceilingLibp2pRtt([{ p50Ms: 0.07, p99Ms: 0.25, cpuUsPerRoundTrip: 50 }, { p50Ms: 0.08, p99Ms: 0.3, cpuUsPerRoundTrip: 55 }, { p50Ms: 0.075, p99Ms: 0.28, cpuUsPerRoundTrip: 52 }]),
    R.compare('compare-redis-wait', 'Redis + 2 replicas', 64, [{ ops: 10, errors: 0, opsPerSec: 30_000, p50Ms: 1.5, p99Ms: 4 }])
  ]
  return R.buildReport({
    machine: { cpu: 'Fake CPU', cores: 2, memoryBytes: 1024, os: 'linux 6', node: 'v20.0.0' },
    versions: { kvgrid: '0.1.0', libp2p: '3.3.11', 'classic-level': '3.0.0' },
    runs: 3,
    quick: false,
    notes: ['compare-etcd skipped: etcd not found on PATH'],
    results
  })
}

test('the JSON report has the shape issue 6 specifies: machine, versions and results with median/min/max figures', t => {
  const report = JSON.parse(JSON.stringify(fakeReport()))
  t.deepEqual(Object.keys(report).filter(k => ['machine', 'versions', 'results'].includes(k)), ['machine', 'versions', 'results'])
  t.is(typeof report.machine.cores, 'number')
  t.is(report.versions.libp2p, '3.3.11')
  const find = (name: string, extra: Record<string, unknown> = {}): any =>
    report.results.find((r: any) => r.name === name && Object.entries(extra).every(([k, v]) => r[k] === v))

  const w = find('acked-write', { peers: 3, inFlight: 1 })
  t.like(w, { name: 'acked-write', peers: 3, inFlight: 1 })
  for (const f of ['opsPerSec', 'p50Ms', 'p99Ms']) t.deepEqual(shapeOf(w[f]), spreadShape, f)
  t.deepEqual(w.opsPerSec, { median: 450, min: 400, max: 500 })
  t.is(w.errors, 1)

  t.like(find('acked-write-steady'), { peers: 3, inFlight: 64, retainRevisions: 100000, opsPerSec: { median: 450 } })
  t.like(find('acked-write', { peers: 2 }), { inFlight: 1, fsync: true, p50Ms: { median: 0.4 } })
  t.like(find('acked-write-fsync-off'), { peers: 3, inFlight: 1, fsync: false, p50Ms: { median: 0.3 } })
  t.true(report.fsync, 'as shipped: on (a result that differs says so itself)')
  t.like(find('catch-up'), { keys: 100000, seconds: { median: 5.1, min: 4.4, max: 5.5 } })
  t.like(find('catch-up-missed'), { missed: 10000, seconds: { median: 2.0, min: 1.9, max: 2.1 }, startSeconds: { median: 1.2 } })
  t.like(find('failover'), { seconds: { median: 2.4, min: 2.0, max: 2.5 }, runsWithoutAck: 0 })
  t.deepEqual(shapeOf(find('ceiling-level-batch').opsPerSec), spreadShape)
  t.deepEqual(shapeOf(find('ceiling-tcp-rtt').p50Ms), spreadShape)
  t.like(find('ceiling-libp2p-rtt'), { bytes: 100, p50Ms: { median: 0.075, min: 0.07, max: 0.08 }, cpuUsPerRoundTrip: { median: 52, min: 50, max: 55 } })
  t.deepEqual(shapeOf(find('local-read').opsPerSec), spreadShape)
  const mr = find('min-revision-read')
  t.like(mr, { peers: 3, on: 'secondary', inFlight: 1, stale: 0 })
  for (const f of ['opsPerSec', 'p50Ms', 'p99Ms', 'roundTripP50Ms']) t.deepEqual(shapeOf(mr[f]), spreadShape, f)
  t.like(find('compare-redis-wait'), { inFlight: 64, opsPerSec: { median: 30000 } })
})

test('every figure is also a ratio of the ceiling: share of LevelDB batch puts/s, multiple of the TCP round trip', t => {
  const report = fakeReport()
  const w = report.results.find(r => r.name === 'acked-write' && r.peers === 3 && r.inFlight === 1)!
  t.deepEqual(w.vsCeiling, { opsPerSec: 450 / 650_000, p50Ms: 1 / 0.012 })
  t.is(report.results.find(r => r.name === 'ceiling-level-batch')!.vsCeiling, undefined)
  t.is(report.results.find(r => r.name === 'ceiling-libp2p-rtt')!.vsCeiling, undefined)
  t.is(report.results.find(r => r.name === 'catch-up')!.vsCeiling, undefined)
})

test('a figure no run measured is null in JSON, not a made-up number', t => {
  const json = JSON.parse(JSON.stringify(R.failover([], 3)))
  t.deepEqual(json.seconds, { median: null, min: null, max: null })
  t.is(json.runsWithoutAck, 3)
})

test('the table has one row per result, the spread as median (min–max), and the notes', t => {
  const table = R.formatTable(fakeReport())
  const lines = table.trimEnd().split('\n')
  t.true(lines[0].startsWith('kvgrid bench — 2 × Fake CPU'))
  t.true(lines[2].startsWith('scenario'))
  t.true(table.includes('450 (400–500)'))
  t.true(table.includes('catch-up (100 000 keys)'))
  t.true(table.includes('catch-up-missed (10 000 missed)'))
  t.true(table.includes('note: compare-etcd skipped'))
  t.true(table.includes('ceiling-libp2p-rtt (52.0 µs CPU each)'))
  t.true(table.includes('acked-write-steady (past 100 000 revisions, compacting)'))
  t.is(lines.filter(l => l.startsWith('acked-write ')).length, 7)
  t.is(lines.filter(l => l.startsWith('acked-write-fsync-off ')).length, 1)
})

test('the chart plots p50, p99 and writes/s of the 3-peer acked writes against in flight, as standalone SVG', t => {
  const report = fakeReport()
  const points = R.chartPoints(report.results, 3)
  t.deepEqual(points.map(p => p.inFlight), [1, 4, 16, 64, 128])
  t.is(points[0].p50Ms.median, 1, 'the fsync-on writes of 3 peers, not the fsync-off or 2-peer ones')
  const svg = R.latencyChartSvg(points, { subtitle: 'a <fake> machine' })
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
  t.true(svg.trimEnd().endsWith('</svg>'))
  t.is((svg.match(/<path /g) ?? []).length, 3, 'one line per series')
  t.is((svg.match(/<circle /g) ?? []).length, 15, 'one dot per series and level')
  t.true(svg.includes('a &lt;fake&gt; machine'), 'text is escaped')
  t.false(/NaN|undefined|Infinity/.test(svg))
  t.true(R.latencyChartSvg([]).includes('no measurements'))
})

test('axis maxima are round numbers at or above the data', t => {
  t.is(R.niceMax(0.9), 1)
  t.is(R.niceMax(1), 1)
  t.is(R.niceMax(13), 20)
  t.is(R.niceMax(230), 250)
  t.is(R.niceMax(5613), 10_000)
  t.is(R.niceMax(0), 1)
})
