/**
 * The peer API over LevelDB: every operation, option and typed error, restart persistence,
 * expiry, group commit, cancellation and the stop lifecycle.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { createPeer, MemoryStore } from '../src/index.js'
import type { Peer, PeerOptions } from '../src/index.js'
import {
  AbortError, DataDirLockedError, ForcePrimaryRefusedError, FutureRevisionError, InvalidArgumentError, KeyTooLargeError, OperationFailedError,
  PeerStoppedError, RevisionCompactedError, ValueTooLargeError
} from '../src/errors.js'
import type { LogEntry } from '../src/store/types.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

const text = (v?: Uint8Array): string | undefined => v === undefined ? undefined : new TextDecoder().decode(v)

async function start (t: ExecutionContext, options: Partial<PeerOptions> = {}): Promise<Peer> {
  const peer = await createPeer({ dataDir: await tempDir(t), fsync: false, standalone: true, ...options })
  t.teardown(async () => { await peer.stop() })
  return peer
}

test('set then get returns the value with revision, createRevision and version', async t => {
  const peer = await start(t)
  t.deepEqual(await peer.set('a', 'one'), { ok: true, revision: 1 })
  t.deepEqual(await peer.set('a', new Uint8Array([1, 2])), { ok: true, revision: 2 })
  const e = await peer.get('a')
  t.deepEqual(e, { key: 'a', value: new Uint8Array([1, 2]), revision: 2, createRevision: 1, version: 2 })
  t.is(await peer.get('missing'), undefined)
})

test('conditional sets answer ok:false with the current revision and change nothing', async t => {
  const peer = await start(t)
  await peer.set('k', 'v1')
  t.deepEqual(await peer.set('k', 'x', { ifNotExists: true }), { ok: false, revision: 1 })
  t.deepEqual(await peer.set('n', 'x', { ifExists: true }), { ok: false, revision: 1 })
  t.deepEqual(await peer.set('k', 'x', { ifValue: 'nope' }), { ok: false, revision: 1 })
  t.deepEqual(await peer.set('k', 'x', { ifRevision: 7 }), { ok: false, revision: 1 })
  t.deepEqual(await peer.set('k', 'v2', { ifValue: 'v1', ifRevision: 1, ifExists: true }), { ok: true, revision: 2 })
  t.deepEqual(await peer.set('n', 'x', { ifRevision: 0 }), { ok: true, revision: 3 })
  t.is(text((await peer.get('k'))?.value), 'v2')
  t.is(peer.status().revision, 3)
})

test('delete of a present key advances the revision; of an absent key it answers ok:false', async t => {
  const peer = await start(t)
  await peer.set('k', 'v')
  t.deepEqual(await peer.delete('k'), { ok: true, revision: 2 })
  t.deepEqual(await peer.delete('k'), { ok: false, revision: 2 })
  t.false(await peer.exists('k'))
  await peer.set('k', 'again')
  const e = await peer.get('k')
  t.is(e?.createRevision, 3, 'a re-created key starts a new life')
  t.is(e?.version, 1)
  t.deepEqual(await peer.delete('k', { ifRevision: 1 }), { ok: false, revision: 3 })
  t.deepEqual(await peer.delete('k', { ifRevision: 3 }), { ok: true, revision: 4 })
})

test('get at an older revision reads history; outside the window it fails with a typed error', async t => {
  const peer = await start(t)
  await peer.set('k', 'v1')
  await peer.set('k', 'v2')
  await peer.delete('k')
  t.is(text((await peer.get('k', { atRevision: 1 }))?.value), 'v1')
  t.is(text((await peer.get('k', { atRevision: 2 }))?.value), 'v2')
  t.is(await peer.get('k', { atRevision: 3 }), undefined)
  t.is(await peer.get('k', { atRevision: 0 }), undefined)
  await t.throwsAsync(peer.get('k', { atRevision: 4 }), { instanceOf: FutureRevisionError, code: 'FUTURE_REVISION' })
})

test('history older than retainRevisions is compacted and reads below it fail with REVISION_COMPACTED', async t => {
  const peer = await start(t, { retainRevisions: 10 })
  for (let i = 1; i <= 1100; i++) await peer.set(`k${i % 7}`, String(i))
  await waitFor(() => peer.status().compactedRevision > 0, 'compaction')
  const floor = peer.status().compactedRevision
  t.true(floor >= 1100 - 10 - 1024 && floor <= 1100 - 10, `floor ${floor}`)
  await t.throwsAsync(peer.get('k1', { atRevision: floor - 1 }), { instanceOf: RevisionCompactedError })
  // at the floor every key still reads as it was
  const v = await peer.get('k1', { atRevision: floor })
  t.truthy(v)
  t.true((v as any).revision <= floor)
})

test('extend sets or removes the TTL without changing the version; absent keys answer ok:false', async t => {
  const peer = await start(t)
  await peer.set('k', 'v')
  const r = await peer.extend('k', 60_000)
  t.deepEqual(r, { ok: true, revision: 2 })
  const e = await peer.get('k')
  t.is(e?.version, 1)
  t.is(e?.revision, 2)
  t.true((e?.expiresAt ?? 0) > Date.now() + 50_000)
  t.deepEqual(await peer.extend('k', 0), { ok: true, revision: 3 })
  t.is((await peer.get('k'))?.expiresAt, undefined)
  t.deepEqual(await peer.extend('nope', 100), { ok: false, revision: 3 })
})

test('a key with a TTL is never returned after it expires and is removed by a logged delete', async t => {
  const peer = await start(t)
  const t0 = Date.now()
  await peer.set('short', 'v', { ttlMs: 500 })
  const present = await peer.exists('short')
  if (Date.now() - t0 < 450) t.true(present, 'readable before its expiry')
  await peer.set('long', 'v', { ttlMs: 600_000 })
  await peer.set('plain', 'v')
  // Reads hide it as soon as it is due, even before the delete commits…
  await waitFor(async () => !(await peer.exists('short')), 'short to read as absent')
  // …and the expiry delete is an ordinary revision.
  await waitFor(() => peer.status().revision === 4, 'expiry delete revision')
  t.is(peer.status().keys, 2)
  t.deepEqual((await peer.range()).map(e => e.key), ['long', 'plain'])
})

test('keys that expire while the peer is stopped are deleted soon after it restarts', async t => {
  const dir = await tempDir(t)
  const a = await createPeer({ dataDir: dir, fsync: false, standalone: true })
  await a.set('k', 'v', { ttlMs: 50 })
  await a.stop()
  const b = await createPeer({ dataDir: dir, fsync: false, standalone: true })
  t.teardown(async () => { await b.stop() })
  await waitFor(() => b.status().keys === 0, 'expiry after restart')
  t.is(b.status().revision, 2)
})

test('range filters by prefix/start/end, honours limit and reverse, and skips expired keys', async t => {
  const peer = await start(t)
  for (const k of ['a/1', 'a/2', 'a/3', 'b/1', 'c']) await peer.set(k, k.toUpperCase())
  await peer.set('a/0', 'x', { ttlMs: 1 })
  await waitFor(async () => !(await peer.exists('a/0')), 'a/0 expired')
  t.deepEqual((await peer.range({ prefix: 'a/' })).map(e => e.key), ['a/1', 'a/2', 'a/3'])
  t.deepEqual((await peer.range({ prefix: 'a/', reverse: true, limit: 2 })).map(e => e.key), ['a/3', 'a/2'])
  t.deepEqual((await peer.range({ start: 'a/2', end: 'c' })).map(e => e.key), ['a/2', 'a/3', 'b/1'])
  t.deepEqual((await peer.range({ limit: 0 })), [])
  t.is(text((await peer.range({ prefix: 'c' }))[0].value), 'C')
})

test('bad arguments are rejected with typed errors before anything is written', async t => {
  const peer = await start(t, { maxValueBytes: 16 })
  const bad: Array<[() => Promise<unknown>, any]> = [
    [async () => peer.set('', 'v'), InvalidArgumentError],
    [async () => peer.set(42 as any, 'v'), InvalidArgumentError],
    [async () => peer.set('k', 5 as any), InvalidArgumentError],
    [async () => peer.set('k', null as any), InvalidArgumentError],
    [async () => peer.set('x'.repeat(1025), 'v'), KeyTooLargeError],
    [async () => peer.set('é'.repeat(513), 'v'), KeyTooLargeError],
    [async () => peer.set('k', 'v'.repeat(17)), ValueTooLargeError],
    [async () => peer.set('k', new Uint8Array(17)), ValueTooLargeError],
    [async () => peer.set('\ud800', 'v'), InvalidArgumentError],
    [async () => peer.set('k', 'v', { ttlMs: -1 }), InvalidArgumentError],
    [async () => peer.set('k', 'v', { ttlMs: 1.5 }), InvalidArgumentError],
    [async () => peer.set('k', 'v', { ifRevision: -1 }), InvalidArgumentError],
    [async () => peer.set('k', 'v', { ifExists: true, ifNotExists: true }), InvalidArgumentError],
    [async () => peer.set('k', 'v', { ifNotExists: 'yes' as any }), InvalidArgumentError],
    [async () => peer.set('k', 'v', { id: '' }), InvalidArgumentError],
    [async () => peer.set('k', 'v', 'opts' as any), InvalidArgumentError],
    [async () => peer.set('k', 'v', { signal: {} as any }), InvalidArgumentError],
    [async () => peer.extend('k', undefined as any), InvalidArgumentError],
    [async () => peer.extend('k', Infinity), InvalidArgumentError],
    [async () => peer.get('k', { atRevision: -2 }), InvalidArgumentError],
    [async () => peer.range({ limit: -1 }), InvalidArgumentError],
    [async () => peer.range({ prefix: 7 as any }), InvalidArgumentError],
    [async () => peer.delete('', {}), InvalidArgumentError]
  ]
  for (const [call, type] of bad) {
    const err = await t.throwsAsync(call, { instanceOf: type })
    t.is(typeof (err as any)?.code, 'string')
  }
  t.is(peer.status().revision, 0)
  t.is(peer.status().keys, 0)
  t.deepEqual(await peer.set('k', 'v'.repeat(16)), { ok: true, revision: 1 }, 'the limit itself is allowed')
})

test('createPeer rejects bad options with InvalidArgumentError', async t => {
  await t.throwsAsync(createPeer({} as any), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), maxValueBytes: 0 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), fsync: 'no' as any }), { instanceOf: InvalidArgumentError })
})

test('the caller may reuse its value buffer at once: the write stores what it was given', async t => {
  const peer = await start(t)
  const buf = new Uint8Array([1, 2, 3])
  const p = peer.set('k', buf)
  buf[0] = 99
  await p
  t.deepEqual((await peer.get('k'))?.value, new Uint8Array([1, 2, 3]))
})

test('a reopened peer has exactly the data and revision it had', async t => {
  const dir = await tempDir(t)
  const a = await createPeer({ dataDir: dir, standalone: true })
  for (let i = 0; i < 50; i++) await a.set(`k${i}`, `v${i}`)
  await a.delete('k3')
  await a.set('k4', 'changed')
  const before = { entries: await a.range(), status: a.status() }
  await a.stop()
  const b = await createPeer({ dataDir: dir, standalone: true })
  t.teardown(async () => { await b.stop() })
  t.deepEqual(await b.range(), before.entries)
  t.deepEqual(b.status(), before.status)
  t.deepEqual(await b.set('next', 'x'), { ok: true, revision: 53 })
})

test('a second peer on a data directory in use fails with DataDirLockedError naming it', async t => {
  const dir = await tempDir(t)
  const a = await createPeer({ dataDir: dir, standalone: true })
  t.teardown(async () => { await a.stop() })
  const err = await t.throwsAsync(createPeer({ dataDir: dir, standalone: true }), { instanceOf: DataDirLockedError })
  t.true(err?.message.includes(dir))
})

test('concurrent writes are group-committed: fewer batches than writes, contiguous revisions', async t => {
  const store = new MemoryStore()
  let batches = 0
  const append = store.append.bind(store)
  store.append = async (entries: LogEntry[], options?: { sync?: boolean }) => {
    batches++
    await new Promise(resolve => setImmediate(resolve)) // a batch takes a while to write
    return append(entries, options)
  }
  const peer = await createPeer({ dataDir: await tempDir(t), standalone: true }, { store })
  t.teardown(async () => { await peer.stop() })
  const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => peer.set(`k${i % 50}`, String(i))))
  t.deepEqual(results.map(r => r.revision).sort((a, b) => a - b), Array.from({ length: 500 }, (_, i) => i + 1))
  t.true(batches < 50, `${batches} batches for 500 writes`)
  t.is(peer.status().keys, 50)
  // every key holds its last write in submission order
  for (let k = 0; k < 50; k++) t.is(text((await peer.get(`k${k}`))?.value), String(450 + k))
})

test('a storage failure rejects the writes of that batch with OperationFailedError carrying their ids', async t => {
  const store = new MemoryStore()
  let fail = true
  const append = store.append.bind(store)
  store.append = async (entries, options) => {
    if (fail) throw new Error('disk on fire')
    return append(entries, options)
  }
  const peer = await createPeer({ dataDir: await tempDir(t), standalone: true }, { store })
  t.teardown(async () => { await peer.stop() })
  const err = await t.throwsAsync(peer.set('k', 'v', { id: 'req-1' }), { instanceOf: OperationFailedError })
  t.is(err?.id, 'req-1')
  t.is(err?.code, 'OPERATION_FAILED')
  const generated = await t.throwsAsync(peer.set('k', 'v'), { instanceOf: OperationFailedError })
  t.regex(generated?.id ?? '', /^[0-9a-f-]{36}$/)
  t.is(peer.status().revision, 0)
  fail = false
  t.deepEqual(await peer.set('k', 'v'), { ok: true, revision: 1 }, 'the next batch takes the same revision')
})

test('an aborted signal rejects with AbortError and the write is not applied', async t => {
  const store = new MemoryStore()
  const append = store.append.bind(store)
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  store.append = async (entries, options) => { await gate; return append(entries, options) }
  const peer = await createPeer({ dataDir: await tempDir(t), standalone: true }, { store })
  t.teardown(async () => { await peer.stop() })
  await t.throwsAsync(peer.set('k', 'v', { signal: AbortSignal.abort() }), { instanceOf: AbortError })
  const first = peer.set('first', 'v') // occupies the writer
  const controller = new AbortController()
  const queued = peer.set('queued', 'v', { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(queued, { instanceOf: AbortError })
  release()
  t.deepEqual(await first, { ok: true, revision: 1 })
  t.false(await peer.exists('queued'))
  t.is(peer.status().revision, 1)
})

test('stop is idempotent, waits for queued writes, and later calls fail with PeerStoppedError', async t => {
  const peer = await createPeer({ dataDir: await tempDir(t), fsync: false, standalone: true })
  const writes = Array.from({ length: 100 }, async (_, i) => peer.set(`k${i}`, 'v'))
  const stops = [peer.stop(), peer.stop()]
  await Promise.all(stops)
  await peer.stop()
  t.is((await Promise.all(writes)).length, 100)
  await t.throwsAsync(peer.set('k', 'v'), { instanceOf: PeerStoppedError })
  await t.throwsAsync(peer.get('k'), { instanceOf: PeerStoppedError })
})

test('a stopped peer leaves no timers or handles behind: its process exits by itself', async t => {
  const dir = await tempDir(t)
  const child = spawn(process.execPath, ['--import=tsx', fileURLToPath(new URL('./fixtures/lifecycle.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('process did not exit by itself within 30 s')) }, 30_000)
    child.on('exit', c => { clearTimeout(timer); resolve(c) })
  })
  t.is(code, 0)
  const { baseline, during, after } = JSON.parse(out)
  t.true(during > baseline, 'the expiry timer is armed while running')
  t.is(after, baseline, 'no timer left after stop')
})

test('forcePrimary on a standalone peer is refused with FORCE_REFUSED; the forcePrimary option must be a cluster id', async t => {
  const peer = await start(t)
  const err = await t.throwsAsync(peer.forcePrimary(), { instanceOf: ForcePrimaryRefusedError })
  t.is((err as ForcePrimaryRefusedError).code, 'FORCE_REFUSED')
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), standalone: true, forcePrimary: 'yes' }), { instanceOf: InvalidArgumentError, message: /forcePrimary must be the cluster id/ })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), standalone: true, forcePrimary: true as any }), { instanceOf: InvalidArgumentError })
  await peer.stop()
  await t.throwsAsync(peer.forcePrimary(), { instanceOf: PeerStoppedError })
})
