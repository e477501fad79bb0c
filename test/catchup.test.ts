/**
 * Catch-up over real libp2p on 127.0.0.1: a fresh peer receiving 100k keys by snapshot (the
 * primary's log compacted), 15k by snapshot (log intact but longer than FRESH_DELTA_MAX_ENTRIES)
 * and 8k by delta (log intact, writes flowing meanwhile); a secondary that missed 10k writes while down — stopped cleanly (in process) or SIGKILLed (a
 * separate process) — receives only what it missed from the log. Every test logs its catch-up
 * time (start of the catching-up peer → member). Tests run one at a time, so the timings are not
 * skewed by each other.
 */
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { LevelStore, Peer, resolveOptions } from '../src/index.js'
import type { LogEntry, PeerInternals, PeerOptions } from '../src/index.js'
import type { LogPosition } from '../src/store/index.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'
import { startProc } from './helpers/procs.js'
import type { PeerProc, WriteAnswer } from './helpers/procs.js'
import { digestEntries } from './fixtures/digest.js'
import { FRESH_DELTA_MAX_ENTRIES } from '../src/replication/constants.js'

const LISTEN = ['/ip4/127.0.0.1/tcp/0']

type Progress = { phase: 'snapshot' | 'delta', done: number, total: number, at: number }

/** LevelStore counting what reaches it: entries appended (the log path) and snapshot installs. */
class CountingStore extends LevelStore {
  appended = 0
  installs = 0

  override async append (entries: LogEntry[], options?: { sync?: boolean }): Promise<void> {
    await super.append(entries, options)
    this.appended += entries.length
  }

  override async beginInstall (position: LogPosition): Promise<void> {
    this.installs++
    await super.beginInstall(position)
  }
}

/** A started in-process peer (stopped in teardown) whose `catchup` events land in `events`. */
async function startPeer (t: ExecutionContext, options: Partial<PeerOptions> & { dataDir: string }, internals: PeerInternals = {}, events: Progress[] = []): Promise<Peer> {
  const p = new Peer(resolveOptions({ listen: LISTEN, fsync: false, mdns: false, ...options }), internals)
  p.addEventListener('catchup', e => { events.push({ ...e.detail, at: Date.now() }) })
  t.teardown(async () => { await p.stop() })
  await p.start()
  return p
}

/** A primary keeping 1 000 revisions, with its store at hand to watch the log floor. */
async function compactingPrimary (t: ExecutionContext): Promise<{ primary: Peer, primaryStore: LevelStore }> {
  const dataDir = await tempDir(t)
  const primaryStore = new LevelStore({ location: join(dataDir, 'db'), dataDir })
  const primary = await startPeer(t, { dataDir, retainRevisions: 1000 }, { store: primaryStore })
  await primary.ready({ signal: AbortSignal.timeout(20_000) })
  return { primary, primaryStore }
}

/**
 * Wait until compaction has actually dropped the log's front, not only moved the readable floor
 * (compaction walks the log in chunks, in the background): a Need from index 1 then gets a
 * snapshot.
 */
async function logCompacted (primary: Peer, store: LevelStore): Promise<void> {
  await waitFor(() => primary.status().compactedRevision > 1 && store.state.firstLogIndex > store.state.index / 2, 'the primary to compact its log', 60_000, 50)
}

const keyOf = (prefix: string, i: number): string => `${prefix}${String(i).padStart(6, '0')}`
/** 40-byte values. */
const valueOf = (i: number): string => `value-${String(i).padStart(8, '0')}-${'x'.repeat(25)}`

/** `count` sets on `peer`, `batch` at a time (Promise.all); returns ms taken. */
/**
 * Write `live/N` keys on the primary, one at a time, until `fresh` is a member (bounded: 20k
 * writes, 45 s); returns how many were written.
 */
async function writeUntilMember (t: ExecutionContext, primary: Peer, fresh: Peer): Promise<number> {
  let live = 0
  const deadline = Date.now() + 45_000
  while (!isMember(fresh, primary, 2) && live < 20_000 && Date.now() < deadline) {
    t.true((await primary.set(`live/${live}`, `l${live}`)).ok)
    live++
  }
  await waitFor(() => isMember(fresh, primary, 2), 'the fresh peer to become a member', Math.max(1, deadline - Date.now()))
  return live
}

/**
 * Start a fresh peer (counting store, progress events) bootstrapped to `primary` and keep
 * writing on the primary until it is a member: writes that flow during a catch-up must not be
 * lost for it.
 */
