/**
 * Request fingerprints in the log (Store.findRequest), against both stores: an entry made by a
 * repeatable request is found by its fingerprint while the log holds it, and not once it is
 * compacted away or truncated — and, for the LevelDB store, still after a reopen. A snapshot
 * carries the sender's requests (StoreSnapshot.requests); the receiver answers from those rows
 * until compaction passes their revision.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { join } from 'node:path'
import { LevelStore, MemoryStore } from '../src/store/index.js'
import type { LogEntry, RequestRow, Store, StoredRecord } from '../src/store/index.js'
import { StorageError } from '../src/errors.js'
import { requestFingerprint } from '../src/core/request.js'
import { tempDir } from './helpers/tmp.js'
import { ClassicLevel } from 'classic-level'
import { requestKey } from '../src/store/codec.js'
import { Writer } from '../src/codec/bytes.js'

const enc = new TextEncoder()

interface Kind { name: string, make: (t: ExecutionContext) => Promise<Store> }

const kinds: Kind[] = [
  { name: 'memory', make: async () => new MemoryStore() },
  { name: 'level', make: async t => new LevelStore({ location: join(await tempDir(t), 'db') }) }
]

async function open (t: ExecutionContext, kind: Kind): Promise<Store> {
  const s = await kind.make(t)
  await s.open()
  t.teardown(async () => { await s.close() })
  return s
}

const fp = (id: string, key = 'k'): Uint8Array => requestFingerprint(id, { op: 'set', key, value: enc.encode(id) })

/** The next entry: a put of `key`, carrying `request` when given. */
function put (s: Store, key: string, request?: Uint8Array, term = 1): LogEntry {
  const revision = s.state.revision + 1
  const e: LogEntry = {
    index: s.state.index + 1,
    term,
    revision,
    mutations: [{ type: 'put', key, existed: false, prevRevision: 0, record: { value: enc.encode(key), revision, createRevision: revision, version: 1 } }]
  }
  if (request !== undefined) e.request = request
  return e
}

