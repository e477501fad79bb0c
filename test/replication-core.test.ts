/**
 * The pure replication cores: the replica applies strictly in order (duplicates re-acked, gaps
 * buffered and repaired, failed persists retried with the same entries, divergence detected),
 * and the primary's ack tracker resolves a batch only when every member confirmed it.
 * Ends with seeded random schedules over a lossy, reordering, duplicating network.
 */
import test from 'ava'
import { ReplicaCore } from '../src/replication/replica.js'
import type { ReplicaEffects } from '../src/replication/replica.js'
import { AckTracker, REANNOUNCE_MS } from '../src/replication/ack-tracker.js'
import { decodeMessage, encodeMessage } from '../src/replication/codec.js'
import { answerNeed, DELTA_APPEND_ENTRIES, needAnswer, sendDelta, sendSnapshot, SnapshotSends } from '../src/replication/serve.js'
import { FRESH_DELTA_MAX_ENTRIES, MAX_BATCH_BYTES, SNAPSHOT_CHUNK_RECORDS, SNAPSHOT_CHUNK_REQUESTS } from '../src/replication/constants.js'
import type { AppendMessage, ReplicationMessage } from '../src/replication/types.js'
import { plan } from '../src/core/evaluate.js'
import { MemoryStore } from '../src/store/memory-store.js'
import type { LogEntry, PackedRecords, StoredRecord } from '../src/store/types.js'
import { encodeLogEntry, encodeRecord, encodeTombstone, RecordPacker, storedLogEntry } from '../src/store/codec.js'
import { DecodeError } from '../src/codec/bytes.js'

const P = 'primary'
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

/** n consecutive set entries from index `from` in `term`, as the primary would make them. */
function entries (from: number, n: number, term = 1): LogEntry[] {
  const out: LogEntry[] = []
  for (let i = 0; i < n; i++) {
    const index = from + i
    out.push({ index, term, revision: index, mutations: [{ type: 'put', key: `k${index % 5}`, existed: index > 5, record: { value: enc(`v${index}`), revision: index, createRevision: index, version: 1 } }] })
  }
  return out
}

function append (es: LogEntry[], prevTerm = 1, term = 1): AppendMessage {
  return { type: 'append', term, prevIndex: es.length > 0 ? es[0].index - 1 : 0, prevTerm: es.length > 0 && es[0].index === 1 ? 0 : prevTerm, entries: es }
}

function replica (): ReplicaCore {
  const r = new ReplicaCore({ applied: { index: 0, term: 0 }, needRetryMs: 100, persistRetryMs: 10, maxBuffered: 10_000 })
  r.setLeader(P, 1, 0)
  return r
}

/** Persist whatever the effects ask (successfully) until nothing is left; returns applied indexes and sent messages. */
function drain (r: ReplicaCore, effects: ReplicaEffects, now: number, log: number[], sent: ReplicationMessage[]): void {
  sent.push(...effects.send)
  while (effects.persist !== undefined) {
    const run = effects.persist
    log.push(...run.map(e => e.index))
    const last = run[run.length - 1]
    effects = r.persisted(last.index, last.term, now)
    sent.push(...effects.send)
  }
}

test('a secondary given updates 1, 2, 3 applies them in order and acks the last', t => {
  const r = replica()
  const applied: number[] = []
  const sent: ReplicationMessage[] = []
  drain(r, r.onAppend(P, append(entries(1, 3)), 0).effects, 0, applied, sent)
  t.deepEqual(applied, [1, 2, 3])
  t.deepEqual(sent.at(-1), { type: 'ack', term: 1, index: 3, entryTerm: 1 })
})

test('a duplicate older update is re-acked but not re-applied', t => {
  const r = replica()
  const applied: number[] = []
  const sent: ReplicationMessage[] = []
  drain(r, r.onAppend(P, append(entries(1, 3)), 0).effects, 0, applied, sent)
  sent.length = 0
  const { verdict, effects } = r.onAppend(P, append(entries(2, 1)), 1)
  t.is(verdict, 'accepted')
  t.is(effects.persist, undefined)
  t.deepEqual(effects.send, [{ type: 'ack', term: 1, index: 3, entryTerm: 1 }])
  t.deepEqual(applied, [1, 2, 3])
})

test('an update ahead of a gap is not applied until the gap is filled, and the gap is asked for', t => {
  const r = replica()
  const applied: number[] = []
  const sent: ReplicationMessage[] = []
  drain(r, r.onAppend(P, append(entries(1, 2)), 0).effects, 0, applied, sent)
  const ahead = r.onAppend(P, append(entries(5, 2)), 1).effects
  t.is(ahead.persist, undefined, 'nothing applied past the gap')
  t.deepEqual(ahead.send, [{ type: 'need', term: 1, from: 3, snapshot: false }])
  t.deepEqual(r.tick(50).send, [], 'not asked again before the retry interval')
  t.deepEqual(r.tick(200).send, [{ type: 'need', term: 1, from: 3, snapshot: false }], 'asked again after it')
  drain(r, r.onAppend(P, append(entries(3, 2)), 201).effects, 201, applied, sent)
  t.deepEqual(applied, [1, 2, 3, 4, 5, 6])
})

