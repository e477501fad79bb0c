/**
 * One suite, run against both stores: the LevelDB store and the in-memory one must behave the
 * same (style: abstract-level's shared compliance suite).
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { join } from 'node:path'
import { LevelStore, MemoryStore } from '../src/store/index.js'
import type { LogEntry, Mutation, Store, StoredRecord } from '../src/store/index.js'
import { DataDirLockedError, StorageError } from '../src/errors.js'
import { ClassicLevel } from 'classic-level'
import { decodeLogEntry, encodeLogEntry, HISTORY_END, HISTORY_START } from '../src/store/codec.js'
import { tempDir } from './helpers/tmp.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

interface Kind {
  name: string
  make: (t: ExecutionContext) => Promise<Store>
}

const kinds: Kind[] = [
  { name: 'memory', make: async () => new MemoryStore() },
  {
    name: 'level',
    make: async t => new LevelStore({ location: join(await tempDir(t), 'db') })
  }
]

async function open (t: ExecutionContext, kind: Kind): Promise<Store> {
  const s = await kind.make(t)
  await s.open()
  t.teardown(async () => { await s.close() })
  return s
}

/** Builds consecutive single-mutation entries on top of a store's state. */
function put (s: Store, key: string, value: string, extra: Partial<StoredRecord> = {}, existed = false, prevExpiresAt?: number): LogEntry {
  const revision = s.state.revision + 1
  const m: Mutation = { type: 'put', key, existed, record: { value: enc.encode(value), revision, createRevision: revision, version: 1, ...extra } }
  if (prevExpiresAt !== undefined) m.prevExpiresAt = prevExpiresAt
  return { index: s.state.index + 1, term: 0, revision, mutations: [m] }
}

function del (s: Store, key: string, prevExpiresAt?: number): LogEntry {
  const m: Mutation = { type: 'del', key, expired: false }
  if (prevExpiresAt !== undefined) m.prevExpiresAt = prevExpiresAt
  return { index: s.state.index + 1, term: 0, revision: s.state.revision + 1, mutations: [m] }
}

async function collect (it: AsyncIterable<[string, StoredRecord]>): Promise<string[]> {
  const out: string[] = []
  for await (const [k, r] of it) out.push(`${k}=${dec.decode(r.value)}`)
  return out
}