for (const kind of kinds) {
  const name = (s: string): string => `${kind.name} store: ${s}`

  test(name('an entry made by a request is found by its fingerprint, with index, term and revision'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a')])
    await s.append([put(s, 'b', fp('one'), 3)])
    await s.append([put(s, 'c', fp('two'), 3)])
    await s.append([put(s, 'd', undefined, 3)])
    t.deepEqual(await s.findRequest(fp('one')), { index: 2, term: 3, revision: 2 })
    t.deepEqual(await s.findRequest(fp('two')), { index: 3, term: 3, revision: 3 })
    t.is(await s.findRequest(fp('three')), undefined, 'never written')
    t.is(await s.findRequest(fp('one', 'other')), undefined, 'same id, another command')
    // The entries read back carry their fingerprints; the others none.
    const log = await s.readLog(1, 10)
    t.deepEqual(log.map(e => e.request === undefined ? '-' : 'fp'), ['-', 'fp', 'fp', '-'])
    t.deepEqual(log[1].request, fp('one'))
  })

  test(name('an empty entry (a barrier) keeps the revision and is read back'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a')])
    await s.append([{ index: 2, term: 2, revision: 1, mutations: [] }])
    t.like(s.state, { index: 2, term: 2, revision: 1, keys: 1 })
    t.deepEqual(await s.readLog(2, 1), [{ index: 2, term: 2, revision: 1, mutations: [] }])
    await s.append([put(s, 'b', fp('x'), 2)])
    t.deepEqual(await s.findRequest(fp('x')), { index: 3, term: 2, revision: 2 })
  })

  test(name('a truncated entry is no longer found; the request made again later is'), async t => {
    const s = await open(t, kind)
    await s.append([put(s, 'a')])
    await s.append([put(s, 'b', fp('r'))])
    await s.truncateAfter(1)
    t.is(await s.findRequest(fp('r')), undefined)
    await s.append([put(s, 'c', undefined, 2)])
    await s.append([put(s, 'b', fp('r'), 2)])
    t.deepEqual(await s.findRequest(fp('r')), { index: 3, term: 2, revision: 3 })
  })

  test(name('compaction forgets the requests of the entries it drops from the log, and only those'), async t => {
    const s = await open(t, kind)
    for (let i = 0; i < 6; i++) await s.append([put(s, `k${i}`, fp(`r${i}`))])
    await s.compact(4) // entries below revision 4 leave the log
    t.is(s.state.firstLogIndex, 4)
    for (let i = 0; i < 3; i++) t.is(await s.findRequest(fp(`r${i}`)), undefined, `r${i} compacted`)
    for (let i = 3; i < 6; i++) t.deepEqual(await s.findRequest(fp(`r${i}`)), { index: i + 1, term: 1, revision: i + 1 }, `r${i} kept`)
  })

  test(name('an installed snapshot brings the sender\'s requests: found below the new log floor until compaction passes their revision, and passed on in the next snapshot'), async t => {
    const src = await open(t, kind)
    const dst = await open(t, kind)
    const third = await open(t, kind)
    await dst.append([put(dst, 'old', fp('before'))])
    await src.append([put(src, 'a', fp('gone'))])
    await src.append([put(src, 'b', fp('src'), 2)])
    await src.append([put(src, 'c', undefined, 2)])
    await src.compact(2) // entry 1 (and its request) leaves the sender's log
    t.is(await src.findRequest(fp('gone')), undefined)
    await copySnapshot(src, dst)
    t.like(dst.state, { index: 3, revision: 3, firstLogIndex: 4 })
    t.is(await dst.findRequest(fp('before')), undefined, 'its own log was replaced')
    t.is(await dst.findRequest(fp('gone')), undefined, 'the sender had dropped it')
    t.deepEqual(await dst.findRequest(fp('src')), { index: 2, term: 2, revision: 2 }, 'below the log floor, from the row')
    await dst.append([put(dst, 'd', fp('after'), 3)])
    await dst.append([put(dst, 'e', undefined, 3)])
    t.deepEqual(await dst.findRequest(fp('after')), { index: 4, term: 3, revision: 4 })
    // The next snapshot passes both on: the row below the floor and the log's.
    await copySnapshot(dst, third)
    t.deepEqual(await third.findRequest(fp('src')), { index: 2, term: 2, revision: 2 })
    t.deepEqual(await third.findRequest(fp('after')), { index: 4, term: 3, revision: 4 })
    // Compaction drops a row below the floor once it passes the row's revision, as the sender's
    // did; the install set the compacted revision to the snapshot's (3), so the first one that
    // does anything passes every row the snapshot brought.
    await dst.compact(3)
    t.deepEqual(await dst.findRequest(fp('src')), { index: 2, term: 2, revision: 2 }, 'not past the snapshot: nothing to do')
    await dst.compact(4)
    t.is(await dst.findRequest(fp('src')), undefined)
    t.deepEqual(await dst.findRequest(fp('after')), { index: 4, term: 3, revision: 4 })
    t.deepEqual(await rowsOf(dst), [{ request: fp('after'), index: 4, term: 3, revision: 4 }])
  })

  test(name('request rows beyond the snapshot, malformed, or outside an install are refused with nothing of the call written'), async t => {
    const s = await open(t, kind)
    await t.throwsAsync(s.installRequests([{ request: fp('x'), index: 1, term: 1, revision: 1 }]), { instanceOf: StorageError })
    await s.beginInstall({ index: 10, term: 3, revision: 8 })
    const good: RequestRow = { request: fp('ok'), index: 10, term: 3, revision: 8 }
    for (const bad of [
      { request: fp('b'), index: 11, term: 3, revision: 8 },
      { request: fp('b'), index: 10, term: 4, revision: 8 },
      { request: fp('b'), index: 10, term: 3, revision: 9 },
      { request: fp('b'), index: 0, term: 3, revision: 8 },
      { request: fp('b').subarray(1), index: 5, term: 3, revision: 5 }
    ]) {
      await t.throwsAsync(s.installRequests([good, bad]), { instanceOf: StorageError }, JSON.stringify({ ...bad, request: bad.request.length }))
    }
    await s.installRequests([])
    await s.finishInstall()
    t.is(await s.findRequest(fp('ok')), undefined, 'the good row of a refused call was not written either')
    t.deepEqual(await rowsOf(s), [])
  })
}

/** Install a snapshot of `src` into `dst`, records and request rows, as replication does. */
async function copySnapshot (src: Store, dst: Store): Promise<void> {
  const snap = src.snapshot()
  try {
    await dst.beginInstall(snap.state)
    const records: Array<[string, StoredRecord]> = []
    for await (const r of snap.records()) records.push(r)
    await dst.installChunk(records)
    for await (const rows of snap.requests(1)) await dst.installRequests(rows)
    await dst.finishInstall()
  } finally {
    await snap.close()
  }
}

/** The request rows a snapshot of `s` carries, by index. */
async function rowsOf (s: Store): Promise<RequestRow[]> {
  const snap = s.snapshot()
  try {
    const out: RequestRow[] = []
    for await (const rows of snap.requests(2)) out.push(...rows)
    return out.map(r => ({ ...r, request: Uint8Array.from(r.request) })).sort((a, b) => a.index - b.index)
  } finally {
    await snap.close()
  }
}