async function joinWhileWriting (t: ExecutionContext, primary: Peer): Promise<{ fresh: Peer, store: CountingStore, events: Progress[], started: number, live: number, took: number }> {
  const dir = await tempDir(t)
  const store = new CountingStore({ location: join(dir, 'db'), dataDir: dir })
  const events: Progress[] = []
  const started = Date.now()
  const fresh = await startPeer(t, { dataDir: dir, bootstrap: primary.multiaddrs }, { store }, events)
  const live = await writeUntilMember(t, primary, fresh)
  return { fresh, store, events, started, live, took: Date.now() - started }
}

async function fill (peer: Peer, prefix: string, count: number, batch = 1000): Promise<number> {
  const started = Date.now()
  for (let b = 0; b < count; b += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - b) }, async (_, j) => peer.set(keyOf(prefix, b + j), valueOf(b + j))))
  }
  return Date.now() - started
}

const isMember = (p: Peer, primary: Peer, n: number): boolean =>
  p.status().role === 'secondary' && p.status().primary === primary.status().peerId && primary.status().members.length === n && p.status().members.length === n

async function sameData (t: ExecutionContext, a: Peer, b: Peer): Promise<void> {
  t.is(b.status().revision, a.status().revision, 'same revision')
  t.is(b.status().keys, a.status().keys, 'same key count')
  const [da, db] = [digestEntries(await a.range()), digestEntries(await b.range())]
  t.is(db.count, da.count, 'same number of entries')
  t.is(db.hash, da.hash, 'same entries (hash of key, value, revision, createRevision, version, expiry)')
}

test.serial('catch-up by snapshot: a fresh peer joining a primary whose log is compacted receives all 100k keys, and the writes made meanwhile, before it becomes a member, identical', async t => {
  t.timeout(90_000)
  const { primary, primaryStore } = await compactingPrimary(t)
  const wroteMs = await fill(primary, 'snap/', 100_000, 4000)
  t.log(`wrote 100k keys (40-byte values, 4000 concurrent sets at a time) in ${wroteMs} ms on the primary`)
  await logCompacted(primary, primaryStore)
  t.is(primary.status().revision, 100_000)

  const { fresh, store, events, started, live, took } = await joinWhileWriting(t, primary)
  const snapshot = events.filter(e => e.phase === 'snapshot')
  const installed = snapshot.find(e => e.total > 0 && e.done === e.total)
  t.log(`100k keys by snapshot: member ${took} ms after start (snapshot begun at ${snapshot.length === 0 ? '-' : snapshot[0].at - started} ms, fully received at ${installed === undefined ? '-' : installed.at - started} ms; ${live} writes on the primary meanwhile)`)
  t.true(store.installs >= 1, 'a snapshot was installed')
  t.true(installed !== undefined && installed.total >= 100_000, 'snapshot progress reached every key')
  await waitFor(() => fresh.status().revision === primary.status().revision, 'the writes made during the catch-up', 10_000)
  await sameData(t, primary, fresh)
  t.is(fresh.status().keys, 100_000 + live)
  // It counts for acks now: a write is on it when acked.
  const r = await primary.set('after', 'join')
  t.is((await fresh.get('after'))?.revision, r.revision)
})

test.serial('catch-up by delta: a fresh peer joining a primary whose intact log is short receives its 8k revisions from the log, and the writes made meanwhile, identical', async t => {
  t.timeout(60_000)
  const primary = await startPeer(t, { dataDir: await tempDir(t) })
  await primary.ready({ signal: AbortSignal.timeout(20_000) })
  const count = FRESH_DELTA_MAX_ENTRIES - 2000
  const wroteMs = await fill(primary, 'delta/', count)
  t.log(`wrote ${count} keys in ${wroteMs} ms on the primary`)
  t.is(primary.status().compactedRevision, 0, 'the log is intact')

  const { fresh, store, events, live, took } = await joinWhileWriting(t, primary)
  t.log(`${count} revisions by delta: member ${took} ms after start, with ${live} writes on the primary meanwhile (${events.length} progress events)`)
  await waitFor(() => fresh.status().revision === primary.status().revision, 'the writes made during the catch-up', 10_000)
  t.is(store.installs, 0, 'no snapshot: the log was used')
  t.false(events.some(e => e.phase === 'snapshot'))
  t.true(events.some(e => e.phase === 'delta'), 'delta progress was reported')
  t.is(store.appended, primary.status().revision, 'every revision arrived as a log entry')
  await sameData(t, primary, fresh)
})