for (const kind of kinds) {
  const name = (s: string): string => `${kind.name} store: ${s}`

  test(name('a fresh store is empty at revision 0'), async t => {
    const s = await open(t, kind)
    t.deepEqual(s.state, { index: 0, term: 0, revision: 0, keys: 0, compactedRevision: 0, firstLogIndex: 1 })
    t.is(await s.get('a'), undefined)
    t.deepEqual(await collect(s.range({})), [])
    t.is(await s.nextExpiry(), undefined)
  })

  test(name('appended puts and deletes are readable and counted'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a', '1')])
    await s.append([put(s, 'b', '2')])
    t.is(s.state.revision, 2)
    t.is(s.state.keys, 2)
    const a = await s.get('a')
    t.is(dec.decode(a?.value), '1')
    t.is(a?.revision, 1)
    await s.append([del(s, 'a')])
    t.is(await s.get('a'), undefined)
    t.is(s.state.keys, 1)
    t.deepEqual((await s.getMany(['a', 'b', 'c'])).map(r => r === undefined ? undefined : dec.decode(r.value)), [undefined, '2', undefined])
  })

  test(name('several entries append as one group'), async t => {
    const s = await open(t, kind)
    const e1 = put(s, 'a', '1')
    const e2: LogEntry = { index: 2, term: 0, revision: 2, mutations: [{ type: 'put', key: 'b', existed: false, record: { value: enc.encode('2'), revision: 2, createRevision: 2, version: 1 } }] }
    await s.append([e1, e2])
    t.is(s.state.index, 2)
    t.deepEqual(await collect(s.range({})), ['a=1', 'b=2'])
    t.deepEqual((await s.readLog(1, 10)).map(e => e.revision), [1, 2])
  })

  test(name('append refuses entries that do not continue the log, and writes nothing'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a', '1')])
    const gap = { ...put(s, 'b', '2'), index: 5 }
    await t.throwsAsync(s.append([gap]), { instanceOf: StorageError })
    const badRevision = { ...put(s, 'b', '2'), revision: 7 }
    await t.throwsAsync(s.append([badRevision]), { instanceOf: StorageError })
    const older = { ...put(s, 'b', '2'), term: 0 }
    await s.append([older])
    await t.throwsAsync(s.append([{ ...put(s, 'c', '3'), term: 0 }, { index: 9, term: 0, revision: 4, mutations: [] }]), { instanceOf: StorageError })
    t.is(s.state.revision, 2)
    t.is(await s.get('c'), undefined)
  })

  test(name('history answers reads at older revisions, including deletes'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'k', 'v1')]) // 1
    await s.append([put(s, 'other', 'x')]) // 2
    await s.append([put(s, 'k', 'v2', { createRevision: 1, version: 2 }, true)]) // 3
    await s.append([del(s, 'k')]) // 4
    await s.append([put(s, 'k', 'v3')]) // 5
    const at = async (rev: number): Promise<string | undefined> => {
      const r = await s.getAt('k', rev)
      return r === undefined ? undefined : dec.decode(r.value)
    }
    t.deepEqual([await at(0), await at(1), await at(2), await at(3), await at(4), await at(5)], [undefined, 'v1', 'v1', 'v2', undefined, 'v3'])
    t.is((await s.getAt('k', 3))?.version, 2)
  })

  test(name('range honours prefix, start, end, reverse and UTF-8 byte order'), async t => {
    const s = await open(t, kind)
    for (const k of ['b', 'a/2', 'a/1', 'a', 'a/10', 'ab', 'é', 'z', '😀', 'a\u0000x']) await s.append([put(s, k, k)])
    const keys = async (b: Parameters<Store['range']>[0]): Promise<string[]> => (await collect(s.range(b))).map(x => x.split('=')[0])
    t.deepEqual(await keys({}), ['a', 'a\u0000x', 'a/1', 'a/10', 'a/2', 'ab', 'b', 'z', 'é', '😀'])
    t.deepEqual(await keys({ prefix: 'a/' }), ['a/1', 'a/10', 'a/2'])
    t.deepEqual(await keys({ prefix: 'a/', reverse: true }), ['a/2', 'a/10', 'a/1'])
    t.deepEqual(await keys({ gte: 'a/10', lt: 'b' }), ['a/10', 'a/2', 'ab'])
    t.deepEqual(await keys({ prefix: 'a', gte: 'a/', lt: 'a/2' }), ['a/1', 'a/10'])
    t.deepEqual(await keys({ prefix: 'a/', gte: 'b' }), [])
    t.deepEqual(await keys({ gte: 'z' }), ['z', 'é', '😀'])
    t.deepEqual(await keys({ prefix: '' }), await keys({}))
  })

  test(name('the expiry index follows puts, overwrites and deletes exactly'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a', '1', { expiresAt: 1000 })])
    await s.append([put(s, 'b', '1', { expiresAt: 500 })])
    await s.append([put(s, 'c', '1')])
    t.is(await s.nextExpiry(), 500)
    t.deepEqual(await s.expiring(999, 10), [{ key: 'b', expiresAt: 500 }])
    t.deepEqual(await s.expiring(1000, 10), [{ key: 'b', expiresAt: 500 }, { key: 'a', expiresAt: 1000 }])
    t.deepEqual(await s.expiring(1000, 1), [{ key: 'b', expiresAt: 500 }])
    // overwrite b with a later expiry: the old index entry goes
    await s.append([put(s, 'b', '2', { expiresAt: 2000 }, true, 500)])
    t.deepEqual(await s.expiring(1500, 10), [{ key: 'a', expiresAt: 1000 }])
    // delete a: its index entry goes
    await s.append([del(s, 'a', 1000)])
    t.is(await s.nextExpiry(), 2000)
    // overwrite b without expiry: no index entry left
    await s.append([put(s, 'b', '3', {}, true, 2000)])
    t.is(await s.nextExpiry(), undefined)
  })

  test(name('readLog returns entries in order from an index with a limit'), async t => {
    const s = await open(t, kind)
    for (let i = 0; i < 10; i++) await s.append([put(s, `k${i}`, String(i))])
    const entries = await s.readLog(4, 3)
    t.deepEqual(entries.map(e => e.index), [4, 5, 6])
    t.is(entries[0].mutations[0].key, 'k3')
    t.deepEqual(await s.readLog(11, 5), [])
  })

  test(name('readLogRaw returns the stored encodings readLog decodes, with index, term and revision, by count and by bytes'), async t => {
    const s = await open(t, kind)
    for (let i = 0; i < 10; i++) {
      const e = put(s, `k${i}`, 'v'.repeat(100 * (i + 1)))
      e.term = 1 + Math.floor(i / 4)
      await s.append([e])
    }
    const raws = await s.readLogRaw(4, 3)
    t.deepEqual(raws.map(r => [r.index, r.term, r.revision]), [[4, 1, 4], [5, 2, 5], [6, 2, 6]])
    const entries = await s.readLog(4, 3)
    t.deepEqual(raws.map(r => decodeLogEntry(r.bytes)), entries, 'the bytes decode to what readLog returns')
    t.deepEqual(raws.map(r => [...r.bytes]), entries.map(e => [...encodeLogEntry(e)]), 'and are its encoding')
    t.deepEqual(await s.readLogRaw(11, 5), [])
    t.deepEqual(await s.readLogRaw(1, 0), [])
    // By bytes: it stops after the entry that reaches maxBytes, and returns at least one.
    const all = await s.readLogRaw(1, 100)
    t.deepEqual(all.map(r => r.index), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    const sizes = all.map(r => r.bytes.length)
    t.deepEqual((await s.readLogRaw(1, 100, 1)).map(r => r.index), [1])
    t.deepEqual((await s.readLogRaw(1, 100, sizes[0] + sizes[1])).map(r => r.index), [1, 2])
    t.deepEqual((await s.readLogRaw(1, 100, sizes[0] + sizes[1] + 1)).map(r => r.index), [1, 2, 3])
    t.deepEqual((await s.readLogRaw(9, 100, 1)).map(r => r.index), [9])
    // Below the floor nothing is read, as readLog.
    await s.compact(5)
    t.deepEqual((await s.readLogRaw(1, 3)).map(r => r.index), (await s.readLog(1, 3)).map(e => e.index))
  })

  test(name('compaction keeps every read at or above the floor and drops the log below it'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a', 'a1')]) // 1
    await s.append([put(s, 'b', 'b1')]) // 2
    await s.append([put(s, 'a', 'a2', { createRevision: 1, version: 2 }, true)]) // 3
    await s.append([del(s, 'b')]) // 4
    await s.append([put(s, 'c', 'c1')]) // 5
    await s.append([put(s, 'a', 'a3', { createRevision: 1, version: 3 }, true)]) // 6
    const before = new Map<string, Array<string | undefined>>()
    for (const k of ['a', 'b', 'c']) {
      const vals: Array<string | undefined> = []
      for (let r = 4; r <= 6; r++) { const x = await s.getAt(k, r); vals.push(x === undefined ? undefined : dec.decode(x.value)) }
      before.set(k, vals)
    }
    await s.compact(4)
    t.is(s.state.compactedRevision, 4)
    t.is(s.state.firstLogIndex, 4)
    t.deepEqual((await s.readLog(1, 10)).map(e => e.revision), [4, 5, 6])
    for (const k of ['a', 'b', 'c']) {
      const vals: Array<string | undefined> = []
      for (let r = 4; r <= 6; r++) { const x = await s.getAt(k, r); vals.push(x === undefined ? undefined : dec.decode(x.value)) }
      t.deepEqual(vals, before.get(k), `reads of ${k} at 4..6 unchanged`)
    }
    // compacting again lower is a no-op; beyond the revision is refused
    await s.compact(2)
    t.is(s.state.compactedRevision, 4)
    await t.throwsAsync(s.compact(99), { instanceOf: StorageError })
    // writes continue normally after compaction
    await s.append([put(s, 'd', 'd1')])
    t.is(s.state.revision, 7)
  })
}