for (const failures of [0, 1, 2, 3]) {
  test(`persistence that fails ${failures} time(s) is retried with the same update`, t => {
    const r = replica()
    let effects = r.onAppend(P, append(entries(1, 3)), 0).effects
    const first = effects.persist
    t.truthy(first)
    let now = 0
    for (let i = 0; i < failures; i++) {
      r.persistFailed(now)
      t.is(r.tick(now + 1).persist, undefined, 'not before the retry delay')
      now += 20
      effects = r.tick(now)
      t.deepEqual(effects.persist, first, 'the same entries again')
    }
    const after = r.persisted(3, 1, now)
    t.deepEqual(after.send, [{ type: 'ack', term: 1, index: 3, entryTerm: 1 }])
    t.deepEqual(r.applied, { index: 3, term: 1 })
  })
}

test('appends from a peer that is not the primary, or of an older term, are refused', t => {
  const r = replica()
  t.is(r.onAppend('someone-else', append(entries(1, 1)), 0).verdict, 'not-primary')
  r.setLeader(P, 3, 0)
  t.is(r.onAppend(P, append(entries(1, 1), 0, 2), 0).verdict, 'stale-term')
  t.deepEqual(r.applied, { index: 0, term: 0 })
})

test('a suffix from a deposed primary is detected as divergence and a snapshot is asked for', t => {
  const r = replica()
  const applied: number[] = []
  drain(r, r.onAppend(P, append(entries(1, 3, 1)), 0).effects, 0, applied, [])
  // The new primary (term 2) never had entry 3 of term 1: its entry 3 is of term 2.
  r.setLeader('new', 2, 10)
  const { verdict, effects } = r.onAppend('new', { type: 'append', term: 2, prevIndex: 2, prevTerm: 1, entries: entries(3, 1, 2) }, 10)
  t.is(verdict, 'diverged')
  t.true(effects.diverged)
  t.deepEqual(effects.send, [{ type: 'need', term: 2, from: 4, snapshot: true }])
  t.true(r.snapshotPending)
  const after = r.installed(3, 2, 20)
  t.deepEqual(after.send, [
    { type: 'ack', term: 2, index: 3, entryTerm: 2 },
    { type: 'need', term: 2, from: 4, snapshot: false } // where does the log end now?
  ])
})

test('a deposed primary whose unacknowledged suffix is longer than the new primary\'s log detects the divergence (found by the fault simulation, seed 1)', t => {
  // We hold 1..6 of term 1; the new primary of term 2 has only 1..3 (4..6 were never acked).
  const fresh = (): ReplicaCore => {
    const r = replica()
    drain(r, r.onAppend(P, append(entries(1, 6, 1)), 0).effects, 0, [], [])
    r.setLeader('new', 2, 10)
    return r
  }
  // Its "your log ends here" answer to our Need names index 3: its entry 6, whenever it
  // exists, will be of term 2, so our 4..6 are not its log.
  let r = fresh()
  let v = r.onAppend('new', { type: 'append', term: 2, prevIndex: 3, prevTerm: 1, entries: [] }, 10)
  t.is(v.verdict, 'diverged')
  t.deepEqual(v.effects.send, [{ type: 'need', term: 2, from: 7, snapshot: true }])
  // Its first entries of term 2 (4 and 5) fall below our applied index: not duplicates.
  r = fresh()
  v = r.onAppend('new', { type: 'append', term: 2, prevIndex: 3, prevTerm: 1, entries: entries(4, 2, 2) }, 10)
  t.is(v.verdict, 'diverged')
  // A predecessor of a newer term at or below our last entry proves it too.
  r = fresh()
  t.is(r.onAppend('new', { type: 'append', term: 2, prevIndex: 5, prevTerm: 2, entries: [] }, 10).verdict, 'diverged')
  r = fresh()
  t.is(r.onAppend('new', { type: 'append', term: 2, prevIndex: 6, prevTerm: 2, entries: [] }, 10).verdict, 'diverged')
})

