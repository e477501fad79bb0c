/**
 * One benchmark peer in its own process: a networked peer on 127.0.0.1 (mDNS off, fsync as
 * shipped: on; `BENCH_FSYNC=0` turns it off, for the harness's `limits` scenario only), driven
 * by line commands on stdin, reporting JSON lines on stdout.
 *
 *   peer-worker.ts DATA_DIR [BOOTSTRAP_ADDR]
 *
 * Out:  {"event":"status", peerId, role, term, primary, members, multiaddrs}  (on change: sent on the
 *       peer's role, primary and members events, checked again every 500 ms; not polled faster, since
 *       building a status costs CPU that measured peers must not spend)
 * In:   load IN_FLIGHT COUNT KEYSPACE   → {"event":"load", ops, errors, opsPerSec, p50Ms, p99Ms, revision}
 *       fill COUNT [PREFIX]             → COUNT new keys, 256 in flight; {"event":"filled", count, seconds, revision}
 *       caught-up REVISION MEMBERS      → once this peer is a secondary of MEMBERS members holding REVISION
 *                                         (checked every 5 ms); {"event":"caught-up", revision}
 *       reads COUNT                     → {"event":"reads", opsPerSec}
 *       probe MS                        → writes one at a time for MS ms; {"event":"probe", oks: [[start, end]…], errs: [t…]}
 *       serve-reads                     → listens on 127.0.0.1 for "KEY REVISION" lines, answers each with a
 *                                         get(KEY, { minRevision: REVISION }): "LATENCY_MS ok|stale|error";
 *                                         {"event":"serving", port}
 *       mrread PORT COUNT               → COUNT times: set a key here, send its revision to PORT (a serve-reads
 *                                         peer), wait for the read; {"event":"mrread", ops, errors, stale,
 *                                         opsPerSec, p50Ms, p99Ms, roundTripP50Ms, roundTripP99Ms}
 * Every loop is bounded by its count and by a 120 s deadline; the process exits on stdin end.
 */
import { createServer, connect } from 'node:net'
import type { Server } from 'node:net'
import { createInterface } from 'node:readline'
import type * as Kvgrid from '../src/index.js'
import { quantile } from './stats.js'

// Peers run the compiled package, as shipped (`npm run bench` builds dist/ first, and this
// worker to dist-bench/ so that no TypeScript loader slows its start); 'kvgrid' resolves to
// this package's own dist/index.js.
const { createPeer } = await import('kvgrid') as unknown as typeof Kvgrid

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
  const line = JSON.stringify({ event: 'status', peerId: s.peerId, role: s.role, term: s.term, primary: s.primary, members: s.members.length, multiaddrs: peer.multiaddrs })
  if (line !== last) process.stdout.write(line + '\n')
  last = line
}
for (const type of ['role', 'primary', 'members'] as const) peer.addEventListener(type, report)
const timer = setInterval(report, 500)
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
  emit({ event: 'load', ops: latencies.length, errors, opsPerSec: latencies.length / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), revision: peer.status().revision })
}

async function fill (count: number, prefix: string): Promise<void> {
  const started = performance.now()
  let next = 0
  const end = deadline()
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < count && Date.now() < end) {
      const i = next++
      await peer.set(`${prefix}-${String(i).padStart(7, '0')}`, value)
    }
  }))
  emit({ event: 'filled', count, seconds: (performance.now() - started) / 1000, revision: peer.status().revision })
}

/** Wait (bounded) until this peer is a secondary among `members` members holding `revision`. */
async function caughtUp (revision: number, members: number): Promise<void> {
  const end = deadline()
  for (;;) {
    const s = peer.status()
    if (s.role === 'secondary' && s.members.length === members && s.revision >= revision) {
      emit({ event: 'caught-up', revision: s.revision })
      return
    }
    if (Date.now() > end) throw new Error(`not a caught-up secondary after 120 s: ${s.role}, ${s.members.length} members, revision ${s.revision} < ${revision}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
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

let server: Server | undefined

/** Answer minRevision reads for a writer on another peer (one connection, one line per read). */
async function serveReads (): Promise<void> {
  server ??= createServer(socket => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    void (async () => {
      for await (const line of createInterface({ input: socket })) {
        const [key, rev] = line.split(' ')
        const minRevision = Number(rev)
        const t0 = performance.now()
        let verdict = 'ok'
        try {
          const entry = await peer.get(key, { minRevision })
          if (entry === undefined || entry.revision < minRevision) verdict = 'stale'
        } catch {
          verdict = 'error'
        }
        socket.write(`${performance.now() - t0} ${verdict}\n`)
      }
    })().catch(() => {})
  })
  const s = server
  if (!s.listening) await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  emit({ event: 'serving', port: (s.address() as { port: number }).port })
}

/** Write here, then read the same key at once on the serve-reads peer at `port` with minRevision. */
async function minRevisionReads (port: number, count: number): Promise<void> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const replies = createInterface({ input: socket })[Symbol.asyncIterator]()
  const reads: number[] = []
  const trips: number[] = []
  let errors = 0
  let stale = 0
  const end = deadline()
  const started = performance.now()
  try {
    for (let i = 0; i < count && Date.now() < end; i++) {
      const key = `mr-${i % 1000}`
      let revision: number
      try {
        revision = (await peer.set(key, value)).revision
      } catch {
        errors++
        continue
      }
      const t0 = performance.now()
      socket.write(`${key} ${revision}\n`)
      const reply = await replies.next()
      if (reply.done === true) throw new Error('the reading peer closed the connection')
      const [ms, verdict] = String(reply.value).split(' ')
      trips.push(performance.now() - t0)
      if (verdict === 'ok') reads.push(Number(ms))
      else if (verdict === 'stale') stale++
      else errors++
    }
  } finally {
    socket.destroy()
  }
  const seconds = (performance.now() - started) / 1000
  emit({ event: 'mrread', ops: reads.length, errors, stale, opsPerSec: reads.length / seconds, p50Ms: quantile(reads, 0.5), p99Ms: quantile(reads, 0.99), roundTripP50Ms: quantile(trips, 0.5), roundTripP99Ms: quantile(trips, 0.99) })
}

let queue: Promise<void> = Promise.resolve()
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const [cmd, a, b, c] = line.trim().split(/\s+/)
  queue = queue.then(async () => {
    if (cmd === 'load') await load(Number(a), Number(b), Number(c))
    else if (cmd === 'fill') await fill(Number(a), b ?? 'fill')
    else if (cmd === 'caught-up') await caughtUp(Number(a), Number(b))
    else if (cmd === 'reads') await reads(Number(a))
    else if (cmd === 'probe') await probe(Number(a))
    else if (cmd === 'serve-reads') await serveReads()
    else if (cmd === 'mrread') await minRevisionReads(Number(a), Number(b))
    else throw new Error(`unknown command ${cmd}`)
  }).catch(err => { emit({ event: 'error', message: String(err?.message ?? err) }) })
}
await queue
clearInterval(timer)
server?.close()
await peer.stop()
process.exit(0)
