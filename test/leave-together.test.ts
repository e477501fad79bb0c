/**
 * Peers that stop at the same time, over real libp2p on 127.0.0.1 (one process, mDNS off).
 * `stop()` leaves the cluster cleanly (a primary hands over first); before the fix two leaving
 * peers handed the primary role back and forth (hundreds of terms) until the leave deadline.
 *
 * The leave deadline is set far above what a clean leave takes, so a stop that only ends by its
 * deadline fails the time check instead of passing quietly.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { createPeer } from '../src/index.js'
import type { Peer, PeerOptions } from '../src/index.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

const LISTEN = ['/ip4/127.0.0.1/tcp/0']
/** Far above a clean leave (a few round trips), so a stop ended by the deadline is caught. */
const LEAVE_TIMEOUT_MS = 15_000
/** A clean leave of several peers at once must finish well within this. */
const STOP_WITHIN_MS = 10_000

/** The highest term any of the peers reported, as the events arrive. */
class TermWatch {
  max = 0
  constructor (peers: Peer[]) {
    for (const p of peers) {
      this.max = Math.max(this.max, p.status().term)
      p.addEventListener('role', e => { this.max = Math.max(this.max, e.detail.term) })
      p.addEventListener('primary', e => { this.max = Math.max(this.max, e.detail.term) })
    }
  }
}

async function peer (t: ExecutionContext, options: Partial<PeerOptions> = {}): Promise<Peer> {
  const p = await createPeer({ dataDir: await tempDir(t), listen: LISTEN, fsync: false, mdns: false, leaveTimeoutMs: LEAVE_TIMEOUT_MS, ...options })
  t.teardown(async () => { await p.stop() })
  return p
}

async function cluster (t: ExecutionContext, n: number): Promise<Peer[]> {
  const first = await peer(t)
  await first.ready({ signal: AbortSignal.timeout(20_000) })
  const rest = await Promise.all(Array.from({ length: n - 1 }, async () => peer(t, { bootstrap: first.multiaddrs })))
  const all = [first, ...rest]
  await Promise.all(all.map(async p => p.ready({ signal: AbortSignal.timeout(20_000) })))
  await waitFor(() => all.every(p => p.status().members.length === n && p.status().primary !== undefined), `all ${n} peers to see ${n} members and a primary`, 20_000)
  return all
}

const primaryOf = (peers: Peer[]): Peer => {
  const p = peers.filter(x => x.status().role === 'primary')
  if (p.length !== 1) throw new Error(`expected one primary, found ${p.length}`)
  return p[0]
}

/** Stop all `peers` at once; the time until every stop() resolved. */
async function stopTogether (peers: Peer[]): Promise<number> {
  const started = Date.now()
  await Promise.all(peers.map(async p => p.stop()))
  return Date.now() - started
}

test('two peers stopped at once both stop promptly, without a term storm', async t => {
  for (const primaryFirst of [true, false]) {
    const peers = await cluster(t, 2)
    const p = primaryOf(peers)
    const s = peers.find(x => x !== p) as Peer
    const watch = new TermWatch(peers)
    const term = watch.max
    const took = await stopTogether(primaryFirst ? [p, s] : [s, p])
    t.log(`${primaryFirst ? 'primary' : 'secondary'} first: stop ${took} ms, terms ${term} -> ${watch.max}`)
    t.true(took < STOP_WITHIN_MS, `${primaryFirst ? 'primary' : 'secondary'} first: stop took ${took} ms`)
    t.true(watch.max - term <= 2, `${primaryFirst ? 'primary' : 'secondary'} first: terms ${term} -> ${watch.max}`)
  }
})

test('three peers, the primary and a secondary stopped at once: both stop promptly, the third carries on alone as primary', async t => {
  const peers = await cluster(t, 3)
  const p = primaryOf(peers)
  const [s1, s2] = peers.filter(x => x !== p)
  await p.set('before', 'x')
  const watch = new TermWatch(peers)
  const term = watch.max
  const took = await stopTogether([p, s1])
  t.log(`stop ${took} ms, terms ${term} -> ${watch.max}`)
  t.true(took < STOP_WITHIN_MS, `stop took ${took} ms`)
  await waitFor(() => s2.status().role === 'primary' && s2.status().members.length === 1, 'the remaining peer to be primary alone', 10_000)
  t.true(watch.max - term <= 2, `terms ${term} -> ${watch.max}`)
  t.true(s2.status().term - term <= 2)
  // It works as a cluster of one, with everything written before.
  t.is(new TextDecoder().decode((await s2.get('before'))?.value), 'x')
  t.like(await s2.set('after', 'y'), { ok: true })
})

test('three peers all stopped at once all stop promptly, without a term storm', async t => {
  const peers = await cluster(t, 3)
  const watch = new TermWatch(peers)
  const term = watch.max
  const took = await stopTogether(peers)
  t.log(`stop ${took} ms, terms ${term} -> ${watch.max}`)
  t.true(took < STOP_WITHIN_MS, `stop took ${took} ms`)
  t.true(watch.max - term <= 3, `terms ${term} -> ${watch.max}`)
})