test('a replica that holds the new primary\'s whole log (same last term) takes its late or repeated appends as duplicates', t => {
  const r = replica()
  drain(r, r.onAppend(P, append(entries(1, 6, 1)), 0).effects, 0, [], [])
  // The primary of term 1 itself: an old append arriving late, and an empty "ends here" at 3.
  t.is(r.onAppend(P, append(entries(2, 2, 1)), 5).verdict, 'accepted')
  t.is(r.onAppend(P, { type: 'append', term: 1, prevIndex: 3, prevTerm: 1, entries: [] }, 5).verdict, 'accepted')
  // A new primary of term 2 that holds 1..6 of term 1: its appends from 7 on, and late ones below.
  r.setLeader('new', 2, 10)
  t.is(r.onAppend('new', { type: 'append', term: 2, prevIndex: 6, prevTerm: 1, entries: [] }, 10).verdict, 'accepted')
  t.is(r.onAppend('new', { type: 'append', term: 2, prevIndex: 2, prevTerm: 1, entries: entries(3, 2, 1) }, 10).verdict, 'accepted')
  t.false(r.snapshotPending)
})

test('a replica that has not heard an append of its primary keeps asking where the log ends', t => {
  const r = replica() // setLeader already asked once
  t.deepEqual(r.tick(50).send, [], 'not before the retry interval')
  t.deepEqual(r.tick(150).send, [{ type: 'need', term: 1, from: 1, snapshot: false }], 'the first answer was lost: ask again')
  r.onAppend(P, { type: 'append', term: 1, prevIndex: 0, prevTerm: 0, entries: [] }, 160)
  t.true(r.caughtUp)
  t.deepEqual(r.tick(1000).send, [], 'an idle primary that answered is not asked again')
})

