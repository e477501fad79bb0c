/**
 * The libp2p node factory on loopback (mDNS off): identity persistence, option validation, the
 * multicast guard, and two nodes connecting through a bootstrap address.
 */
import test from 'ava'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createNode, identityMode, loadOrCreateIdentity, mdnsServiceTag, resolveNodeInit, IDENTITY_FILE } from '../src/node/index.js'
import { InvalidArgumentError, StorageError } from '../src/errors.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'

test('the identity key is created once with mode 600 and reused, so the PeerId survives restarts', async t => {
  const dir = await tempDir(t)
  const a = await loadOrCreateIdentity(dir)
  t.is(await identityMode(dir), 0o600)
  const b = await loadOrCreateIdentity(dir)
  t.true(peerIdFromPrivateKey(a).equals(peerIdFromPrivateKey(b)))
})

test('a corrupt identity key fails with StorageError naming the file', async t => {
  const dir = await tempDir(t)
  await writeFile(join(dir, IDENTITY_FILE), 'not a key')
  const err = await t.throwsAsync(loadOrCreateIdentity(dir), { instanceOf: StorageError })
  t.true(err?.message.includes(join(dir, IDENTITY_FILE)))
})

test('KVGRID_MDNS=off forces mDNS off whatever the options say', t => {
  t.like(resolveNodeInit({ cluster: 'kvgrid', mdns: true }, { KVGRID_MDNS: 'off' }), { mdns: false, mdnsForcedOff: true })
  t.like(resolveNodeInit({ cluster: 'kvgrid' }, {}), { mdns: true, mdnsForcedOff: false })
  t.like(resolveNodeInit({ cluster: 'kvgrid', mdns: false }, {}), { mdns: false, mdnsForcedOff: false })
  t.is(process.env.KVGRID_MDNS, 'off', 'tests run with the guard on (set by .ci/run and the ava config)')
})

test('node options are validated with typed errors', t => {
  t.throws(() => resolveNodeInit({ cluster: 'Bad Name' }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveNodeInit({ cluster: '' }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveNodeInit({ cluster: 'ok', listen: ['not-an-addr'] }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveNodeInit({ cluster: 'ok', bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), { instanceOf: InvalidArgumentError }, 'bootstrap needs /p2p/<id>')
  t.throws(() => resolveNodeInit({ cluster: 'ok', listen: 'x' as any }), { instanceOf: InvalidArgumentError })
  t.is(mdnsServiceTag('team-a'), '_kvgrid-team-a._udp.local')
})

test('two nodes on 127.0.0.1 connect through a bootstrap address', async t => {
  const listen = ['/ip4/127.0.0.1/tcp/0']
  const a = await createNode({ privateKey: await loadOrCreateIdentity(await tempDir(t)), cluster: 'kvgrid', listen, mdns: false })
  await a.node.start()
  t.teardown(async () => { await a.node.stop() })
  const addr = a.node.getMultiaddrs()[0].toString()
  t.regex(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
  const b = await createNode({ privateKey: await loadOrCreateIdentity(await tempDir(t)), cluster: 'kvgrid', listen, bootstrap: [addr], mdns: false })
  await b.node.start()
  t.teardown(async () => { await b.node.stop() })
  await waitFor(() => b.node.getConnections(a.node.peerId).length > 0, 'b to connect to a')
  const rtt = await b.node.services.ping.ping(a.node.peerId)
  t.true(rtt >= 0)
})
