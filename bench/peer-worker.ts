/**
 * One benchmark peer in its own process: a networked peer on 127.0.0.1 (mDNS off, fsync as
 * shipped: on), driven by line commands on stdin, reporting JSON lines on stdout.
 *
 *   peer-worker.ts DATA_DIR [BOOTSTRAP_ADDR]
 *
 * Out:  {"event":"status", peerId, role, term, primary, members, revision, multiaddrs}  (on change)
 * In:   load IN_FLIGHT COUNT KEYSPACE   → {"event":"load", ops, errors, opsPerSec, p50Ms, p99Ms}
 *       fill COUNT                      → {"event":"filled", count, seconds}
 *       reads COUNT                     → {"event":"reads", opsPerSec}
 *       probe MS                        → writes one at a time for MS ms; {"event":"probe", oks: [[start, end]…], errs: [t…]}
 * Every loop is bounded by its count and by a 120 s deadline; the process exits on stdin end.
 */
import { createInterface } from 'node:readline'
import { createPeer } from '../src/index.js'
import { quantile } from './stats.js'

const [dataDir, bootstrap] = process.argv.slice(2)
const peer = await createPeer({
  dataDir,
  mdns: false,
  fsync: process.env.BENCH_FSYNC !== '0',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: bootstrap === undefined ? [] : [bootstrap]
})
const emit = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
let last = ''
const report = (): void => {
  const s = peer.status()
  const line = JSON.stringify({ event: 'status', peerId: s.peerId, role: s.role, term: s.term, primary: s.primary, members: s.members.length, revision: s.revision, multiaddrs: peer.multiaddrs })
  if (line !== last) process.stdout.write(line + '\n')
  last = line
}
const timer = setInterval(report, 25)
report()
const value = new Uint8Array(100).fill(120)
const deadline = (): number => Date.now() + 120_000

async function load (inFlight: number, count: number, keyspace: number): Promise<void> {
  const latencies: number[] = []
  let errors = 0
  let next = 0
  const end = deadline()
  const started = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count && Date.now() < end) {
      const i = next++
      const t0 = performance.now()
      try {
        await peer.set(`key-${i % keyspace}`, value)
        latencies.push(performance.now() - t0)
      } catch {
        errors++
      }
    }
  }))
  const seconds = (performance.now() - started) / 1000
  emit({ event: 'load', ops: latencies.length, errors, opsPerSec: latencies.length / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) })
}

async function fill (count: number): Promise<void> {
  const started = performance.now()
  let next = 0
  const end = deadline()
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < count && Date.now() < end) {
      const i = next++
      await peer.set(`fill-${String(i).padStart(7, '0')}`, value)
    }
  }))
  emit({ event: 'filled', count, seconds: (performance.now() - started) / 1000 })
}

async function reads (count: number): Promise<void> {
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    await peer.get(`key-${i % 1000}`)
    if (i % 256 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  emit({ event: 'reads', opsPerSec: count / ((performance.now() - started) / 1000) })
}

async function probe (ms: number): Promise<void> {
  const oks: Array<[number, number]> = []
  const errs: number[] = []
  const end = Date.now() + Math.min(ms, 120_000)
  let i = 0
  while (Date.now() < end) {
    const started = Date.now()
    try {
      await peer.set(`probe-${i++ % 100}`, value)
      oks.push([started, Date.now()])
    } catch {
      errs.push(Date.now())
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  emit({ event: 'probe', oks, errs })
}

let queue: Promise<void> = Promise.resolve()
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, a, b, c] = line.trim().split(/\s+/)
  queue = queue.then(async () => {
    if (cmd === 'load') await load(Number(a), Number(b), Number(c))
    else if (cmd === 'fill') await fill(Number(a))
    else if (cmd === 'reads') await reads(Number(a))
    else if (cmd === 'probe') await probe(Number(a))
  }).catch(err => { emit({ event: 'error', message: String(err?.message ?? err) }) })
}
await queue
clearInterval(timer)
await peer.stop()
process.exit(0)