test.serial('a fresh peer joining a primary whose intact log is longer than FRESH_DELTA_MAX_ENTRIES gets a snapshot (cheaper than replaying it), then the writes made meanwhile, identical, and holds everything when it joins', async t => {
  t.timeout(60_000)
  const primary = await startPeer(t, { dataDir: await tempDir(t) })
  await primary.ready({ signal: AbortSignal.timeout(20_000) })
  await fill(primary, 'long/', FRESH_DELTA_MAX_ENTRIES + 5000)
  t.is(primary.status().compactedRevision, 0, 'the log is intact')
  const dir = await tempDir(t)
  const store = new CountingStore({ location: join(dir, 'db'), dataDir: dir })
  const started = Date.now()
  const fresh = await startPeer(t, { dataDir: dir, bootstrap: primary.multiaddrs }, { store })
  // Membership is granted only once it holds everything the primary said it has: nothing is
  // written meanwhile, so that is the primary's revision at the moment it becomes a member.
  await waitFor(() => isMember(fresh, primary, 2), 'the fresh peer to become a member', 30_000)
  t.log(`${FRESH_DELTA_MAX_ENTRIES + 5000} keys by snapshot: member ${Date.now() - started} ms after start`)
  t.is(fresh.status().revision, primary.status().revision, 'it holds every revision when it becomes a member')
  t.true(store.installs >= 1, 'a snapshot was installed')
  t.is(store.appended, 0, 'nothing was replayed from the log')
  const live = await primary.set('after', 'join')
  t.is((await fresh.get('after'))?.revision, live.revision)
  await sameData(t, primary, fresh)
})

test.serial('a secondary stopped cleanly (it leaves) and restarted on its data after 10k writes receives only the 10k it missed, from the log, and ends identical', async t => {
  t.timeout(60_000)
  const primary = await startPeer(t, { dataDir: await tempDir(t) })
  await primary.ready({ signal: AbortSignal.timeout(20_000) })
  const dir = await tempDir(t)
  const sec = await startPeer(t, { dataDir: dir, bootstrap: primary.multiaddrs })
  await waitFor(() => isMember(sec, primary, 2), 'the secondary to become a member', 20_000)
  await fill(primary, 'before/', 1000, 100)
  t.is(sec.status().revision, 1000, 'acked writes are on the secondary')
  const id = sec.status().peerId
  await sec.stop()
  await waitFor(() => primary.status().members.length === 1, 'the secondary to leave', 10_000)

  const wroteMs = await fill(primary, 'missed/', 10_000)
  t.log(`10k writes while it was down: ${wroteMs} ms`)
  const store = new CountingStore({ location: join(dir, 'db'), dataDir: dir })
  const events: Progress[] = []
  const started = Date.now()
  const back = await startPeer(t, { dataDir: dir, bootstrap: primary.multiaddrs }, { store }, events)
  t.is(back.status().revision, 1000, 'restarted from its own data')
  await waitFor(() => isMember(back, primary, 2), 'the restarted secondary to become a member again', 45_000)
  const took = Date.now() - started
  t.log(`restart after a clean stop, 10k missed: member ${took} ms after start (${events.length} progress events)`)
  t.is(back.status().peerId, id)
  t.is(store.installs, 0, 'no snapshot')
  // Membership waits for the whole answer (it ends with "your log ends here"); nothing is
  // written meanwhile, so it holds the primary's revision already.
  t.is(back.status().revision, primary.status().revision, 'every missed revision is there when it becomes a member')
  t.is(store.appended, 10_000, 'exactly the 10k missed revisions arrived')
  t.true(events.length > 0 && events.every(e => e.phase === 'delta' && e.done >= 1000), 'delta progress from its own position')
  await sameData(t, primary, back)
})

