/**
 * Catch-up support of the store, run against both stores (the shared-suite style of
 * store.test.ts): point-in-time snapshots, chunked crash-safe installs, and truncation of a
 * diverged log suffix.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { join } from 'node:path'
import { LevelStore, MemoryStore, emptyState } from '../src/store/index.js'
import type { LogEntry, Mutation, Store, StoreSnapshot, StoredRecord } from '../src/store/index.js'
import { StorageError } from '../src/errors.js'
import { decodeRecord, encodeRecord, encodeTombstone, PackedReader, RecordPacker } from '../src/store/codec.js'
import type { PackedRecords } from '../src/store/types.js'
import { tempDir } from './helpers/tmp.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const FAR = 9_000_000_000_000

interface Kind {
  name: string
  /** A factory of store objects over one "disk": each call opens the same data again. */
  disk: (t: ExecutionContext) => Promise<() => Store>
}

const kinds: Kind[] = [
  {
    name: 'memory',
    disk: async () => {
      const s = new MemoryStore()
      return () => s
    }
  },
  {
    name: 'level',
    disk: async t => {
      const location = join(await tempDir(t), 'db')
      return () => new LevelStore({ location })
    }
  }
]

/** An open store; `reopen` closes it (without anything else: a crash as far as the store knows) and opens the same disk again. */
async function openDisk (t: ExecutionContext, kind: Kind): Promise<{ store: Store, reopen: () => Promise<Store> }> {
  const make = await kind.disk(t)
  const open = async (): Promise<Store> => {
    const s = make()
    await s.open()
    t.teardown(async () => { await s.close() })
    return s
  }
  let store = await open()
  return {
    store,
    reopen: async () => {
      await store.close()
      store = await open()
      return store
    }
  }
}

async function open (t: ExecutionContext, kind: Kind): Promise<Store> {
  return (await openDisk(t, kind)).store
}

type Op = { set: string, value: string, expiresAt?: number } | { del: string }

/** One entry (index + 1, revision + 1) applying `ops`, with existed/prevExpiresAt/versions taken from the store. */
async function entry (s: Store, ops: Op[], term = 1): Promise<LogEntry> {
  const revision = s.state.revision + 1
  const mutations: Mutation[] = []
  for (const op of ops) {
    if ('set' in op) {
      const prev = await s.get(op.set)
      const record: StoredRecord = { value: enc.encode(op.value), revision, createRevision: prev?.createRevision ?? revision, version: (prev?.version ?? 0) + 1 }
      if (op.expiresAt !== undefined) record.expiresAt = op.expiresAt
      const m: Mutation = { type: 'put', key: op.set, record, existed: prev !== undefined }
      if (prev?.expiresAt !== undefined) m.prevExpiresAt = prev.expiresAt
      mutations.push(m)
    } else {
      const prev = await s.get(op.del)
      if (prev === undefined) throw new Error(`test bug: ${op.del} is absent`)
      const m: Mutation = { type: 'del', key: op.del, expired: false }
      if (prev.expiresAt !== undefined) m.prevExpiresAt = prev.expiresAt
      mutations.push(m)
    }
  }
  return { index: s.state.index + 1, term, revision, mutations }
}

async function apply (s: Store, ops: Op[], term = 1): Promise<void> {
  await s.append([await entry(s, ops, term)])
}

/** A membership-like entry: no mutations, the revision stays. */
async function noop (s: Store, term = 1): Promise<void> {
  await s.append([{ index: s.state.index + 1, term, revision: s.state.revision, mutations: [] }])
}

type Row = [string, Omit<StoredRecord, 'value'> & { value: string }]

async function rows (it: AsyncIterable<[string, StoredRecord]>): Promise<Row[]> {
  const out: Row[] = []
  for await (const [k, r] of it) out.push([k, { ...r, value: dec.decode(r.value) }])
  return out
}

async function dump (s: Store): Promise<Row[]> {
  return rows(s.range({}))
}