test('level store: thousands of request rows (more than one native read returns) all survive a reopen, all travel in a snapshot in chunks of at most maxRows, and the receiver finds them all', async t => {
  const dir = await tempDir(t)
  let src = new LevelStore({ location: join(dir, 'src') })
  await src.open()
  const n = 3000
  for (let i = 0; i < n; i++) await src.append([put(src, `k${i}`, fp(`r${i}`))], { sync: false })
  await src.close()
  src = new LevelStore({ location: join(dir, 'src') })
  await src.open()
  t.teardown(async () => { await src.close() })
  let found = 0
  for (let i = 0; i < n; i++) if ((await src.findRequest(fp(`r${i}`)))?.index === i + 1) found++
  t.is(found, n, 'all reloaded at open')
  const snap = src.snapshot()
  const chunks: RequestRow[][] = []
  for await (const rows of snap.requests(700)) chunks.push(rows)
  await snap.close()
  t.true(chunks.every(c => c.length <= 700 && c.length > 0))
  t.is(chunks.flat().length, n)
  const dst = new LevelStore({ location: join(dir, 'dst') })
  await dst.open()
  t.teardown(async () => { await dst.close() })
  await copySnapshot(src, dst)
  found = 0
  for (let i = 0; i < n; i++) if ((await dst.findRequest(fp(`r${i}`)))?.revision === i + 1) found++
  t.is(found, n, 'all found below the receiver\'s log floor')
})

test('level store: request rows written before session 6 (the index alone) are still found, and a snapshot sends them from their log entries', async t => {
  const location = join(await tempDir(t), 'db')
  let s = new LevelStore({ location })
  await s.open()
  for (let i = 0; i < 100; i++) await s.append([put(s, `k${i}`, fp(`r${i}`), 2)])
  await s.close()
  // Rewrite every row in the old form: the log index alone.
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
  await raw.open()
  for (let i = 0; i < 100; i++) await raw.put(requestKey(fp(`r${i}`)), new Writer(4).varint(i + 1).finish())
  await raw.close()
  s = new LevelStore({ location })
  await s.open()
  t.teardown(async () => { await s.close() })
  t.deepEqual(await s.findRequest(fp('r41')), { index: 42, term: 2, revision: 42 })
  const rows = await rowsOf(s)
  t.is(rows.length, 100)
  t.deepEqual(rows[41], { request: fp('r41'), index: 42, term: 2, revision: 42 })
})

test('level store: request rows a snapshot brought survive a reopen, compacted ones stay gone; an interrupted install leaves none', async t => {
  const dir = await tempDir(t)
  const src = new LevelStore({ location: join(dir, 'src') })
  await src.open()
  t.teardown(async () => { await src.close() })
  for (let i = 0; i < 4; i++) await src.append([put(src, `k${i}`, fp(`r${i}`))])
  let s = new LevelStore({ location: join(dir, 'db') })
  await s.open()
  await src.compact(2) // r0 leaves the sender's log
  await copySnapshot(src, s)
  await s.append([put(s, 'x', fp('x'), 2)])
  await s.append([put(s, 'y', undefined, 2)])
  const reopen = async (): Promise<void> => {
    await s.close()
    s = new LevelStore({ location: join(dir, 'db') })
    await s.open()
  }
  await reopen()
  t.is(await s.findRequest(fp('r0')), undefined)
  for (let i = 1; i < 4; i++) t.deepEqual(await s.findRequest(fp(`r${i}`)), { index: i + 1, term: 1, revision: i + 1 }, `r${i} from its row`)
  t.deepEqual(await s.findRequest(fp('x')), { index: 5, term: 2, revision: 5 })
  await s.compact(5) // past the snapshot's revision (4): every row it brought goes
  await reopen()
  for (let i = 1; i < 4; i++) t.is(await s.findRequest(fp(`r${i}`)), undefined, `r${i} compacted`)
  t.deepEqual(await s.findRequest(fp('x')), { index: 5, term: 2, revision: 5 })
  t.deepEqual((await rowsOf(s)).map(r => r.index), [5])
  // An install cut short after its request rows: reopened, the store starts from scratch, rows and all.
  await s.beginInstall(src.state)
  await s.installRequests([{ request: fp('r3'), index: 4, term: 1, revision: 4 }])
  await s.close()
  s = new LevelStore({ location: join(dir, 'db') })
  await s.open()
  t.teardown(async () => { await s.close() })
  t.is(s.state.index, 0)
  t.is(await s.findRequest(fp('r3')), undefined)
  t.deepEqual(await rowsOf(s), [])
})

test('level store: the request index survives a reopen, and compaction and truncation keep its rows exact', async t => {
  const location = join(await tempDir(t), 'db')
  let s = new LevelStore({ location })
  await s.open()
  for (let i = 0; i < 5; i++) await s.append([put(s, `k${i}`, fp(`r${i}`))])
  await s.compact(2) // drops entry 1 (r0)
  await s.truncateAfter(4) // drops entry 5 (r4)
  await s.close()
  s = new LevelStore({ location })
  await s.open()
  t.teardown(async () => { await s.close() })
  t.is(await s.findRequest(fp('r0')), undefined)
  t.is(await s.findRequest(fp('r4')), undefined)
  for (let i = 1; i < 4; i++) t.deepEqual(await s.findRequest(fp(`r${i}`)), { index: i + 1, term: 1, revision: i + 1 })
})