for (const kind of kinds) {
  test(`${kind.name} store: meta values are stored apart from data and revision`, async t => {
    const s = await open(t, kind)
    t.is(await s.getMeta('arbiter'), undefined)
    await s.putMeta('arbiter', Uint8Array.of(1, 2, 3))
    t.deepEqual(await s.getMeta('arbiter'), Uint8Array.of(1, 2, 3))
    t.is(s.state.revision, 0)
    t.deepEqual(await collect(s.range({})), [])
    await t.throwsAsync(s.putMeta('state', Uint8Array.of(1)), { instanceOf: StorageError })
  })
}

test('level store: a reopened store has exactly its data, revision and log', async t => {
  const dir = await tempDir(t)
  const s1 = new LevelStore({ location: join(dir, 'db') })
  await s1.open()
  await s1.append([put(s1, 'a', '1', { expiresAt: 9_999_999_999_999 })])
  await s1.append([put(s1, 'b', '2')])
  await s1.append([del(s1, 'b')])
  await s1.putMeta('arbiter', Uint8Array.of(7))
  const state = { ...s1.state }
  await s1.close()
  const s2 = new LevelStore({ location: join(dir, 'db') })
  await s2.open()
  t.teardown(async () => { await s2.close() })
  t.deepEqual(s2.state, state)
  t.deepEqual(await collect(s2.range({})), ['a=1'])
  t.is((await s2.readLog(1, 10)).length, 3)
  t.is(await s2.nextExpiry(), 9_999_999_999_999)
  t.deepEqual(await s2.getMeta('arbiter'), Uint8Array.of(7))
})