/** Copy a snapshot into `dst` in chunks of `size`. */
async function install (snap: StoreSnapshot, dst: Store, size: number): Promise<void> {
  if (dst.installing) throw new Error('installing before beginInstall')
  await dst.beginInstall(snap.state)
  if (!dst.installing) throw new Error('not marked installing after beginInstall')
  let chunk: Array<[string, StoredRecord]> = []
  for await (const rec of snap.records()) {
    chunk.push(rec)
    if (chunk.length === size) {
      await dst.installChunk(chunk)
      chunk = []
    }
  }
  await dst.installChunk(chunk)
  await dst.finishInstall()
  if (dst.installing) throw new Error('still marked installing after finishInstall')
}

/** Copy a snapshot into `dst` as packed chunks (what a primary streams); returns the chunks. */
async function installPacked (snap: StoreSnapshot, dst: Store, maxRecords: number, maxBytes: number): Promise<PackedRecords[]> {
  await dst.beginInstall(snap.state)
  const chunks: PackedRecords[] = []
  for await (const c of snap.packed({ maxRecords, maxBytes })) {
    chunks.push(c)
    await dst.installPacked(c)
  }
  await dst.finishInstall()
  return chunks
}

/** Rows (raw key bytes, record encoding) packed as a snapshot chunk, malformed or not. */
function pack (rows: Array<[Uint8Array | string, Uint8Array | StoredRecord]>): PackedRecords {
  const p = new RecordPacker(64)
  for (const [k, r] of rows) p.add(typeof k === 'string' ? enc.encode(k) : k, r instanceof Uint8Array ? r : encodeRecord(r))
  return p.take()
}

/** `n` keys `k00000`…, `perEntry` puts per entry, every 10th with a TTL. */
async function fill (s: Store, n: number, perEntry: number): Promise<void> {
  for (let i = 0; i < n; i += perEntry) {
    const revision = s.state.revision + 1
    const mutations: Mutation[] = []
    for (let j = i; j < Math.min(n, i + perEntry); j++) {
      const record: StoredRecord = { value: enc.encode(`v${j}`), revision, createRevision: revision, version: 1 }
      if (j % 10 === 0) record.expiresAt = FAR + j
      mutations.push({ type: 'put', key: `k${String(j).padStart(6, '0')}`, record, existed: false })
    }
    await s.append([{ index: s.state.index + 1, term: 1, revision, mutations }], { sync: false })
  }
}

/** A varied history: TTLs, overwrites, deletes, a membership entry, a term change. */
async function history (s: Store): Promise<void> {
  await apply(s, [{ set: 'a', value: 'a1' }, { set: 'b', value: 'b1', expiresAt: 5000 }])
  await apply(s, [{ set: 'c', value: 'c1', expiresAt: 7000 }])
  await apply(s, [{ set: 'a', value: 'a2', expiresAt: 6000 }])
  await noop(s, 2)
  await apply(s, [{ del: 'b' }], 2)
  await apply(s, [{ set: 'd', value: 'd1' }, { set: 'é', value: 'e1', expiresAt: 4000 }], 2)
  await apply(s, [{ set: 'c', value: 'c2' }], 2)
}

