/**
 * Peers on the network, in one process over real libp2p on 127.0.0.1 (mDNS off): founding,
 * joining, one primary, status and events, writes refused on secondaries, clean leave and
 * handover, identity across restarts.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { createPeer } from '../src/index.js'
import type { Peer, PeerOptions } from '../src/index.js'
import { AbortError, ClusterUnavailableError, InvalidArgumentError, NetworkError } from '../src/errors.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

const LISTEN = ['/ip4/127.0.0.1/tcp/0']

async function peer (t: ExecutionContext, options: Partial<PeerOptions> = {}): Promise<Peer> {
  const p = await createPeer({ dataDir: await tempDir(t), listen: LISTEN, fsync: false, mdns: false, ...options })
  t.teardown(async () => { await p.stop() })
  return p
}

async function cluster (t: ExecutionContext, n: number): Promise<Peer[]> {
  const first = await peer(t)
  const rest = await Promise.all(Array.from({ length: n - 1 }, async () => peer(t, { bootstrap: first.multiaddrs })))
  const all = [first, ...rest]
  await Promise.all(all.map(async p => p.ready({ signal: AbortSignal.timeout(20_000) })))
  await waitFor(() => all.every(p => p.status().members.length === n), `all ${n} peers to see ${n} members`, 20_000)
  return all
}

const primaries = (peers: Peer[]): Peer[] => peers.filter(p => p.status().role === 'primary')

test('a single networked peer founds its own cluster and becomes primary', async t => {
  const p = await peer(t)
  await p.ready({ signal: AbortSignal.timeout(20_000) })
  const s = p.status()
  t.is(s.role, 'primary')
  t.is(s.term, 1)
  t.is(s.primary, s.peerId)
  t.regex(s.clusterId ?? '', /^[0-9a-f]{32}$/)
  t.deepEqual(s.members.map(m => m.peerId), [s.peerId])
  t.regex(p.multiaddrs[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
  t.deepEqual(await p.set('k', 'v'), { ok: true, revision: 1 })
})

test('three fresh peers form one cluster with exactly one primary that all agree on', async t => {
  const peers = await cluster(t, 3)
  t.is(primaries(peers).length, 1)
  const primary = primaries(peers)[0].status().peerId
  const ids = new Set(peers.map(p => p.status().clusterId))
  t.is(ids.size, 1, 'one cluster id')
  for (const p of peers) {
    const s = p.status()
    t.is(s.primary, primary)
    t.is(s.members.length, 3)
    t.is(s.members.filter(m => m.role === 'primary').length, 1)
    t.is(s.connections.length, 2, 'full mesh')
  }
  // Member addresses are the members' dialable listen addresses.
  const listenOf = new Map(peers.map(p => [p.status().peerId, p.multiaddrs]))
  await waitFor(() => peers.every(p => p.status().members.every(m => m.addrs.length > 0)), 'every member address to be known', 10_000)
  for (const p of peers) {
    for (const m of p.status().members) t.deepEqual(m.addrs, listenOf.get(m.peerId), `addresses of ${m.peerId} as seen by ${p.status().peerId}`)
  }
})

test('writes on a secondary are forwarded to the primary: same results, same typed errors', async t => {
  const peers = await cluster(t, 3)
  const primary = primaries(peers)[0]
  const secondary = peers.find(p => p !== primary) as Peer
  t.deepEqual(await primary.set('k', 'v'), { ok: true, revision: 1 })
  t.deepEqual(await secondary.set('k', 'w'), { ok: true, revision: 2 })
  t.deepEqual(await secondary.set('k', 'x', { ifNotExists: true }), { ok: false, revision: 2 })
  t.deepEqual(await secondary.delete('nope'), { ok: false, revision: 2 })
  t.deepEqual(await secondary.extend('k', 60_000), { ok: true, revision: 3 })
  // The forwarded write is acked only once every member holds it, so it reads back anywhere.
  for (const p of peers) t.is(new TextDecoder().decode((await p.get('k'))?.value), 'w')
  // Bad input fails with the same typed error on a secondary as on the primary.
  await t.throwsAsync(secondary.set('', 'v'), { instanceOf: InvalidArgumentError })
})

test('role, primary and members events fire on the peer', async t => {
  const first = await peer(t)
  const roles: string[] = []
  const members: number[] = []
  first.addEventListener('role', e => { roles.push(e.detail.role) })
  first.addEventListener('members', e => { members.push(e.detail.members.length) })
  await first.ready({ signal: AbortSignal.timeout(20_000) })
  await peer(t, { bootstrap: first.multiaddrs })
  await waitFor(() => members.includes(2), 'a members event with 2 members', 20_000)
  t.true(roles.includes('primary'))
})

test('stop() of a secondary removes it from the membership at once', async t => {
  const peers = await cluster(t, 3)
  const primary = primaries(peers)[0]
  const secondary = peers.find(p => p !== primary) as Peer
  const started = Date.now()
  await secondary.stop()
  await waitFor(() => primary.status().members.length === 2, 'the primary to drop the leaver', 5000)
  t.true(Date.now() - started < 4000, 'well before the eviction timeout')
})

test('stop() of the primary hands the role over to a secondary in the next term', async t => {
  const peers = await cluster(t, 3)
  const primary = primaries(peers)[0]
  const term = primary.status().term
  const rest = peers.filter(p => p !== primary)
  const started = Date.now()
  await primary.stop()
  await waitFor(() => primaries(rest).length === 1 && rest.every(p => p.status().primary === primaries(rest)[0].status().peerId), 'a new primary both survivors follow', 10_000)
  t.true(primaries(rest)[0].status().term > term)
  t.true(Date.now() - started < 5000, `handover took ${Date.now() - started} ms`)
  await waitFor(() => rest.every(p => p.status().members.length === 2), 'the old primary to be removed', 10_000)
})

test('a write repeated with its request id after a failover is answered from the entry it made, not applied twice', async t => {
  const peers = await cluster(t, 3)
  const primary = primaries(peers)[0]
  const [a, b] = peers.filter(p => p !== primary)
  // Made through a secondary (forwarded) and on the primary itself, with ids a client may repeat.
  t.deepEqual(await a.set('k', 'v', { id: 'create-k', ifNotExists: true }), { ok: true, revision: 1 })
  t.deepEqual(await primary.set('d', 'x', { id: 'set-d' }), { ok: true, revision: 2 })
  t.deepEqual(await b.delete('d', { id: 'delete-d' }), { ok: true, revision: 3 })
  await primary.stop()
  const rest = [a, b]
  await waitFor(() => primaries(rest).length === 1 && rest.every(p => p.status().primary === primaries(rest)[0].status().peerId), 'a new primary both survivors follow', 10_000)
  // Repeats, through both survivors (one is the new primary): the first answers, no new revision.
  // Evaluated again, the conditional create and the delete would now answer ok: false.
  for (const p of rest) {
    t.deepEqual(await p.set('k', 'v', { id: 'create-k', ifNotExists: true }), { ok: true, revision: 1 })
    t.deepEqual(await p.set('d', 'x', { id: 'set-d' }), { ok: true, revision: 2 })
    t.deepEqual(await p.delete('d', { id: 'delete-d' }), { ok: true, revision: 3 })
  }
  for (const p of rest) {
    t.is(p.status().revision, 3)
    t.is((await p.get('k'))?.revision, 1)
    t.is(await p.get('d'), undefined)
  }
  // The same id with another command is another request.
  t.deepEqual(await a.set('k', 'w', { id: 'create-k' }), { ok: true, revision: 4 })
  await waitFor(() => rest.every(p => p.status().revision === 4), 'both survivors at revision 4', 10_000)
})

test('peers that caught up by snapshot answer repeats of writes older than their log: the snapshot brought the request rows', async t => {
  const first = await peer(t, { retainRevisions: 50 })
  await first.ready({ signal: AbortSignal.timeout(20_000) })
  // Past retainRevisions + COMPACTION_SLACK: the founder compacts its log's start away, so a
  // fresh peer gets a snapshot, not the log.
  for (let i = 0; i < 1100; i += 50) await Promise.all(Array.from({ length: 50 }, async (_, k) => first.set(`f${(i + k) % 100}`, 'x')))
  await waitFor(() => first.status().compactedRevision > 1, 'the founder to compact', 10_000)
  const created = await first.set('k', 'v', { id: 'create-k', ifNotExists: true })
  const deleted = await first.delete('f0', { id: 'delete-f0' })
  t.true(created.ok && deleted.ok)
  const rest = await Promise.all([0, 1].map(async () => peer(t, { bootstrap: first.multiaddrs, retainRevisions: 50 })))
  await waitFor(() => [first, ...rest].every(p => p.status().members.length === 3), 'three members', 20_000)
  for (const p of rest) t.true(p.status().compactedRevision > 1, 'caught up by snapshot (its log starts after it)')
  await first.stop()
  await waitFor(() => primaries(rest).length === 1 && rest.every(p => p.status().primary === primaries(rest)[0].status().peerId), 'a new primary both survivors follow', 10_000)
  const revision = rest[0].status().revision
  // Evaluated again, the conditional create and the delete would answer ok: false.
  for (const p of rest) {
    t.deepEqual(await p.set('k', 'v', { id: 'create-k', ifNotExists: true }), created)
    t.deepEqual(await p.delete('f0', { id: 'delete-f0' }), deleted)
  }
  await waitFor(() => rest.every(p => p.status().revision === revision), 'no new revision', 10_000)
  t.is(rest[0].status().revision, revision)
})

test('ready() rejects with AbortError when its signal aborts; writes before a primary is known fail typed', async t => {
  // A peer whose only seed is unreachable waits instead of founding.
  const p = await peer(t, { bootstrap: ['/ip4/127.0.0.1/tcp/9/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'] })
  await t.throwsAsync(p.ready({ signal: AbortSignal.timeout(2500) }), { instanceOf: AbortError })
  t.is(p.status().role, 'joining')
  const started = Date.now()
  await t.throwsAsync(p.set('k', 'v'), { instanceOf: ClusterUnavailableError })
  t.true(Date.now() - started < 5000, 'within the forward timeout')
})

test('a peer keeps its PeerId and cluster across restarts', async t => {
  const dir = await tempDir(t)
  const a = await createPeer({ dataDir: dir, listen: LISTEN, fsync: false, mdns: false })
  await a.ready({ signal: AbortSignal.timeout(20_000) })
  const before = a.status()
  await a.stop()
  const b = await createPeer({ dataDir: dir, listen: LISTEN, fsync: false, mdns: false })
  t.teardown(async () => { await b.stop() })
  await b.ready({ signal: AbortSignal.timeout(20_000) })
  t.is(b.status().peerId, before.peerId)
  t.is(b.status().clusterId, before.clusterId)
  t.true(b.status().term >= before.term)
})

test('bad network options are rejected before the data directory is touched', async t => {
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), cluster: 'Not Valid' }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), listen: ['nope'] }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(createPeer({ dataDir: await tempDir(t), arbiter: { heartbeatMs: 0 } }), { instanceOf: InvalidArgumentError })
})

test('a listen address in use fails with NetworkError and releases the data directory', async t => {
  const a = await peer(t)
  const taken = a.multiaddrs[0].replace(/\/p2p\/.*$/, '')
  const dir = await tempDir(t)
  const err = await t.throwsAsync(createPeer({ dataDir: dir, listen: [taken], mdns: false }), { instanceOf: NetworkError })
  t.regex(err?.message ?? '', /already in use/)
  const again = await createPeer({ dataDir: dir, listen: LISTEN, mdns: false })
  await again.stop()
})
