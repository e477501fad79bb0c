/**
 * Replication between peers in separate processes (test/fixtures/peer-proc.ts) over real libp2p
 * on 127.0.0.1, with faults injected on the secondaries: flaky persistence (an append fails
 * without writing, and is retried), lossy links (inbound replication frames dropped), both; a
 * late joiner; and an ordering checker. Writes go through the fixture's stdin; replicas are
 * compared with its `dump`. Tests run one at a time: each has three or four node processes.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'
import { startProc } from './helpers/procs.js'
import type { Dump, PeerProc, ProcOptions, WriteAnswer } from './helpers/procs.js'

/** Errors a write may end with under injected faults (not confirmed in time; no primary during an election). */
const ALLOWED_WRITE_ERRORS = new Set(['OPERATION_FAILED', 'CLUSTER_UNAVAILABLE'])

interface Cluster {
  /** The term p0 founded the cluster in. */
  term: number
  primary: PeerProc
  secondaries: PeerProc[]
  all: PeerProc[]
}

/**
 * A primary without faults, then one secondary per entry of `secondaries`, all members; link
 * loss is switched on once every peer is a member (the late-joiner test covers joining under
 * loss).
 */
async function startCluster (t: ExecutionContext, secondaries: ProcOptions[]): Promise<Cluster> {
  const primary = startProc(t, await tempDir(t), 0, undefined, { name: 'p0' })
  await waitFor(() => primary.status?.role === 'primary', 'p0 to found the cluster', 30_000)
  const seed = primary.status!.multiaddrs[0]
  const rest: PeerProc[] = []
  for (const [i, { loss: _, ...o }] of secondaries.entries()) rest.push(startProc(t, await tempDir(t), 0, seed, { name: `p${i + 1}`, ...o }))
  const all = [primary, ...rest]
  const id = primary.status!.peerId
  await waitFor(() => all.every(p => p.status?.members.length === all.length && p.status.primary === id), `${all.length} members following p0`, 30_000)
  await Promise.all(rest.map(async (p, i) => { if (secondaries[i].loss !== undefined) await p.faults({ loss: secondaries[i].loss }) }))
  return { term: primary.status!.term, primary, secondaries: rest, all }
}

/** `count` writes of key `${prefix}${i}` = `v${i}` through `via`, `inFlight` at a time. */
async function load (via: PeerProc, prefix: string, count: number, inFlight: number): Promise<WriteAnswer[]> {
  const answers: WriteAnswer[] = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      const i = next++
      answers[i] = await via.set(`${prefix}${i}`, `v${i}`, 15_000)
    }
  }))
  return answers
}

const same = (a: Dump, b: Dump): boolean => a.revision === b.revision && a.index === b.index && JSON.stringify(a.entries) === JSON.stringify(b.entries)

/** Wait until every process reports the same revision and holds an identical dump; returns it. */
async function converged (procs: PeerProc[], what: string, timeoutMs = 30_000): Promise<Dump> {
  let dumps: Dump[] = []
  try {
    return await waitFor(async () => {
      const revs = new Set(procs.map(p => p.status?.revision))
      if (revs.size !== 1) return undefined
      dumps = await Promise.all(procs.map(async p => p.dump()))
      return dumps[0].revision >= 0 && dumps.every(d => same(d, dumps[0])) ? dumps[0] : undefined
    }, what, timeoutMs, 100)
  } catch (err) {
    const summary = procs.map((p, i) => `${p.name}: status revision ${p.status?.revision}, dump revision ${dumps[i]?.revision} (${dumps[i]?.entries.length} keys)`).join('; ')
    throw new Error(`${(err as Error).message}: ${summary}`)
  }
}

