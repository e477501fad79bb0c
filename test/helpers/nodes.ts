/** Real libp2p nodes on 127.0.0.1 for integration tests (mDNS always off). */
import type { ExecutionContext } from 'ava'
import { createServer } from 'node:net'
import { createNode, loadOrCreateIdentity } from '../../src/node/index.js'
import type { KvNode } from '../../src/node/index.js'
import { tempDir } from './tmp.js'
import { waitFor } from './wait.js'

/** Start a node listening on 127.0.0.1 (random port), stopped in teardown. */
export async function startNode (t: ExecutionContext, bootstrap: string[] = []): Promise<KvNode> {
  const { node } = await createNode({
    privateKey: await loadOrCreateIdentity(await tempDir(t)),
    cluster: 'kvgrid',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap,
    mdns: false
  })
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

/** Start two nodes and connect b to a. */
export async function connectedPair (t: ExecutionContext): Promise<[KvNode, KvNode]> {
  const a = await startNode(t)
  const b = await startNode(t)
  await b.dial(a.getMultiaddrs()[0])
  await waitFor(() => a.getConnections(b.peerId).length > 0, 'a to see the connection from b')
  return [a, b]
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
