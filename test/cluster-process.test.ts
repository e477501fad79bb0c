/**
 * Three peers in separate processes on 127.0.0.1: they form one cluster with one primary; the
 * primary is SIGKILLed and the other two elect a new one; the killed peer restarts on its data
 * directory and rejoins as a secondary.
 */
import test from 'ava'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'
import { startProc } from './helpers/procs.js'
import type { PeerProc } from './helpers/procs.js'

const live = (ps: PeerProc[]): PeerProc[] => ps.filter(p => p.child.exitCode === null && p.child.signalCode === null)

test('a SIGKILLed primary is replaced by an election among the survivors, and rejoins as a secondary', async t => {
  t.timeout(120_000)
  const first = startProc(t, await tempDir(t), 0)
  await waitFor(() => first.status?.role === 'primary', 'the first peer to found the cluster', 30_000)
  const seed = first.status!.multiaddrs[0]
  const others = [startProc(t, await tempDir(t), 0, seed), startProc(t, await tempDir(t), 0, seed)]
  const all = [first, ...others]
  await waitFor(() => all.every(p => p.status?.members.length === 3 && p.status.primary !== undefined), 'three members everywhere', 30_000)
  const primaries = all.filter(p => p.status?.role === 'primary')
  t.is(primaries.length, 1)
  const old = primaries[0]
  const oldTerm = old.status!.term
  const oldId = old.status!.peerId

  old.child.kill('SIGKILL')
  await old.exited
  const killedAt = Date.now()
  const survivors = live(all)
  await waitFor(() => {
    const ps = survivors.filter(p => p.status?.role === 'primary')
    return ps.length === 1 && survivors.every(p => p.status?.primary === ps[0].status!.peerId && p.status.term > oldTerm)
  }, 'one new primary among the survivors', 30_000)
  const electedIn = Date.now() - killedAt
  t.log(`new primary ${electedIn} ms after SIGKILL`)
  const newPrimary = survivors.find(p => p.status?.role === 'primary')!
  t.not(newPrimary.status!.peerId, oldId)

  // The old primary restarts on the same data directory (a new port): same identity, rejoins.
  const back = startProc(t, old.dataDir, 0, newPrimary.status!.multiaddrs[0])
  await waitFor(() => back.status?.role === 'secondary' && back.status.primary === newPrimary.status!.peerId, 'the restarted peer to follow the new primary', 30_000)
  t.is(back.status!.peerId, oldId)
  t.is(back.status!.clusterId, first.status!.clusterId)
  await waitFor(() => [...survivors, back].every(p => p.status?.members.length === 3), 'three members again', 30_000)
  t.is([...survivors, back].filter(p => p.status?.role === 'primary').length, 1)
  for (const p of [...survivors, back]) p.child.kill('SIGTERM')
  await Promise.all([...survivors, back].map(async p => p.exited))
})
