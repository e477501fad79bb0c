/**
 * mDNS discovery, run only inside a network namespace this test creates and deletes: three
 * nodes with no bootstrap list find and connect to each other; a node of another cluster name
 * is not connected to. Multicast never touches the machine's real interfaces.
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

test('three peers in a fresh network namespace discover each other by mDNS; another cluster is ignored', async t => {
  t.timeout(60_000)
  const ns = `kvgrid-mdns-${process.pid}`
  ip('netns', 'add', ns)
  t.teardown(() => { try { ip('netns', 'del', ns) } catch {} })
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('netns', 'exec', ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'lo')

  const env = { ...process.env }
  delete env.KVGRID_MDNS // the only place mDNS is allowed: inside this namespace
  const children: ChildProcess[] = []
  const peers = new Map<number, number>()
  const start = async (i: number, cluster: string): Promise<void> => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import=tsx', fixture, await tempDir(t), cluster], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    t.teardown(() => { child.kill('SIGKILL') })
    void (async () => {
      for await (const line of createInterface({ input: child.stdout! })) {
        const [kind, n] = line.split(' ')
        if (kind === 'peers') peers.set(i, Number(n))
      }
    })()
  }
  await Promise.all([start(0, 'kvgrid'), start(1, 'kvgrid'), start(2, 'kvgrid'), start(3, 'other')])
  await waitFor(() => [0, 1, 2].every(i => peers.get(i) === 2), 'each kvgrid peer to connect to the other two', 40_000)
  t.pass()
  t.is(peers.get(3) ?? 0, 0, 'the peer of cluster "other" connected to nobody')
})
