/**
 * The write-through record cache: bounded, copies out, and never lets a slow read overwrite a
 * newer appended record.
 */
import test from 'ava'
import { join } from 'node:path'
import { RecordCache } from '../src/store/record-cache.js'
import { LevelStore } from '../src/store/index.js'
import type { LogEntry } from '../src/store/index.js'
import { tempDir } from './helpers/tmp.js'

const rec = (v: string, revision = 1): any => ({ value: new TextEncoder().encode(v), revision, createRevision: 1, version: 1 })

test('the cache stays within its byte bound, evicting least recently used first', t => {
  const cache = new RecordCache(2000)
  for (let i = 0; i < 100; i++) cache.set(`k${i}`, rec('x'.repeat(100)))
  t.true(cache.size <= 2000)
  t.true(cache.has('k99'))
  t.false(cache.has('k0'))
  cache.get('k95') // touch: now most recent
  for (let i = 100; i < 108; i++) cache.set(`k${i}`, rec('x'.repeat(100)))
  t.true(cache.has('k95'))
  t.false(cache.has('k96'))
})

test('cache hits are copies: changing a returned value does not change the store', t => {
  const cache = new RecordCache(10_000)
  cache.set('k', rec('abc'))
  const a = cache.get('k')
  a!.value[0] = 0
  t.is(new TextDecoder().decode(cache.get('k')!.value), 'abc')
  cache.set('gone', undefined)
  t.true(cache.has('gone'))
  t.is(cache.get('gone'), undefined)
})

test('a read racing an append never leaves the older record in the cache', async t => {
  // Room for about four small records, so writing four other keys evicts "k".
  const store = new LevelStore({ location: join(await tempDir(t), 'db'), cacheBytes: 450 })
  await store.open()
  t.teardown(async () => { await store.close() })
  const put = (key: string, v: string): LogEntry => {
    const i = store.state.index + 1
    return { index: i, term: 0, revision: i, mutations: [{ type: 'put', key, existed: i > 1, record: rec(v, i) }] }
  }
  await store.append([put('k', 'old')])
  for (const o of ['o1', 'o2', 'o3', 'o4']) await store.append([put(o, 'x')])
  // Make the disk read of "k" slow: it returns only after the append below has finished.
  const db = (store as any).db
  const getMany = db.getMany.bind(db)
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  db.getMany = async (...args: unknown[]) => { const r = await getMany(...args); await gate; return r }
  const read = store.get('k')
  await store.append([put('k', 'new')])
  release()
  t.is(new TextDecoder().decode((await read)!.value), 'old', 'the slow read saw the old record')
  db.getMany = getMany
  t.is(new TextDecoder().decode((await store.get('k'))!.value), 'new', 'but did not put it in the cache')
})
