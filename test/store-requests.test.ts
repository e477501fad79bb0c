/**
 * Request fingerprints in the log (Store.findRequest), against both stores: an entry made by a
 * repeatable request is found by its fingerprint while the log holds it, and not once it is
 * compacted away, truncated, replaced by an installed snapshot — and, for the LevelDB store,
 * still after a reopen.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { join } from 'node:path'
import { LevelStore, MemoryStore } from '../src/store/index.js'
import type { LogEntry, Store } from '../src/store/index.js'
import { requestFingerprint } from '../src/core/request.js'
import { tempDir } from './helpers/tmp.js'

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

  test(name('an installed snapshot replaces the requests with none'), async t => {
    const src = await open(t, kind)
    const dst = await open(t, kind)
    await dst.append([put(dst, 'old', fp('before'))])
    await src.append([put(src, 'a', fp('src'))])
    await src.append([put(src, 'b')])
    const snap = src.snapshot()
    await dst.beginInstall(snap.state)
    const rows: Array<[string, any]> = []
    for await (const row of snap.records()) rows.push(row)
    await dst.installChunk(rows)
    await dst.finishInstall()
    await snap.close()
    t.is(await dst.findRequest(fp('before')), undefined)
    t.is(await dst.findRequest(fp('src')), undefined, 'a snapshot carries records, not the log')
    await dst.append([put(dst, 'c', fp('after'))])
    t.deepEqual(await dst.findRequest(fp('after')), { index: 3, term: 1, revision: 3 })
  })
}

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