/** Checks shared by the fault tests: acked writes everywhere, only allowed errors, identical replicas. */
async function checkLoad (t: ExecutionContext, c: Cluster, answers: WriteAnswer[]): Promise<Dump> {
  const acked = answers.filter(a => a.ok === true && typeof a.revision === 'number')
  const failed = answers.filter(a => a.error !== undefined)
  t.is(acked.length + failed.length, answers.length, 'every write answered ok or with an error')
  const codes = [...new Set(failed.map(a => a.error!.code))]
  t.true(codes.every(c => ALLOWED_WRITE_ERRORS.has(c)), `unexpected write errors: ${JSON.stringify(failed.filter(a => !ALLOWED_WRITE_ERRORS.has(a.error!.code)).slice(0, 3))}`)
  t.is(new Set(acked.map(a => a.revision)).size, acked.length, 'every acked write has its own revision')
  const started = Date.now()
  const dump = await converged(c.all, 'every replica to hold an identical dump')
  const injected = await Promise.all(c.all.map(async p => p.faults()))
  t.log(`${acked.length} acked, ${failed.length} failed (${codes.join(', ') || 'none'}); identical at revision ${dump.revision} (${dump.entries.length} keys) ${Date.now() - started} ms after the load; injected: ${injected.map((f, i) => `${c.all[i].name} ${f.failedAppends} failed appends/${f.droppedFrames} dropped frames`).join(', ')}`)
  // The faults really happened (summed: a late joiner may append too few times to hit one).
  if (injected.some(f => f.flaky > 0)) t.true(injected.reduce((n, f) => n + f.failedAppends, 0) > 0, 'appends failed on purpose')
  if (injected.some(f => f.loss > 0)) t.true(injected.reduce((n, f) => n + f.droppedFrames, 0) > 0, 'frames were dropped on purpose')
  const held = new Map(dump.entries.map(([k, v, r]) => [k, [v, r] as const]))
  const missing = acked.filter(a => held.get(a.key)?.[0] !== a.value || held.get(a.key)?.[1] !== a.revision)
  t.deepEqual(missing.slice(0, 5), [], `${missing.length} acked writes are not on the replicas as acked`)
  t.true(dump.revision >= Math.max(0, ...acked.map(a => a.revision!)))
  // The primary stayed in office and every failed write reached its commit path: a write it
  // committed but could not confirm in time is still on every replica (all or none).
  const stable = c.all.every(p => p.status?.primary === c.primary.status?.peerId && p.status?.term === c.term)
  if (stable && failed.every(a => a.error!.code === 'OPERATION_FAILED')) t.is(held.size, answers.length, 'every write committed by the primary reached every replica')
  return dump
}

test.serial('flaky persistence on both secondaries (20% of appends fail): every acked write is on every replica, and replicas end identical', async t => {
  t.timeout(60_000)
  const c = await startCluster(t, [{ flaky: 0.2 }, { flaky: 0.2 }])
  const answers = await load(c.primary, 'flaky/', 300, 8)
  await checkLoad(t, c, answers)
})

test.serial('lossy links (10% of replication frames dropped at both secondaries): every acked write is on every replica, and replicas end identical', async t => {
  t.timeout(60_000)
  const c = await startCluster(t, [{ loss: 0.1 }, { loss: 0.1 }])
  const answers = await load(c.primary, 'lossy/', 300, 8)
  await checkLoad(t, c, answers)
})

test.serial('flaky persistence and lossy links together: every acked write is on every replica, and replicas end identical', async t => {
  t.timeout(60_000)
  const c = await startCluster(t, [{ flaky: 0.2, loss: 0.1 }, { flaky: 0.2, loss: 0.1 }])
  const answers = await load(c.primary, 'both/', 300, 8)
  await checkLoad(t, c, answers)
})

test.serial('a 4th process that joins after the load (faults on from its start, writes still flowing) becomes a member and converges to the same dump', async t => {
  t.timeout(60_000)
  const faults = { flaky: 0.2, loss: 0.1 }
  const c = await startCluster(t, [faults, faults])
  const first = await load(c.primary, 'before/', 300, 8)
  await checkLoad(t, c, first)
  const started = Date.now()
  const late = startProc(t, await tempDir(t), 0, c.primary.status!.multiaddrs[0], { name: 'p3', ...faults })
  const all = [...c.all, late]
  const joined = (): boolean => all.every(p => p.status?.members.length === 4)
  // Writes keep flowing until it is a member (bounded: 3000 writes or 30 s), some through a
  // secondary (forwarded to the primary).
  const deadline = Date.now() + 30_000
  const during: WriteAnswer[] = []
  let n = 0
  await Promise.all([0, 1, 2, 3, 4].map(async w => {
    while (!joined() && n < 3000 && Date.now() < deadline) {
      const i = n++
      during.push(await (w === 4 ? c.secondaries[0].set(`fwd/${i}`, `v${i}`, 15_000) : c.primary.set(`during/${i}`, `v${i}`, 15_000)))
    }
  }))
  await waitFor(joined, 'four members everywhere', Math.max(1, deadline - Date.now()))
  t.log(`p3 a member ${Date.now() - started} ms after it started; ${during.length} writes meanwhile`)
  // A write committed between p3's catch-up and its admission whose append p3 lost still
  // reaches it with the primary idle: a new member is told where the log ends.
  await waitFor(() => new Set(all.map(p => p.status?.revision)).size === 1, 'the same revision everywhere with the primary idle', 10_000)
  const after = await load(late, 'after/', 20, 2)
  const dump = await checkLoad(t, { ...c, all }, [...first, ...during, ...after])
  t.true(dump.entries.some(([k]) => k.startsWith('fwd/')), 'writes through a secondary were forwarded')
})