for (const kind of kinds) {
  const name = (s: string): string => `${kind.name} store: ${s}`

  test(name('a snapshot is a point-in-time view: appends during its iteration do not show'), async t => {
    const s = await open(t, kind)
    await fill(s, 3000, 500)
    await apply(s, [{ del: 'k000007' }])
    const before = await dump(s)
    const state = { ...s.state }
    const snap = s.snapshot()
    t.deepEqual(snap.state, state)
    const seen: Row[] = []
    for await (const [k, r] of snap.records()) {
      seen.push([k, { ...r, value: dec.decode(r.value) }])
      if (seen.length === 10) {
        await apply(s, [{ set: 'k002999', value: 'changed' }, { del: 'k002500' }, { set: 'k000000', value: 'changed' }])
        await apply(s, [{ set: 'zzz', value: 'new' }, { set: 'k001500x', value: 'new' }])
        await s.compact(s.state.revision)
      }
    }
    t.is(s.state.index, state.index + 2)
    t.deepEqual(seen, before)
    t.is(seen.length, state.keys)
    t.deepEqual(snap.state, state)
    t.deepEqual(await rows(snap.records()), before, 'a second iteration sees the same')
    await snap.close()
    await snap.close()
    await t.throwsAsync(rows(snap.records()), { instanceOf: StorageError })
  })

  test(name('closing a snapshot ends an iteration in progress'), async t => {
    const s = await open(t, kind)
    await fill(s, 3000, 1000)
    const snap = s.snapshot()
    const it = snap.records()[Symbol.asyncIterator]()
    t.false((await it.next()).done)
    await snap.close()
    await t.throwsAsync(async () => { while ((await it.next()).done !== true) {} }, { instanceOf: StorageError })
    await s.append([await entry(s, [{ set: 'after', value: '1' }])])
    t.is(s.state.keys, 3001)
  })

  test(name('a snapshot taken while an append is being written matches its own state'), async t => {
    const s = await open(t, kind)
    await fill(s, 2000, 1000)
    let ahead = 0
    for (let round = 0; round < 5; round++) {
      const revision = s.state.revision + 1
      const e: LogEntry = {
        index: s.state.index + 1,
        term: 1,
        revision,
        mutations: Array.from({ length: 2000 }, (_, i) => ({ type: 'put', key: `new${round}/${i}`, existed: false, record: { value: enc.encode('x'), revision, createRevision: revision, version: 1 } }))
      }
      let done = false
      const written = s.append([e]).then(() => { done = true })
      const snaps: StoreSnapshot[] = []
      while (!done) {
        const snap = s.snapshot()
        if (snap.state.index > s.state.index) ahead++
        snaps.push(snap)
        await new Promise(resolve => setImmediate(resolve))
      }
      await written
      for (const snap of snaps) {
        const keys = (await rows(snap.records())).map(([k]) => k)
        t.is(keys.length, snap.state.keys)
        t.is(keys.includes(`new${round}/0`), snap.state.index === e.index)
        await snap.close()
      }
    }
    t.log(`snapshots that caught a batch in flight (state ahead of store.state): ${ahead}`)
  })

  test(name('a snapshot installed on another store reproduces data, state, expiry index and history at its revision'), async t => {
    const src = await open(t, kind)
    await history(src)
    await src.compact(3)
    const d = await openDisk(t, kind)
    let dst = d.store
    // what the target held before is replaced entirely
    await apply(dst, [{ set: 'old', value: 'x', expiresAt: 100 }, { set: 'a', value: 'old' }])
    await apply(dst, [{ set: 'zz', value: 'x' }])
    await dst.putMeta('arbiter', Uint8Array.of(9))
    const snap = src.snapshot()
    await install(snap, dst, 2)
    await snap.close()
    const check = async (): Promise<void> => {
      t.deepEqual(await dump(dst), await dump(src))
      const { index, term, revision, keys } = src.state
      t.deepEqual(dst.state, { index, term, revision, keys, compactedRevision: revision, firstLogIndex: index + 1 })
      t.is(await dst.nextExpiry(), await src.nextExpiry())
      t.deepEqual(await dst.expiring(FAR, 100), await src.expiring(FAR, 100))
      t.deepEqual(await dst.readLog(0, 100), [])
      for (const k of ['a', 'b', 'c', 'd', 'é', 'old', 'zz']) t.deepEqual(await dst.getAt(k, revision), await src.getAt(k, revision), `getAt ${k}`)
      t.deepEqual(await dst.getMeta('arbiter'), Uint8Array.of(9), 'meta values are kept')
    }
    await check()
    dst = await d.reopen()
    await check()
    // appends continue after the snapshot's position; history works from there on
    const index = dst.state.index
    await apply(dst, [{ set: 'a', value: 'a3' }, { del: 'd' }], 3)
    t.is(dst.state.index, index + 1)
    t.deepEqual((await dst.readLog(0, 10)).map(e => e.index), [index + 1])
    t.is(dec.decode((await dst.getAt('a', dst.state.revision - 1))?.value), 'a2')
    t.is(dec.decode((await dst.getAt('a', dst.state.revision))?.value), 'a3')
    t.is(await dst.getAt('d', dst.state.revision), undefined)
    t.is(dst.state.keys, src.state.keys - 1)
  })

  test(name('a snapshot read as packed chunks and installed without decoding reproduces data, state, expiry index and history'), async t => {
    const src = await open(t, kind)
    await fill(src, 300, 7)
    await history(src)
    const d = await openDisk(t, kind)
    let dst = d.store
    await apply(dst, [{ set: 'old', value: 'x', expiresAt: 100 }])
    const snap = src.snapshot()
    // small limits: chunks end by record count and by bytes
    const chunks = await installPacked(snap, dst, 50, 600)
    t.true(chunks.length > 300 / 50, `${chunks.length} chunks`)
    t.true(chunks.some(c => c.count < 50 && c !== chunks[chunks.length - 1]), 'some chunks end by bytes')
    // the packed rows are exactly what records() yields
    const unpacked: Array<[string, StoredRecord]> = []
    for (const c of chunks) {
      const r = new PackedReader(c)
      while (r.next()) unpacked.push([dec.decode(c.bytes.subarray(r.keyStart, r.keyEnd)), decodeRecord(c.bytes.subarray(r.recordStart, r.recordEnd)) as StoredRecord])
    }
    t.deepEqual(await rows((async function * () { yield * unpacked })()), await rows(snap.records()))
    await snap.close()
    const check = async (): Promise<void> => {
      t.deepEqual(await dump(dst), await dump(src))
      const { index, term, revision, keys } = src.state
      t.deepEqual(dst.state, { index, term, revision, keys, compactedRevision: revision, firstLogIndex: index + 1 })
      t.deepEqual(await dst.expiring(FAR * 2, 1000), await src.expiring(FAR * 2, 1000))
      for (const k of ['a', 'b', 'c', 'd', 'é', 'old', 'k000000', 'k000299']) t.deepEqual(await dst.getAt(k, revision), await src.getAt(k, revision), `getAt ${k}`)
    }
    await check()
    dst = await d.reopen()
    await check()
  })

  test(name('a malformed or hostile packed chunk is refused with StorageError and writes nothing'), async t => {
    const src = await open(t, kind)
    await history(src)
    const snap = src.snapshot()
    const good: PackedRecords[] = []
    for await (const c of snap.packed({ maxRecords: 2, maxBytes: 1 << 20 })) good.push(c)
    await snap.close()
    t.true(good.length >= 2)
    const dst = await open(t, kind)
    await dst.beginInstall(src.state)
    await dst.installPacked(good[0])
    const before = await dump(dst)
    const rev = src.state.revision
    const rec = (revision: number, extra: Partial<StoredRecord> = {}): StoredRecord => ({ value: enc.encode('v'), revision, createRevision: 1, version: 1, ...extra })
    const bad: Array<[string, PackedRecords]> = [
      ['count above the rows', { ...good[1], count: good[1].count + 1 }],
      ['count below the rows', { ...good[1], count: good[1].count - 1 }],
      ['negative count', { ...good[1], count: -1 }],
      ['trailing byte', { count: good[1].count, bytes: Uint8Array.of(...good[1].bytes, 0) }],
      ['keys out of order', pack([['zz2', rec(1)], ['zz1', rec(1)]])],
      ['a key repeated in a chunk', pack([['zz1', rec(1)], ['zz1', rec(1)]])],
      ['a key not above the previous chunk', pack([['a', rec(1)]])],
      ['empty key', pack([['', rec(1)]])],
      ['key over 1024 bytes', pack([['z'.repeat(1025), rec(1)]])],
      ['invalid UTF-8 key', pack([[Uint8Array.of(0x7a, 0xff, 0xfe), rec(1)]])],
      ['tombstone', pack([['zz', encodeTombstone(1)]])],
      ['unknown record flags', pack([['zz', Uint8Array.of(0x80, 1, 1, 1)]])],
      ['record header cut short', pack([['zz', Uint8Array.of(0, 1)]])],
      ['varint beyond the record', pack([['zz', Uint8Array.of(0, 0x81)]])],
      ['empty record', pack([['zz', new Uint8Array(0)]])],
      ['revision beyond the snapshot', pack([['zz1', rec(1)], ['zz2', rec(rev + 1)]])]
    ]
    // every truncation of a valid chunk, too
    for (let n = 0; n < good[1].bytes.length; n++) bad.push([`cut at ${n}`, { count: good[1].count, bytes: good[1].bytes.slice(0, n) }])
    for (const [what, chunk] of bad) {
      await t.throwsAsync(dst.installPacked(chunk), { instanceOf: StorageError }, what)
    }
    t.deepEqual(await dump(dst), before, 'nothing was written')
    // the valid rest still installs, and the result is the snapshot
    for (const c of good.slice(1)) await dst.installPacked(c)
    await dst.finishInstall()
    t.deepEqual(await dump(dst), await dump(src))
    t.is(dst.state.keys, src.state.keys)
  })

  test(name('a store reopened in the middle of an install is empty and can be installed again'), async t => {
    const src = await open(t, kind)
    await history(src)
    const d = await openDisk(t, kind)
    let dst = d.store
    await apply(dst, [{ set: 'mine', value: 'x', expiresAt: 100 }])
    await dst.putMeta('arbiter', Uint8Array.of(1))
    const snap = src.snapshot()
    await dst.beginInstall(snap.state)
    const first: Array<[string, StoredRecord]> = []
    for await (const rec of snap.records()) if (first.length < 2) first.push(rec)
    await dst.installChunk(first)
    dst = await d.reopen()
    t.deepEqual(dst.state, emptyState())
    t.deepEqual(await dump(dst), [])
    t.is(await dst.nextExpiry(), undefined)
    t.deepEqual(await dst.readLog(0, 10), [])
    t.is(await dst.getAt('a', 100), undefined)
    t.deepEqual(await dst.getMeta('arbiter'), Uint8Array.of(1))
    // a second reopen finds nothing to clear
    dst = await d.reopen()
    t.deepEqual(dst.state, emptyState())
    await install(snap, dst, 3)
    await snap.close()
    t.deepEqual(await dump(dst), await dump(src))
    t.is(dst.state.index, src.state.index)
  })

  test(name('while an install is in progress, writes, truncation, compaction and snapshots are refused'), async t => {
    const src = await open(t, kind)
    await history(src)
    const dst = await open(t, kind)
    await apply(dst, [{ set: 'x', value: '1' }])
    await t.throwsAsync(dst.installChunk([]), { instanceOf: StorageError })
    await t.throwsAsync(dst.finishInstall(), { instanceOf: StorageError })
    await t.throwsAsync(dst.beginInstall({ index: 1, term: 1, revision: 2 }), { instanceOf: StorageError })
    await t.throwsAsync(dst.beginInstall({ index: -1, term: 1, revision: 0 }), { instanceOf: StorageError })
    const snap = src.snapshot()
    const records = await (async () => { const out: Array<[string, StoredRecord]> = []; for await (const r of snap.records()) out.push(r); return out })()
    await snap.close()
    await dst.beginInstall(snap.state)
    t.deepEqual(dst.state, emptyState())
    await t.throwsAsync(dst.append([{ index: 1, term: 1, revision: 1, mutations: [] }]), { instanceOf: StorageError })
    await t.throwsAsync(dst.truncateAfter(0), { instanceOf: StorageError })
    await t.throwsAsync(dst.compact(1), { instanceOf: StorageError })
    t.throws(() => dst.snapshot(), { instanceOf: StorageError })
    // keys out of order, or records newer than the snapshot, are refused and write nothing
    await t.throwsAsync(dst.installChunk([records[1], records[0]]), { instanceOf: StorageError })
    const tooNew: [string, StoredRecord] = [records[0][0], { ...records[0][1], revision: snap.state.revision + 1 }]
    await t.throwsAsync(dst.installChunk([tooNew]), { instanceOf: StorageError })
    await dst.installChunk(records.slice(0, 2))
    await t.throwsAsync(dst.installChunk([records[1]]), { instanceOf: StorageError }, 'a key repeated across chunks')
    await dst.installChunk(records.slice(2))
    await dst.finishInstall()
    t.is(dst.state.keys, src.state.keys)
    t.deepEqual(await dump(dst), await dump(src))
    await apply(dst, [{ set: 'x', value: '2' }], 3)
    t.is(dst.state.index, src.state.index + 1)
  })

  test(name('truncateAfter restores exactly the data, state, expiry index and history of the earlier point'), async t => {
    const ref = await open(t, kind)
    const s = await open(t, kind)
    for (const x of [ref, s]) {
      await history(x)
      await noop(x, 3) // the point to return to is a membership entry of a later term
    }
    const mid = { ...s.state }
    // the diverged suffix
    await apply(s, [{ set: 'a', value: 'a3', expiresAt: 9000 }], 3) // put over a key with a TTL, new TTL
    await apply(s, [{ del: 'é' }, { set: 'new', value: 'n1', expiresAt: 3000 }], 3) // delete a TTL key + new TTL key
    await apply(s, [{ set: 'd', value: 'd2', expiresAt: 8000 }], 3) // put over a key without TTL, adding one
    await noop(s, 4)
    await apply(s, [{ del: 'c' }], 4)
    await apply(s, [{ set: 'c', value: 'c3' }, { set: 'b', value: 'b2' }, { del: 'new' }], 4) // re-create; resurrect a deleted key
    await apply(s, [{ set: 'a', value: 'a4' }], 4) // a key changed twice in the suffix
    t.notDeepEqual(await dump(s), await dump(ref))
    await s.truncateAfter(mid.index)
    t.deepEqual(s.state, ref.state)
    t.deepEqual(s.state, mid)
    t.deepEqual(await dump(s), await dump(ref))
    t.is(await s.nextExpiry(), await ref.nextExpiry())
    t.deepEqual(await s.expiring(FAR, 100), await ref.expiring(FAR, 100))
    t.deepEqual(await s.readLog(0, 100), await ref.readLog(0, 100))
    const keys = ['a', 'b', 'c', 'd', 'é', 'new']
    for (const k of keys) {
      for (let rev = 0; rev <= mid.revision + 5; rev++) t.deepEqual(await s.getAt(k, rev), await ref.getAt(k, rev), `getAt ${k} ${rev}`)
      t.deepEqual(await s.get(k), await ref.get(k), `get ${k}`)
    }
    // both continue identically from there: no history of the undone suffix leaks through
    for (const x of [ref, s]) {
      await apply(x, [{ set: 'new', value: 'other' }], 5)
      await apply(x, [{ del: 'a' }], 5)
    }
    t.deepEqual(s.state, ref.state)
    t.deepEqual(await dump(s), await dump(ref))
    t.deepEqual(await s.expiring(FAR, 100), await ref.expiring(FAR, 100))
    for (const k of keys) {
      for (let rev = mid.revision; rev <= s.state.revision; rev++) t.deepEqual(await s.getAt(k, rev), await ref.getAt(k, rev), `getAt ${k} ${rev} after`)
    }
    // nothing to undo
    await s.truncateAfter(s.state.index)
    await s.truncateAfter(s.state.index + 10)
    t.deepEqual(s.state, ref.state)
  })

  test(name('truncateAfter refuses below the log floor and the compacted revision, and works back to an installed snapshot'), async t => {
    const s = await open(t, kind)
    for (let i = 0; i < 10; i++) await apply(s, [{ set: `k${i % 3}`, value: String(i) }])
    await s.compact(6)
    t.is(s.state.firstLogIndex, 6)
    const before = { ...s.state }
    await t.throwsAsync(s.truncateAfter(3), { instanceOf: StorageError }, 'compacted log')
    await t.throwsAsync(s.truncateAfter(5), { instanceOf: StorageError }, 'below the compacted revision')
    t.deepEqual(s.state, before)
    await s.truncateAfter(6)
    t.is(s.state.revision, 6)
    t.is(dec.decode((await s.get('k2'))?.value), '5')
    t.is(dec.decode((await s.get('k0'))?.value), '3')
    // after an install the log starts at the snapshot: truncating to it is allowed
    const snap = s.snapshot()
    const dst = await open(t, kind)
    await install(snap, dst, 2)
    await snap.close()
    const installed = { ...dst.state }
    const data = await dump(dst)
    await apply(dst, [{ set: 'k0', value: 'x' }, { set: 'k9', value: 'y', expiresAt: 1 }], 7)
    await apply(dst, [{ del: 'k1' }], 7)
    await dst.truncateAfter(installed.index)
    t.deepEqual(dst.state, installed)
    t.deepEqual(await dump(dst), data)
    t.is(await dst.nextExpiry(), undefined)
    await t.throwsAsync(dst.truncateAfter(installed.index - 1), { instanceOf: StorageError })
  })

  test(name('a snapshot of 100k small records installs in reasonable time'), async t => {
    const N = 100_000
    const src = await open(t, kind)
    let t0 = performance.now()
    await fill(src, N, 1000)
    const build = performance.now() - t0
    t0 = performance.now()
    const snap = src.snapshot()
    let n = 0
    for await (const _ of snap.records()) n++ // eslint-disable-line @typescript-eslint/no-unused-vars
    const read = performance.now() - t0
    t.is(n, N)
    const dst = await open(t, kind)
    await apply(dst, [{ set: 'stale', value: 'x' }])
    t0 = performance.now()
    await install(snap, dst, 1000)
    const total = performance.now() - t0
    await snap.close()
    t.log(`${kind.name}: build ${build.toFixed(0)} ms; read snapshot ${read.toFixed(0)} ms; read + install (chunks of 1000) ${total.toFixed(0)} ms`)
    t.deepEqual(dst.state, { ...src.state, compactedRevision: src.state.revision, firstLogIndex: src.state.index + 1 })
    t.is(dst.state.keys, N)
    t.is(await dst.get('stale'), undefined)
    for (const i of [0, 1, 4242, 99_999]) {
      const k = `k${String(i).padStart(6, '0')}`
      t.deepEqual(await dst.get(k), await src.get(k))
      t.deepEqual(await dst.getAt(k, dst.state.revision), await src.get(k))
    }
    t.is(await dst.nextExpiry(), FAR)
    t.is((await dst.expiring(FAR + N, N)).length, N / 10)
    await apply(dst, [{ set: 'after', value: '1' }])
    t.is(dst.state.keys, N + 1)
    // starting another install clears the 100k quickly, and leaves nothing slow to step over
    t0 = performance.now()
    await dst.beginInstall(src.state)
    const clear = performance.now() - t0
    t0 = performance.now()
    t.is(await dst.nextExpiry(), undefined)
    t.deepEqual(await dump(dst), [])
    t.log(`${kind.name}: beginInstall over the 100k ${clear.toFixed(0)} ms; nextExpiry + range on the cleared store ${(performance.now() - t0).toFixed(1)} ms`)
  })
}
