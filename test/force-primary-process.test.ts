/**
 * The two-peer case with real processes on 127.0.0.1 (mDNS off): one of two members is
 * SIGKILLed, the survivor cannot take writes (a majority of two is two), the operator forces
 * it (`peer.forcePrimary()`, what `force-primary yes` and `--force-primary` call), writes resume
 * with every earlier acknowledged write kept; the killed peer restarting on its old data reports
 * the conflict and stays out; restarted on an empty data directory it joins and catches up.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'
import { startProc } from './helpers/procs.js'
import type { PeerProc } from './helpers/procs.js'

const LIFETIME_MS = 110_000

function addrOf (p: PeerProc): string {
  const a = p.status?.multiaddrs.find(m => m.includes('/ip4/127.0.0.1/'))
  if (a === undefined) throw new Error(`${p.name} has no loopback address yet`)
  return a.includes('/p2p/') ? a : `${a}/p2p/${p.status?.peerId as string}`
}

/** `a` founds a cluster, `b` joins it: a two-member cluster of processes under `dir`. */
async function twoPeers (t: ExecutionContext): Promise<{ dir: string, a: PeerProc, b: PeerProc }> {
  const dir = await tempDir(t)
  const a = startProc(t, join(dir, 'a'), 0, undefined, { name: 'a', lifetimeMs: LIFETIME_MS })
  await waitFor(() => a.status?.role === 'primary', 'a founds', 20_000)
  const b = startProc(t, join(dir, 'b'), 0, addrOf(a), { name: 'b', lifetimeMs: LIFETIME_MS })
  await waitFor(() => a.status?.members.length === 2 && b.status?.role === 'secondary', 'b joins', 20_000)
  return { dir, a, b }
}

for (const dead of ['primary', 'secondary'] as const) {
  test(`two peers, the ${dead} is SIGKILLed: writes fail until the survivor is forced; then acked writes are all there, the old peer stays out until reset, and rejoins empty`, async t => {
    t.timeout(100_000)
    const { a, b } = await twoPeers(t)

    const acked = new Map<string, string>()
    for (let i = 0; i < 20; i++) {
      const r = await a.set(`k${i}`, `v${i}`)
      t.true(r.ok, JSON.stringify(r))
      acked.set(`k${i}`, `v${i}`)
    }
    const [victim, survivor] = dead === 'primary'
      ? (a.status?.role === 'primary' ? [a, b] : [b, a])
      : (a.status?.role === 'primary' ? [b, a] : [a, b])
    const oldCluster = survivor.status?.clusterId
    victim.child.kill('SIGKILL')
    await victim.exited

    // Without a majority the survivor takes no write: never a silent success.
    const refused = await survivor.set('lost', 'x')
    t.truthy(refused.error, JSON.stringify(refused))
    t.true(['OPERATION_FAILED', 'CLUSTER_UNAVAILABLE'].includes(refused.error?.code ?? ''), JSON.stringify(refused))
    await waitFor(() => survivor.status?.role === 'secondary' && survivor.status.primary === undefined, 'the survivor has no primary', 20_000)

    const forced = await survivor.command('force')
    t.is(forced.error, undefined, JSON.stringify(forced))
    t.not(forced.clusterId, oldCluster)
    await waitFor(() => survivor.status?.role === 'primary' && survivor.status.clusterId === forced.clusterId, 'the survivor is primary of the new cluster', 10_000)
    t.deepEqual(survivor.status?.members, [survivor.status?.peerId])
    t.is(survivor.status?.term, forced.term)
    // A second force is refused: it is the primary now.
    t.is((await survivor.command('force')).error?.code, 'FORCE_REFUSED')

    const after = await survivor.set('after', 'forced')
    t.true(after.ok, JSON.stringify(after))
    acked.set('after', 'forced')
    const dump = await survivor.dump()
    const held = new Map(dump.entries.map(([k, v]) => [k, v]))
    for (const [k, v] of acked) t.is(held.get(k), v, `acked ${k} kept`)

    // The old member restarted on its old data: it reports the conflict and stays out.
    const back = startProc(t, victim.dataDir, 0, addrOf(survivor), { name: `${victim.name}#1`, lifetimeMs: LIFETIME_MS })
    await waitFor(() => back.status?.conflict === forced.clusterId, 'the returning peer reports the conflict', 20_000)
    t.not(back.status?.role, 'primary')
    t.is(back.status?.clusterId, oldCluster)
    t.deepEqual(survivor.status?.members, [survivor.status?.peerId])
    const stale = await back.set('stale', 'x', 15_000)
    t.truthy(stale.error, JSON.stringify(stale))
    back.child.kill('SIGKILL')
    await back.exited

    // Reset (data directory removed): it joins the forced cluster and catches up.
    await rm(victim.dataDir, { recursive: true, force: true })
    const fresh = startProc(t, victim.dataDir, 0, addrOf(survivor), { name: `${victim.name}#2`, lifetimeMs: LIFETIME_MS })
    await waitFor(() => fresh.status?.role === 'secondary' && fresh.status.clusterId === forced.clusterId && survivor.status?.members.length === 2, 'the reset peer joins', 30_000)
    const want = await survivor.digest()
    await waitFor(async () => (await fresh.digest()).hash === want.hash, 'the reset peer holds the same data', 20_000, 100)
    t.is((await fresh.get('after')).value, 'forced')
  })
}