test.serial('ordering checker: while a writer does acked writes key1=aN, key2=N (N rising), readers polling each secondary never see a suffix go backwards, nor key2 ahead of key1, nor a value older than an acked write', async t => {
  t.timeout(60_000)
  const c = await startCluster(t, [{ loss: 0.1 }, { loss: 0.1 }])
  const ROUNDS = 150
  /** Highest N acked so far, per key (a secondary must never show less once a write is acked). */
  const acked = { key1: 0, key2: 0 }
  let writing = true
  const violations: string[] = []
  let failures = 0
  const suffix = (v: string | null | undefined, key: string): number => v == null ? 0 : Number(key === 'key1' ? v.slice(1) : v)
  const deadline = Date.now() + 40_000
  const reads = c.secondaries.map(async s => {
    const seen = { key1: 0, key2: 0 }
    let n = 0
    // Bounded: stops with the writer, after 100 000 rounds, or at the deadline.
    while (writing && n < 100_000 && Date.now() < deadline) {
      n++
      // key2 first, then key1: key1=aN is written before key2=N, so key1 must be at least as far.
      const floor2 = acked.key2
      const r2 = await s.get('key2')
      const floor1 = acked.key1
      const r1 = await s.get('key1')
      if (r2.error !== undefined || r1.error !== undefined) { violations.push(`${s.name}: get failed: ${JSON.stringify(r2.error ?? r1.error)}`); break }
      const v2 = suffix(r2.value, 'key2')
      const v1 = suffix(r1.value, 'key1')
      if (v2 < seen.key2) violations.push(`${s.name}: key2 went from ${seen.key2} to ${v2}`)
      if (v1 < seen.key1) violations.push(`${s.name}: key1 went from a${seen.key1} to a${v1}`)
      if (v1 < v2) violations.push(`${s.name}: key2=${v2} visible but key1=a${v1}`)
      if (v2 < floor2) violations.push(`${s.name}: key2=${v2} after key2=${floor2} was acked`)
      if (v1 < floor1) violations.push(`${s.name}: key1=a${v1} after key1=a${floor1} was acked`)
      seen.key1 = Math.max(seen.key1, v1)
      seen.key2 = Math.max(seen.key2, v2)
      if (violations.length > 20) break
    }
    return n
  })
  let lastRevision = 0
  try {
    for (let i = 1; i <= ROUNDS && Date.now() < deadline; i++) {
      for (const [key, value] of [['key1', `a${i}`], ['key2', String(i)]] as const) {
        const r = await c.primary.set(key, value, 15_000)
        if (r.ok === true) {
          acked[key] = i
          lastRevision = r.revision!
        } else {
          failures++
          t.true(r.error !== undefined && ALLOWED_WRITE_ERRORS.has(r.error.code), JSON.stringify(r))
        }
      }
    }
  } finally {
    writing = false
  }
  const polls = await Promise.all(reads)
  const dropped = await Promise.all(c.secondaries.map(async s => (await s.faults()).droppedFrames))
  t.log(`${ROUNDS} rounds, ${failures} failed writes; polls per secondary: ${polls.join(', ')}; frames dropped per secondary: ${dropped.join(', ')}`)
  t.true(dropped.every(n => n > 0), 'the links were lossy')
  t.deepEqual(violations, [])
  t.true(polls.every(n => n > 10), 'the readers polled while the writer ran')
  for (const s of c.secondaries) {
    const r = await s.get('key2', lastRevision)
    t.is(r.value, String(ROUNDS), `${s.name} ends at the last write`)
  }
  await converged(c.all, 'identical replicas after the ordering run')
})
