/**
 * Lazy Yamux window updates (src/net/lazy-window.ts): a patched stream sends an update only
 * once half its receive window is used or when the update carries flags; data still flows.
 */
import test from 'ava'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { lazyWindowUpdates } from '../src/net/lazy-window.js'
import { Messenger } from '../src/net/messenger.js'
import { connectedPair } from './helpers/nodes.js'
import { waitFor } from './helpers/wait.js'

/** A bare YamuxStream-shaped object whose eager update is counted. */
function fakeStream (state: StreamState, recvWindow: number, recvWindowCapacity: number): { stream: any, eager: () => number } {
  let calls = 0
  const stream = Object.create(YamuxStream.prototype)
  Object.assign(stream, { state, recvWindow, recvWindowCapacity, sendWindowUpdate: () => { calls++ } })
  return { stream, eager: () => calls }
}

test('an established stream skips the update while more than half its window is left', t => {
  const { stream, eager } = fakeStream(StreamState.Established, 256 * 1024, 200 * 1024)
  lazyWindowUpdates(stream)
  stream.sendWindowUpdate()
  t.is(eager(), 0)
  stream.recvWindowCapacity = 128 * 1024
  stream.sendWindowUpdate()
  t.is(eager(), 1, 'at half the window the update goes out')
})

test('an update that carries flags is never skipped', t => {
  for (const state of [StreamState.SYNReceived, StreamState.SYNSent, StreamState.Paused, StreamState.Finished]) {
    const { stream, eager } = fakeStream(state, 256 * 1024, 256 * 1024 - 10)
    lazyWindowUpdates(stream)
    stream.sendWindowUpdate()
    t.is(eager(), 1, StreamState[state])
  }
})

test('anything but a Yamux stream is left as it is', t => {
  const other: any = { sendWindowUpdate: () => {}, recvWindow: 1, recvWindowCapacity: 1, state: 3 }
  const before = other.sendWindowUpdate
  lazyWindowUpdates(other)
  t.is(other.sendWindowUpdate, before)
})

test('over real streams, far fewer updates are sent and every byte arrives', async t => {
  const proto = YamuxStream.prototype as any
  const original = proto.sendWindowUpdate
  let updates = 0
  proto.sendWindowUpdate = function (this: any) {
    if (this.protocol === '/kvgrid/test-window/1.0.0') updates++
    return original.call(this)
  }
  t.teardown(() => { proto.sendWindowUpdate = original })
  const [a, b] = await connectedPair(t)
  let frames = 0
  let total = 0
  const rx = new Messenger({ node: b, protocol: '/kvgrid/test-window/1.0.0', maxFrameBytes: 1 << 20, onMessage: (_from, f) => { frames++; total += f.length } })
  const tx = new Messenger({ node: a, protocol: '/kvgrid/test-window/1.0.0', maxFrameBytes: 1 << 20, maxQueuedFrames: 10_000, onMessage: () => {} })
  await rx.start()
  await tx.start()
  t.teardown(async () => { await tx.stop(); await rx.stop() })
  // 4 MiB in 2,000 frames: many times the 256 KiB initial window, so updates must still flow.
  const n = 2000
  for (let i = 0; i < n; i++) t.true(tx.send(b.peerId.toString(), new Uint8Array(2048)))
  await waitFor(() => frames === n, `${n} frames`, 30_000)
  t.is(total, n * 2048)
  t.true(updates > 0, 'the sender was given more window')
  t.true(updates < n / 10, `${updates} updates for ${n} data frames`)
})
