/**
 * mDNS discovery, run only inside a network namespace this test creates and deletes: three
 * peers with no bootstrap list find each other and form one cluster with one primary; a peer of
 * another cluster name is ignored and founds its own. Multicast never touches the machine's
 * real interfaces.
 */
import test from 'ava'
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

const fixture = fileURLToPath(new URL('./fixtures/mdns-node.ts', import.meta.url))

function ip (...args: string[]): void {
  execFileSync('ip', args, { stdio: 'ignore' })
}

test('three peers in a fresh network namespace find each other by mDNS and form one cluster; another cluster is ignored', async t => {
  t.timeout(60_000)
  const ns = `kvgrid-mdns-${process.pid}`
  ip('netns', 'add', ns)
  t.teardown(() => { try { ip('netns', 'del', ns) } catch {} })
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('netns', 'exec', ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'lo')

  const env = { ...process.env }
  delete env.KVGRID_MDNS // the only place mDNS is allowed: inside this namespace
  const children: ChildProcess[] = []
  const status = new Map<number, { role: string, primary?: string, clusterId?: string, members: number, connections: number }>()
  const start = async (i: number, cluster: string): Promise<void> => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import=tsx', fixture, await tempDir(t), cluster], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    t.teardown(() => { child.kill('SIGKILL') })
    void (async () => {
      for await (const line of createInterface({ input: child.stdout! })) {
        try { status.set(i, JSON.parse(line)) } catch {}
      }
    })()
  }
  await Promise.all([start(0, 'kvgrid'), start(1, 'kvgrid'), start(2, 'kvgrid'), start(3, 'other')])
  await waitFor(() => [0, 1, 2].every(i => status.get(i)?.members === 3), 'three members on each kvgrid peer', 40_000)
  const kv = [0, 1, 2].map(i => status.get(i)!)
  t.is(kv.filter(s => s.role === 'primary').length, 1)
  t.is(new Set(kv.map(s => s.primary)).size, 1)
  t.is(new Set(kv.map(s => s.clusterId)).size, 1)
  await waitFor(() => status.get(3)?.role === 'primary', 'the other cluster\'s peer to found its own cluster', 20_000)
  t.is(status.get(3)?.members, 1)
  t.is(status.get(3)?.connections, 0, 'nobody dialled across cluster names')
  t.not(status.get(3)?.clusterId, kv[0].clusterId)
})