test('the forcePrimary start option forces only in the named cluster and only when no primary appears: a restart into a live cluster stays secondary, a lone survivor restarted with it becomes primary of a new cluster, and a later restart with the option left in place does nothing', async t => {
  t.timeout(150_000)
  const { dir, a, b } = await twoPeers(t)
  t.true((await a.set('k', 'v')).ok)
  const cluster = a.status?.clusterId as string

  // b restarts with the option while a is primary: it rejoins its cluster, nothing is forced.
  b.child.kill('SIGKILL')
  await b.exited
  const b1 = startProc(t, b.dataDir, 0, addrOf(a), { name: 'b#1', lifetimeMs: LIFETIME_MS, forcePrimary: cluster })
  // (An ordinary election on a loaded machine may move the primary role to b: still no force.)
  await waitFor(() => b1.status?.clusterId === cluster && b1.status.members.length === 2 && b1.status.primary !== undefined && (b1.status.role === 'secondary' || b1.status.role === 'primary'), 'b rejoins its cluster', 30_000)
  // Well past the option's 2 s window: still the same cluster with both members (a force would
  // show as a new cluster id with b alone in it; an ordinary election on a loaded machine may
  // still move the primary role, which is fine).
  await waitFor(async () => (await b1.get('k')).value === 'v', 'b holds k', 10_000)
  const start = Date.now()
  await waitFor(() => Date.now() - start > 4000 ? true : b1.status?.clusterId !== cluster ? 'forced' : false, 'the option window to pass', 10_000, 100)
  t.is(b1.status?.clusterId, cluster)
  t.is(b1.status?.members.length, 2)

  // a dies; b restarts with the option: after the window it forces itself primary.
  a.child.kill('SIGKILL')
  await a.exited
  b1.child.kill('SIGKILL')
  await b1.exited
  const b2 = startProc(t, b.dataDir, 0, undefined, { name: 'b#2', lifetimeMs: LIFETIME_MS, forcePrimary: cluster })
  await waitFor(() => b2.status?.role === 'primary', 'b forces itself primary', 30_000)
  t.not(b2.status?.clusterId, cluster)
  t.deepEqual(b2.status?.members, [b2.status?.peerId])
  t.is((await b2.get('k')).value, 'v')
  t.true((await b2.set('k2', 'v2')).ok)
  const forced = b2.status?.clusterId

  // The option left in place: b is in the new cluster now, so a restart never forces again.
  const c = startProc(t, join(dir, 'c'), 0, addrOf(b2), { name: 'c', lifetimeMs: LIFETIME_MS })
  await waitFor(() => b2.status?.members.length === 2 && c.status?.role === 'secondary', 'c joins the forced cluster', 40_000)
  b2.child.kill('SIGKILL')
  await b2.exited
  const b3 = startProc(t, b.dataDir, 0, addrOf(c), { name: 'b#3', lifetimeMs: LIFETIME_MS, forcePrimary: cluster })
  await waitFor(() => b3.status?.clusterId !== undefined, 'b#3 to start', 30_000)
  const at = Date.now()
  // b#3 and c (a majority of two) may elect normally; a force would show as a new cluster id
  // with b alone in it.
  await waitFor(() => Date.now() - at > 4000 ? true : b3.status?.clusterId !== forced ? 'forced' : false, 'the option window to pass', 10_000, 100)
  t.is(b3.status?.clusterId, forced)
  t.is(b3.status?.members.length, 2)
})