test('a member added to the primary is told where the log ends, again while it has not confirmed holding it (the telling can be lost), and no more once it has', t => {
  const tracker = new AckTracker({ term: 2, members: ['a'], lastIndex: 100, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  tracker.setMembers(['a', 'new'], 10)
  t.deepEqual(tracker.tick(11), [{ member: 'new', from: 101 }])
  t.deepEqual(tracker.tick(500), [], 'not before REANNOUNCE_MS')
  t.deepEqual(tracker.tick(11 + REANNOUNCE_MS), [{ member: 'new', from: 101 }], 'no ack of its starting point yet: told again')
  // It acks holding the log up to its floor — an entry of an earlier term, which counts for no
  // batch, but shows it holds what it was assumed to hold.
  tracker.onAck('new', 100, 1, 11 + REANNOUNCE_MS + 5)
  t.deepEqual(tracker.tick(11 + 4 * REANNOUNCE_MS), [])
  t.is(tracker.ackedBy('new'), 0, 'an ack of an older term\'s entry still confirms no batch')
})

test('an empty append tells a replica where the primary log ends: caught up only once it holds it', t => {
  const r = replica()
  t.false(r.caughtUp)
  r.onAppend(P, { type: 'append', term: 1, prevIndex: 4, prevTerm: 1, entries: [] }, 0)
  t.false(r.caughtUp)
  drain(r, r.onAppend(P, append(entries(1, 4)), 1).effects, 1, [], [])
  t.true(r.caughtUp)
})

test('a delta answer in several frames is caught up only after its "ends here" append; one whose end was lost is asked again after endRetryMs without appends', t => {
  const r = replica() // needRetryMs 100: endRetryMs 800
  drain(r, r.onAppend(P, append(entries(1, 4)), 1).effects, 1, [], [])
  t.false(r.caughtUp, 'holds all of the first frame, but the answer may go on')
  t.deepEqual(r.tick(300).send, [], 'appends are flowing: not asked again')
  drain(r, r.onAppend(P, append(entries(5, 4)), 310).effects, 310, [], [])
  t.false(r.caughtUp)
  t.deepEqual(r.tick(1000).send, [], 'within endRetryMs of the last append')
  t.deepEqual(r.tick(1110).send, [{ type: 'need', term: 1, from: 9, snapshot: false }], 'the end was lost: ask again')
  r.onAppend(P, { type: 'append', term: 1, prevIndex: 8, prevTerm: 1, entries: [] }, 1120)
  t.true(r.caughtUp)
  // A later append extends what it must hold; the end stays known.
  const more = r.onAppend(P, append(entries(9, 2)), 1130).effects
  t.false(r.caughtUp)
  drain(r, more, 1130, [], [])
  t.true(r.caughtUp)
  // A new primary (or term) must say again where its log ends.
  r.setLeader('other', 2, 1200)
  r.onAppend('other', { type: 'append', term: 2, prevIndex: 10, prevTerm: 1, entries: entries(11, 1, 2) }, 1210)
  t.false(r.caughtUp)
})

test('a replica fed a steady stream of appends whose answer\'s end was lost asks again 5 × endRetryMs after its last Need', t => {
  const r = replica() // needRetryMs 100: endRetryMs 800; it asked its first Need at 0
  let at = 0
  let next = 1
  const asked: number[] = []
  // An append every 50 ms (gossip under load), never the empty "ends here".
  while (at < 4500) {
    at += 50
    drain(r, r.onAppend(P, append(entries(next, 1)), at).effects, at, [], [])
    next++
    if (r.tick(at).send.some(m => m.type === 'need')) asked.push(at)
  }
  t.false(r.caughtUp)
  t.deepEqual(asked, [4000], 'asked again once, 4000 ms after the first Need')
})

test('a Need answer: a delta ends with "your log ends here"; a fresh peer gets a snapshot beyond FRESH_DELTA_MAX_ENTRIES; snapshot chunks end by records or bytes', async t => {
  const store = new MemoryStore()
  await store.open()
  const n = FRESH_DELTA_MAX_ENTRIES
  /** `count` entries from `from`, each creating its own key (a fresh peer's log: entries ≥ keys). */
  const creating = (from: number, count: number): LogEntry[] => Array.from({ length: count }, (_, i) => {
    const index = from + i
    return { index, term: 1, revision: index, mutations: [{ type: 'put', key: `key${index}`, existed: false, record: { value: enc(`v${index}`), revision: index, createRevision: index, version: 1 } }] }
  })
  for (let i = 1; i <= n; i += 1000) await store.append(creating(i, 1000))
  const sent: ReplicationMessage[] = []
  t.true(await sendDelta(store, 1, n - 2500, m => { sent.push(m) }, () => true))
  const appends = sent.filter((m): m is AppendMessage => m.type === 'append')
  t.is(appends.length, sent.length)
  t.deepEqual(appends.flatMap(m => m.entries.map(e => e.index)), Array.from({ length: 2501 }, (_, i) => n - 2500 + i))
  t.deepEqual(appends[appends.length - 1], { type: 'append', term: 1, prevIndex: n, prevTerm: 1, entries: [] }, 'the answer ends with an empty append naming the last entry')
  t.is(needAnswer(store, 1, false), 'delta', 'a fresh peer replays a log of FRESH_DELTA_MAX_ENTRIES')
  t.is(needAnswer(store, n + 1, false), 'up-to-date')
  await store.append(creating(n + 1, 1))
  t.is(needAnswer(store, 1, false), 'snapshot', 'one more entry: a fresh peer gets a snapshot')
  t.is(needAnswer(store, 2, false), 'delta', 'a peer with data of its own gets the log')
  const snap: ReplicationMessage[] = []
  await sendSnapshot(store, 1, m => { snap.push(m) }, () => true)
  const chunks = snap.filter(m => m.type === 'snapshot-chunk')
  t.is(chunks.length, Math.ceil((n + 1) / SNAPSHOT_CHUNK_RECORDS))
  t.deepEqual(snap[snap.length - 1], { type: 'snapshot-end', term: 1, index: n + 1, count: n + 1, requests: 0 })
  for (const c of chunks) t.true(decodeMessage(encodeMessage(c)).ok)
})

test('a snapshot carries the requests of the log after its records, in messages of at most SNAPSHOT_CHUNK_REQUESTS rows, counted in its end', async t => {
  const store = new MemoryStore()
  await store.open()
  const fp = (i: number): Uint8Array => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(0, i); return b }
  const n = SNAPSHOT_CHUNK_REQUESTS + 10
  for (let i = 1; i <= n; i += 1000) {
    await store.append(Array.from({ length: Math.min(1000, n - i + 1) }, (_, k) => {
      const index = i + k
      // Every entry but every tenth carries a request.
      const e: LogEntry = { index, term: 2, revision: index, mutations: [{ type: 'put', key: `key${index % 50}`, existed: index > 50, record: { value: enc('v'), revision: index, createRevision: index, version: 1 } }] }
      if (index % 10 !== 0) e.request = fp(index)
      return e
    }))
  }
  const snap: ReplicationMessage[] = []
  await sendSnapshot(store, 3, m => { snap.push(m) }, () => true)
  const types = snap.map(m => m.type)
  const firstRows = types.indexOf('snapshot-requests')
  t.true(firstRows > types.lastIndexOf('snapshot-chunk'), 'after the records')
  const rows = snap.flatMap(m => m.type === 'snapshot-requests' ? [m.rows] : [])
  t.true(rows.every(r => r.length <= SNAPSHOT_CHUNK_REQUESTS))
  const all = rows.flat()
  const expected = Array.from({ length: n }, (_, i) => i + 1).filter(i => i % 10 !== 0)
  t.deepEqual(all.map(r => r.index).sort((a, b) => a - b), expected)
  for (const r of all) t.deepEqual(r, { request: fp(r.index), index: r.index, term: 2, revision: r.index })
  t.deepEqual(snap[snap.length - 1], { type: 'snapshot-end', term: 3, index: n, count: 50, requests: expected.length })
  for (const m of snap.filter(m => m.type === 'snapshot-requests')) t.deepEqual(decodeMessage(encodeMessage(m)), { ok: true, msg: m })
})

test('a Need arriving while a snapshot to that peer is being sent is answered after it, unless its answer would be another snapshot', async t => {
  const store = new MemoryStore()
  await store.open()
  const n = FRESH_DELTA_MAX_ENTRIES + 500
  for (let i = 1; i <= n; i += 500) {
    await store.append(Array.from({ length: 500 }, (_, k) => ({ index: i + k, term: 1, revision: i + k, mutations: [{ type: 'put' as const, key: `key${i + k}`, existed: false, record: { value: enc('v'), revision: i + k, createRevision: i + k, version: 1 } }] })))
  }
  const sends = new SnapshotSends()
  const sent: ReplicationMessage[] = []
  const ctx = { store, term: 1, send: (m: ReplicationMessage) => { sent.push(m) }, leading: () => true, sends, onSnapshotError: () => { t.fail('no error') } }
  // A fresh peer asks: a snapshot starts; before it is sent, the peer's next Need arrives.
  const first = answerNeed(ctx, 'p', 1, false)
  t.true(sends.has('p'))
  await answerNeed(ctx, 'p', n + 1, false)
  t.false(sent.some(m => m.type === 'append'), 'not answered during the snapshot')
  await first
  t.false(sends.has('p'))
  const types = sent.map(m => m.type)
  t.is(types.filter(x => x === 'snapshot-begin').length, 1)
  t.is(types.indexOf('append'), types.indexOf('snapshot-end') + 1, 'answered right after the snapshot')
  t.deepEqual(sent[sent.length - 1], { type: 'append', term: 1, prevIndex: n, prevTerm: 1, entries: [] })
  // A Need from before the transfer (its answer: another snapshot) is dropped instead.
  sent.length = 0
  const again = answerNeed(ctx, 'p', 1, false)
  await answerNeed(ctx, 'p', 1, false)
  await again
  t.is(sent.filter(m => m.type === 'snapshot-begin').length, 1, 'one snapshot, not two')
  t.false(sent.some(m => m.type === 'append'))
})

test('a delta answer copies the stored entries: the same frame bytes as encoding the decoded log, checked and decoded only by the receiver', async t => {
  const store = new MemoryStore()
  await store.open()
  for (let i = 1; i <= 5000; i += 1000) await store.append(entries(i, 1000))
  const sent: AppendMessage[] = []
  t.true(await sendDelta(store, 1, 3, m => { sent.push(m) }, () => true))
  t.deepEqual(sent.map(m => [m.prevIndex, m.entries.length]), [[2, DELTA_APPEND_ENTRIES], [2 + DELTA_APPEND_ENTRIES, 4998 - DELTA_APPEND_ENTRIES], [5000, 0]])
  for (const m of sent) {
    const frame = encodeMessage(m)
    const log = m.entries.length === 0 ? [] : await store.readLog(m.prevIndex + 1, m.entries.length)
    t.deepEqual(frame, encodeMessage({ ...m, entries: log.map(e => structuredClone(e)) }), 'byte for byte what encoding the decoded entries makes')
    t.deepEqual(decodeMessage(frame), { ok: true, msg: { ...m, entries: log } })
  }
  // The entries are the stored bytes: encoding one returns them as they are; mutations decode on demand.
  const [raw] = await store.readLogRaw(7, 1)
  const e = storedLogEntry(raw)
  t.is(encodeLogEntry(e), raw.bytes)
  const [decoded] = await store.readLog(7, 1)
  t.deepEqual([e.index, e.term, e.revision, e.mutations], [decoded.index, decoded.term, decoded.revision, decoded.mutations])
  t.deepEqual(structuredClone(e), decoded, 'a copy keeps the mutations')
  t.deepEqual({ ...e }.mutations, decoded.mutations)
})

test('a delta answer cuts appends by bytes: about MAX_BATCH_BYTES each, at least one entry', async t => {
  const store = new MemoryStore()
  await store.open()
  const big = (index: number, size: number): LogEntry => ({ index, term: 1, revision: index, mutations: [{ type: 'put', key: `k${index}`, existed: false, record: { value: new Uint8Array(size), revision: index, createRevision: index, version: 1 } }] })
  await store.append([big(1, 100), big(2, MAX_BATCH_BYTES + 10), ...Array.from({ length: 20 }, (_, i) => big(3 + i, 300_000))])
  const sent: AppendMessage[] = []
  t.true(await sendDelta(store, 1, 1, m => { sent.push(m) }, () => true))
  t.deepEqual(sent.map(m => m.entries.length), [2, 14, 6, 0], 'one entry past the limit ends an append')
  for (const m of sent) t.true(decodeMessage(encodeMessage(m)).ok)
})

test('a malformed stored entry in a delta answer makes the receiver refuse the whole frame', async t => {
  const store = new MemoryStore()
  await store.open()
  await store.append(entries(1, 3))
  const raws = await store.readLogRaw(1, 3)
  const frame = (bytes: Uint8Array[]): Uint8Array => encodeMessage(append(raws.map((r, i) => storedLogEntry({ ...r, bytes: bytes[i] }))))
  t.true(decodeMessage(frame(raws.map(r => r.bytes))).ok)
  const corrupt = (i: number, edit: (b: Uint8Array) => Uint8Array): Uint8Array[] => raws.map((r, j) => j === i ? edit(r.bytes.slice()) : r.bytes)
  for (const [what, bytes] of [
    ['truncated entry', corrupt(1, b => b.subarray(0, b.length - 1))],
    ['padded entry', corrupt(1, b => Uint8Array.from([...b, 0]))],
    ['unknown format', corrupt(2, b => { b[0] = 9; return b })],
    ['unknown mutation kind', corrupt(0, b => { b[5] = 7; return b })],
    ['index out of sequence', corrupt(2, b => { b[1] = 9; return b })]
  ] as const) {
    const v = decodeMessage(frame(bytes))
    t.false(v.ok, what)
    if (!v.ok) t.regex(v.reason, /./)
  }
  // Reading the mutations of a malformed stored entry throws the codec's typed error.
  t.throws(() => storedLogEntry({ ...raws[0], bytes: raws[0].bytes.subarray(0, 6) }).mutations, { instanceOf: DecodeError })
})

test('one batch resolves only after the later of two secondaries acked it', t => {
  const tracker = new AckTracker({ term: 1, members: ['a', 'b'], lastIndex: 0, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  let done = false
  tracker.track(3, 0, () => { done = true }, () => t.fail())
  tracker.onAck('a', 3, 1, 10)
  t.false(done)
  tracker.onAck('b', 2, 1, 20)
  t.false(done, 'b acked only part of the batch')
  tracker.onAck('b', 3, 1, 30)
  t.true(done)
})

test('acks of entries of another term do not count', t => {
  const tracker = new AckTracker({ term: 2, members: ['a'], lastIndex: 5, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  let done = false
  tracker.track(6, 0, () => { done = true }, () => {})
  tracker.onAck('a', 9, 1, 1)
  t.false(done, 'a diverged suffix of term 1 proves nothing')
  tracker.onAck('a', 6, 2, 2)
  t.true(done)
})

test('a secondary that never acks fails the batch at its deadline, naming it', t => {
  const tracker = new AckTracker({ term: 1, members: ['a', 'silent'], lastIndex: 0, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  let failed: string[] | undefined
  tracker.track(1, 0, () => t.fail(), u => { failed = u })
  tracker.onAck('a', 1, 1, 5)
  tracker.tick(999)
  t.is(failed, undefined, 'not before the timeout')
  tracker.tick(1000)
  t.deepEqual(failed, ['silent'])
})

test('removing a silent secondary releases the write waiting on it', t => {
  const tracker = new AckTracker({ term: 1, members: ['a', 'silent'], lastIndex: 0, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  let done = false
  tracker.track(1, 0, () => { done = true }, () => t.fail())
  tracker.onAck('a', 1, 1, 5)
  tracker.setMembers(['a'], 10)
  t.true(done)
})

test('a lagging member is listed for a direct repair push, at most once per interval', t => {
  const tracker = new AckTracker({ term: 1, members: ['a'], lastIndex: 10, timeoutMs: 1000, repairAfterMs: 60, now: 0 })
  tracker.track(12, 0, () => {}, () => {})
  // Sent but not yet durable locally: nothing to repair from yet.
  t.deepEqual(tracker.tick(61), [])
  tracker.appended(12)
  t.deepEqual(tracker.tick(30), [])
  t.deepEqual(tracker.tick(61), [{ member: 'a', from: 11 }])
  t.deepEqual(tracker.tick(80), [])
  tracker.onAck('a', 12, 1, 90)
  t.deepEqual(tracker.tick(500), [])
})

/** Records packed as a snapshot chunk carries them. */
function packed (records: Array<[string, StoredRecord]>): PackedRecords {
  const p = new RecordPacker(64)
  for (const [k, r] of records) p.add(enc(k), encodeRecord(r))
  return p.take()
}

test('replication frames round-trip, and malformed ones give a verdict instead of throwing', t => {
  const msgs: ReplicationMessage[] = [
    append(entries(1, 3)),
    { type: 'ack', term: 4, index: 9, entryTerm: 3 },
    { type: 'need', term: 2, from: 7, snapshot: true },
    { type: 'snapshot-begin', term: 2, index: 100, entryTerm: 2, revision: 90, keys: 5 },
    { type: 'snapshot-chunk', term: 2, index: 100, records: packed([['a', { value: enc('x'), revision: 3, createRevision: 1, version: 2, expiresAt: 99 }], ['b', { value: enc('y'), revision: 4, createRevision: 4, version: 1 }]]) },
    { type: 'snapshot-requests', term: 2, index: 100, rows: [{ request: new Uint8Array(16).fill(7), index: 99, term: 2, revision: 89 }, { request: new Uint8Array(16).fill(200), index: 3, term: 1, revision: 3 }] },
    { type: 'snapshot-end', term: 2, index: 100, count: 5, requests: 2 }
  ]
  for (const m of msgs) t.deepEqual(decodeMessage(encodeMessage(m)), { ok: true, msg: m })
  const rows = encodeMessage(msgs[5])
  for (let n = 0; n < rows.length; n++) t.false(decodeMessage(rows.subarray(0, n)).ok, `request rows cut at ${n}`)
  t.false(decodeMessage(encodeMessage({ type: 'snapshot-requests', term: 2, index: 100, rows: [{ request: new Uint8Array(16), index: 0, term: 1, revision: 1 }] })).ok, 'a row naming no entry')
  const good = encodeMessage(msgs[0])
  for (let n = 0; n < good.length; n++) t.false(decodeMessage(good.subarray(0, n)).ok)
  // Entries that do not follow prevIndex are refused.
  const bad = encodeMessage({ ...append(entries(1, 2)), prevIndex: 5 })
  t.false(decodeMessage(bad).ok)
  const chunk = encodeMessage(msgs[4])
  for (let n = 0; n < chunk.length; n++) t.false(decodeMessage(chunk.subarray(0, n)).ok, `snapshot chunk cut at ${n}`)
  // Snapshot chunks are checked row by row without being decoded: a bad row refuses the frame.
  const rec: StoredRecord = { value: enc('v'), revision: 1, createRevision: 1, version: 1 }
  const raw = (rows: Array<[Uint8Array, Uint8Array]>, count = rows.length): Uint8Array => {
    const p = new RecordPacker(64)
    for (const [k, r] of rows) p.add(k, r)
    return encodeMessage({ type: 'snapshot-chunk', term: 1, index: 1, records: { count, bytes: p.take().bytes } })
  }
  for (const [what, frame] of [
    ['keys out of order', raw([[enc('b'), encodeRecord(rec)], [enc('a'), encodeRecord(rec)]])],
    ['invalid UTF-8 key', raw([[Uint8Array.of(0xc3), encodeRecord(rec)]])],
    ['tombstone', raw([[enc('a'), encodeTombstone(1)]])],
    ['count above the rows', raw([[enc('a'), encodeRecord(rec)]], 2)],
    ['count below the rows', raw([[enc('a'), encodeRecord(rec)], [enc('b'), encodeRecord(rec)]], 1)]
  ] as const) t.false(decodeMessage(frame).ok, what)
  let seed = 7
  const rand = (): number => { seed = (seed * 48271) % 2147483647; return seed }
  for (let i = 0; i < 3000; i++) {
    const junk = Uint8Array.from({ length: rand() % 64 }, () => rand() % 256)
    t.notThrows(() => decodeMessage(junk))
  }
})

// ---------------------------------------------------------------------------------------------
// Random schedules: a primary producing batches, N replicas behind a lossy network.

function mulberry32 (seed: number): () => number {
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0
    let x = Math.imul(seed ^ seed >>> 15, 1 | seed)
    x = x + Math.imul(x ^ x >>> 7, 61 | x) ^ x
    return ((x ^ x >>> 14) >>> 0) / 4294967296
  }
}

interface Flight { at: number, from: string, to: string, msg: ReplicationMessage }

async function schedule (seed: number): Promise<string | undefined> {
  const rnd = mulberry32(seed)
  const loss = rnd() * 0.3
  const dup = rnd() * 0.1
  const members = ['r1', 'r2', 'r3'].slice(0, 1 + Math.floor(rnd() * 3))
  const primaryStore = new MemoryStore()
  await primaryStore.open()
  const stores = new Map(members.map(m => [m, new MemoryStore()]))
  for (const s of stores.values()) await s.open()
  const replicas = new Map(members.map(m => {
    const r = new ReplicaCore({ applied: { index: 0, term: 0 }, needRetryMs: 40, persistRetryMs: 5, maxBuffered: 100_000 })
    return [m, r]
  }))
  const tracker = new AckTracker({ term: 1, members, lastIndex: 0, timeoutMs: 5000, repairAfterMs: 30, now: 0 })
  let acked = 0
  let failedBatches = 0
  const queue: Flight[] = []
  let now = 0
  const net = (to: string, msg: ReplicationMessage, from = P): void => {
    if (rnd() < loss) return
    const copies = rnd() < dup ? 2 : 1
    for (let i = 0; i < copies; i++) queue.push({ at: now + 1 + Math.floor(rnd() * 30), from, to, msg: structuredClone(msg) })
  }
  const handle = async (m: string, effects: ReplicaEffects): Promise<void> => {
    for (const msg of effects.send) net(P, msg, m)
    let e = effects
    while (e.persist !== undefined) {
      const run = e.persist
      if (rnd() < 0.1) { // a flaky disk
        replicas.get(m)!.persistFailed(now)
        return
      }
      await stores.get(m)!.append(run)
      const last = run[run.length - 1]
      e = replicas.get(m)!.persisted(last.index, last.term, now)
      for (const msg of e.send) net(P, msg, m)
    }
  }
  for (const [m, r] of replicas) await handle(m, r.setLeader(P, 1, now))
  let prev = { index: 0, term: 0 }
  const batches = 20 + Math.floor(rnd() * 40)
  for (let step = 0; step < 4000; step++) {
    now += 1
    if (step < batches * 5 && step % 5 === 0) {
      const n = 1 + Math.floor(rnd() * 4)
      const cmds = Array.from({ length: n }, (_, i) => ({ op: 'set' as const, key: `k${Math.floor(rnd() * 8)}`, value: enc(`s${step}-${i}`) }))
      const keys = [...new Set(cmds.map(c => c.key))]
      const recs = new Map(await Promise.all(keys.map(async k => [k, await primaryStore.get(k)] as const)))
      const { entries: es } = plan(cmds, recs, primaryStore.state, 1, 0)
      await primaryStore.append(es)
      const msg: AppendMessage = { type: 'append', term: 1, prevIndex: prev.index, prevTerm: prev.term, entries: es }
      prev = { index: es.at(-1)!.index, term: 1 }
      tracker.track(prev.index, now, () => { acked++ }, () => { failedBatches++ })
      tracker.appended(prev.index)
      for (const m of members) net(m, msg)
    }
    for (const need of tracker.tick(now)) {
      const es = await primaryStore.readLog(need.from, 50)
      if (es.length > 0) net(need.member, { type: 'append', term: 1, prevIndex: need.from - 1, prevTerm: need.from === 1 ? 0 : 1, entries: es })
    }
    const due = queue.filter(f => f.at <= now)
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i].at <= now) queue.splice(i, 1)
    for (const f of due) {
      if (f.to === P) {
        const msg = f.msg
        if (msg.type === 'ack') tracker.onAck(f.from, msg.index, msg.entryTerm, now)
        if (msg.type === 'need') {
          const es = await primaryStore.readLog(msg.from, 50)
          net(f.from, es.length > 0 ? { type: 'append', term: 1, prevIndex: msg.from - 1, prevTerm: msg.from === 1 ? 0 : 1, entries: es } : { type: 'append', term: 1, prevIndex: prev.index, prevTerm: prev.term, entries: [] })
        }
        continue
      }
      const r = replicas.get(f.to)!
      if (f.msg.type === 'append') await handle(f.to, r.onAppend(P, f.msg, now).effects)
    }
    for (const [m, r] of replicas) await handle(m, r.tick(now))
    if (step > batches * 5 && tracker.pending === 0 && members.every(m => replicas.get(m)!.applied.index === prev.index)) break
  }
  // Outcome checks: every replica holds exactly the primary's log and data.
  const want = await primaryStore.readLog(1, 1_000_000)
  for (const m of members) {
    const got = await stores.get(m)!.readLog(1, 1_000_000)
    if (got.length !== want.length) return `seed ${seed}: ${m} has ${got.length} of ${want.length} entries`
    for (let i = 0; i < want.length; i++) if (JSON.stringify(got[i]) !== JSON.stringify(want[i])) return `seed ${seed}: ${m} differs at index ${i + 1}`
    if (stores.get(m)!.state.revision !== primaryStore.state.revision) return `seed ${seed}: ${m} revision differs`
  }
  if (acked !== batches) return `seed ${seed}: only ${acked} of ${batches} batches acked (${failedBatches} timed out) although every replica holds them`
  return undefined
}

test('random schedules with loss, duplication, reordering and flaky disks: every replica converges to the primary log', async t => {
  const runs = Number(process.env.REPL_SIM_RUNS ?? 300)
  for (let seed = 1; seed <= runs; seed++) {
    const problem = await schedule(seed)
    if (problem !== undefined) {
      t.fail(`${problem} (replay: REPL_SIM_RUNS=${seed} npx ava test/replication-core.test.ts)`)
      return
    }
  }
  t.pass()
})