test('level store: a second open of a directory in use fails with DataDirLockedError naming it', async t => {
  const dir = await tempDir(t)
  const s1 = new LevelStore({ location: join(dir, 'db'), dataDir: dir })
  await s1.open()
  t.teardown(async () => { await s1.close() })
  const s2 = new LevelStore({ location: join(dir, 'db'), dataDir: dir })
  const err = await t.throwsAsync(s2.open(), { instanceOf: DataDirLockedError })
  t.true(err?.message.includes(dir))
  t.is(err?.code, 'DATA_DIR_LOCKED')
})

test('level store: compaction of thousands of revisions is chunked and complete', async t => {
  const dir = await tempDir(t)
  const s = new LevelStore({ location: join(dir, 'db') })
  await s.open()
  t.teardown(async () => { await s.close() })
  for (let i = 0; i < 3000; i += 100) {
    const entries: LogEntry[] = []
    for (let j = 0; j < 100; j++) {
      const n = i + j
      const revision = n + 1
      const key = `k${n % 50}`
      entries.push({ index: revision, term: 0, revision, mutations: [{ type: 'put', key, existed: n >= 50, record: { value: enc.encode(String(n)), revision, createRevision: (n % 50) + 1, version: Math.floor(n / 50) + 1 } }] })
    }
    await s.append(entries, { sync: false })
  }
  await s.compact(2900)
  t.is(s.state.firstLogIndex, 2900)
  t.is((await s.readLog(1, 5))[0].index, 2900)
  // every key still reads correctly at the floor and at the head
  for (let k = 0; k < 50; k++) {
    const atFloor = await s.getAt(`k${k}`, 2900)
    const expect = 2899 - ((2899 - k) % 50)
    t.is(dec.decode(atFloor?.value), String(expect))
  }
  t.is(s.state.keys, 50)
})

/** `entry` with what each mutation replaces, as the planner fills it in (log format 2). */
async function chained (s: Store, entry: LogEntry): Promise<LogEntry> {
  for (const m of entry.mutations) m.prevRevision = (await s.get(m.key))?.revision ?? 0
  return entry
}