test.serial('a SIGKILLed secondary process restarted on its data after 10k writes catches up only what it missed (delta from its own position, no snapshot), and all three end identical', async t => {
  t.timeout(60_000)
  const p0 = startProc(t, await tempDir(t), 0, undefined, { name: 'p0' })
  await waitFor(() => p0.status?.role === 'primary', 'p0 to found the cluster', 30_000)
  const seed = p0.status!.multiaddrs[0]
  const [p1, p2] = [startProc(t, await tempDir(t), 0, seed, { name: 'p1' }), startProc(t, await tempDir(t), 0, seed, { name: 'p2' })]
  await waitFor(() => [p0, p1, p2].every(p => p.status?.members.length === 3 && p.status.primary === p0.status!.peerId), 'three members following p0', 30_000)

  const write = async (prefix: string, count: number, inFlight: number): Promise<WriteAnswer[]> => {
    const out: WriteAnswer[] = []
    let next = 0
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++
        out.push(await p0.set(keyOf(prefix, i), valueOf(i), 15_000))
      }
    }))
    return out
  }
  const before = await write('before/', 1000, 32)
  t.true(before.every(a => a.ok === true), JSON.stringify(before.find(a => a.ok !== true)))
  const at = await p2.dump()
  t.is(at.revision, 1000, 'acked writes are on p2')
  const id = p2.status!.peerId

  p2.child.kill('SIGKILL')
  await p2.exited
  const killedAt = Date.now()
  await waitFor(() => p0.status?.members.length === 2, 'p0 to evict the killed peer', 20_000)
  t.log(`evicted ${Date.now() - killedAt} ms after SIGKILL`)
  const writing = Date.now()
  const missed = await write('missed/', 10_000, 128)
  t.log(`10k writes while it was down: ${Date.now() - writing} ms`)
  t.true(missed.every(a => a.ok === true), JSON.stringify(missed.find(a => a.ok !== true)))

  const started = Date.now()
  const back: PeerProc = startProc(t, p2.dataDir, 0, seed, { name: 'p2 again' })
  await waitFor(() => back.status !== undefined, 'the restarted process to start', 30_000)
  const bootMs = Date.now() - started
  t.is(back.status!.peerId, id)
  const all = [p0, p1, back]
  await waitFor(() => back.status?.role === 'secondary' && all.every(p => p.status?.members.length === 3), 'the restarted peer to be a member again', 45_000)
  const took = Date.now() - started
  t.log(`restart after SIGKILL, 10k missed: member ${took} ms after spawn (process up and peer started after ${bootMs} ms: catch-up ${took - bootMs} ms)`)
  t.false(back.events.some(e => e.phase === 'snapshot'), 'no snapshot')
  const delta = back.events.filter(e => e.phase === 'delta')
  t.true(delta.length > 0 && delta[0].done >= at.index, `delta progress starts from its own position (${JSON.stringify(delta[0])})`)
  await waitFor(() => new Set(all.map(p => p.status?.revision)).size === 1, 'the same revision everywhere', 10_000)
  const digests = await Promise.all(all.map(async p => p.digest()))
  t.is(digests[0].revision, 11_000)
  t.is(digests[0].count, 11_000)
  for (const d of digests) t.deepEqual(d, digests[0])
})

/*
 * A replica learns where the primary's log ends from an `append`, and Join is held back until it
 * holds that much. Here every inbound append of a fresh peer is dropped for its first 3 s (so
 * every answer to its Needs is lost), then the link heals: it keeps asking every 250 ms until
 * an append arrives, and joins although the primary writes nothing.
 */
test('a fresh peer whose answers to its Needs were lost joins an idle primary once the link heals', async t => {
  t.timeout(30_000)
  const primary = await startPeer(t, { dataDir: await tempDir(t) })
  await primary.ready({ signal: AbortSignal.timeout(20_000) })
  let healAt: number | undefined
  let dropped = 0
  const fresh = await startPeer(t, { dataDir: await tempDir(t), bootstrap: primary.multiaddrs }, {
    dropReplication: (_from, msg) => {
      if (msg.type !== 'append') return false
      healAt ??= Date.now() + 3000
      if (Date.now() >= healAt) return false
      dropped++
      return true
    }
  })
  await waitFor(() => healAt !== undefined && Date.now() >= healAt, 'the end of the lossy window', 20_000)
  t.log(`${dropped} appends dropped while joining`)
  await waitFor(() => isMember(fresh, primary, 2), 'the fresh peer to become a member with no write on the primary', 5000)
  t.pass()
})

test('a fresh peer catches up by snapshot from an idle primary and joins without any write', async t => {
  t.timeout(60_000)
  const { primary, primaryStore } = await compactingPrimary(t)
  await fill(primary, 'idle/', 20_000, 2000)
  await logCompacted(primary, primaryStore)
  const dir = await tempDir(t)
  const store = new CountingStore({ location: join(dir, 'db'), dataDir: dir })
  const fresh = await startPeer(t, { dataDir: dir, bootstrap: primary.multiaddrs }, { store })
  await waitFor(() => isMember(fresh, primary, 2), 'the fresh peer to become a member with no write on the primary', 30_000)
  t.true(store.installs >= 1, 'it caught up by snapshot')
  await sameData(t, primary, fresh)
})
