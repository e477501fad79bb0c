/**
 * Role-change notices (src/cli/notices.ts): the line format, coalescing of the events of one
 * arbiter step, unsubscribing, and a real hand-over between two peers on 127.0.0.1.
 */
import test from 'ava'
import { TypedEventEmitter } from 'main-event'
import { createPeer } from '../src/index.js'
import { describeRole, watchRole } from '../src/cli/notices.js'
import type { CliPeer } from '../src/cli/notices.js'
import type { PeerEvents, PeerStatus, Role } from '../src/types.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

const roles: Array<[status: { role: Role, term: number, primary?: string }, line: string]> = [
  [{ role: 'primary', term: 4, primary: 'A' }, 'now primary in term 4'],
  [{ role: 'secondary', term: 4, primary: '12D3KooWB' }, 'now secondary in term 4, primary 12D3KooWB'],
  [{ role: 'secondary', term: 5 }, 'now secondary in term 5, no primary known'],
  [{ role: 'candidate', term: 6 }, 'now candidate in term 6, no primary known'],
  [{ role: 'joining', term: 0 }, 'now joining in term 0, no primary known']
]

for (const [status, line] of roles) {
  test(`describeRole shows ${JSON.stringify(status)} as "${line}"`, (t) => {
    t.is(describeRole(status), line)
  })
}

/** A peer whose status the test sets, with real typed events. */
class FakePeer extends TypedEventEmitter<PeerEvents> {
  state: Pick<PeerStatus, 'role' | 'term' | 'primary'> = { role: 'secondary', term: 1, primary: 'A' }
  status (): PeerStatus {
    return { ...this.state, members: [], connections: [], revision: 0, keys: 0, dataDir: '/d', compactedRevision: 0, fsync: true, pendingWrites: 0 }
  }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

test('watchRole prints one line per change of role, term or primary, coalescing the events of one step', async (t) => {
  const peer = new FakePeer()
  const lines: string[] = []
  const stop = watchRole(peer as unknown as CliPeer)((line) => lines.push(line))
  // An event that changes nothing prints nothing.
  peer.safeDispatchEvent('primary', { detail: { primary: 'A', term: 1 } })
  await tick()
  t.deepEqual(lines, [])
  // An election: role and primary change in one step, one line.
  peer.state = { role: 'primary', term: 2, primary: 'B' }
  peer.safeDispatchEvent('role', { detail: { role: 'primary', previous: 'secondary', term: 2 } })
  peer.safeDispatchEvent('primary', { detail: { primary: 'B', term: 2 } })
  await tick()
  t.deepEqual(lines, ['kvgrid: now primary in term 2'])
  peer.state = { role: 'secondary', term: 3 }
  peer.safeDispatchEvent('role', { detail: { role: 'secondary', previous: 'primary', term: 3 } })
  await tick()
  t.deepEqual(lines, ['kvgrid: now primary in term 2', 'kvgrid: now secondary in term 3, no primary known'])
  // After unsubscribing nothing more is printed, and the listeners are gone.
  stop()
  peer.state = { role: 'secondary', term: 3, primary: 'C' }
  peer.safeDispatchEvent('primary', { detail: { primary: 'C', term: 3 } })
  await tick()
  t.is(lines.length, 2)
  t.is(peer.listenerCount('role'), 0)
  t.is(peer.listenerCount('primary'), 0)
})

test('a secondary prints "now primary" when the primary stops and hands over to it', async (t) => {
  t.timeout(30_000)
  const net = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, fsync: false, cluster: 'cli-notices' }
  const a = await createPeer({ ...net, dataDir: await tempDir(t) })
  t.teardown(async () => { await a.stop() })
  await a.ready()
  const b = await createPeer({ ...net, dataDir: await tempDir(t), bootstrap: [a.multiaddrs[0]] })
  t.teardown(async () => { await b.stop() })
  await b.ready()
  await waitFor(() => a.status().members.length === 2, 'b to be a member in a\'s view')
  const lines: string[] = []
  const stop = watchRole(b)((line) => lines.push(line))
  t.teardown(stop)
  t.is(b.status().role, 'secondary')
  await a.stop()
  await waitFor(() => lines.some((l) => l.startsWith('kvgrid: now primary in term ')), 'b\'s "now primary" notice', 15_000)
  t.regex(lines.at(-1) ?? '', /^kvgrid: now primary in term [2-9]\d*$/)
})