// Entries that say what they replace (format 2) are compacted from the log alone; older ones
// (format 1, no prevRevision) by reading the key's history; a store holds both after an upgrade.
for (const mode of ['format 2', 'format 1', 'format 1 then 2'] as const) {
  test(`level store: compaction deletes every history row no read at or above the floor can reach (rows counted on disk; ${mode} entries)`, async t => {
    const dir = await tempDir(t)
    const location = join(dir, 'db')
    const s = new LevelStore({ location })
    await s.open()
    let written = 0
    const append = async (e: LogEntry): Promise<void> => {
      const v2 = mode === 'format 2' || (mode === 'format 1 then 2' && written++ >= 200)
      await s.append([v2 ? await chained(s, e) : e], { sync: false })
    }
    // 40 keys written 10 times each (revisions 1..400); then k0..k9 deleted (401..410) and k0..k4
    // written again (411..415).
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 40; k++) await append(put(s, `k${k}`, `${round}`, {}, round > 0))
    }
    for (let k = 0; k < 10; k++) await append(del(s, `k${k}`))
    for (let k = 0; k < 5; k++) await append(put(s, `k${k}`, 'again'))
    const floor = 412
    const read = async (k: number): Promise<string> => dec.decode((await s.getAt(`k${k}`, floor))?.value ?? new Uint8Array())
    const before: string[] = []
    for (let k = 0; k < 40; k++) before.push(await read(k))
    await s.compact(floor)
    for (let k = 0; k < 40; k++) t.is(await read(k), before[k], `k${k} at the floor`)
    t.is(dec.decode((await s.getAt('k3', 415))?.value), 'again')
    await s.close()
    // What is left on disk: per key, only the newest row at or below the floor (none when that is
    // a tombstone), and every row above it.
    const db = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    t.teardown(async () => { await db.close() })
    const rows = await db.keys({ gte: HISTORY_START, lt: HISTORY_END }).all()
    // k0, k1: put again at 411, 412 (≤ floor): 1 row each. k2..k4: tombstone ≤ floor dropped,
    // put above the floor kept: 1 each. k5..k9: tombstone dropped, nothing left. k10..k39: newest put.
    t.is(rows.length, 2 + 3 + 0 + 30)
  })
}

test('level store: an entry that changes one key twice keeps the row it leaves when compacted (del then put, put then put, put then del)', async t => {
  const r = (v: string, revision: number): StoredRecord => ({ value: enc.encode(v), revision, createRevision: revision, version: 1 })
  const shapes: Array<[string, Mutation[], string | undefined]> = [
    ['del then put', [{ type: 'del', key: 'k', expired: false, prevRevision: 1 }, { type: 'put', key: 'k', existed: false, record: r('2', 2), prevRevision: 0 }], '2'],
    ['put then put', [{ type: 'put', key: 'k', existed: true, record: r('2a', 2), prevRevision: 1 }, { type: 'put', key: 'k', existed: true, record: r('2b', 2), prevRevision: 2 }], '2b'],
    ['put then del', [{ type: 'put', key: 'k', existed: true, record: r('2a', 2), prevRevision: 1 }, { type: 'del', key: 'k', expired: false, prevRevision: 2 }], undefined]
  ]
  for (const [shape, mutations, expected] of shapes) {
    const dir = await tempDir(t)
    const s = new LevelStore({ location: join(dir, 'db') })
    await s.open()
    await s.append([{ index: 1, term: 1, revision: 1, mutations: [{ type: 'put', key: 'k', existed: false, record: r('1', 1), prevRevision: 0 }] }])
    await s.append([{ index: 2, term: 1, revision: 2, mutations }])
    await s.append([{ index: 3, term: 1, revision: 3, mutations: [{ type: 'put', key: 'z', existed: false, record: r('z', 3), prevRevision: 0 }] }])
    await s.compact(3)
    const at = await s.getAt('k', 3)
    t.is(at === undefined ? undefined : dec.decode(at.value), expected, shape)
    await s.close()
  }
})
