/**
 * Framed messaging over real libp2p streams on 127.0.0.1: order, backpressure, bad frames.
 */
import test from 'ava'
import { Messenger } from '../src/net/messenger.js'
import { DecodeError, Writer } from '../src/codec/bytes.js'
import { FrameDecoder } from '../src/net/frames.js'
import { connectedPair } from './helpers/nodes.js'
import { waitFor } from './helpers/wait.js'

const PROTOCOL = '/kvgrid/test/1.0.0'

test('frames arrive complete and in order, including a burst far beyond one write buffer', async t => {
  const [a, b] = await connectedPair(t)
  const got: number[] = []
  let bytes = 0
  const rx = new Messenger({ node: b, protocol: PROTOCOL, maxFrameBytes: 1 << 20, onMessage: (from, frame) => {
    t.is(from, a.peerId.toString())
    got.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0))
    bytes += frame.length
  } })
  const tx = new Messenger({ node: a, protocol: PROTOCOL, maxFrameBytes: 1 << 20, maxQueuedFrames: 100_000, onMessage: () => {} })
  await rx.start()
  await tx.start()
  t.teardown(async () => { await tx.stop(); await rx.stop() })
  const n = 5000
  for (let i = 0; i < n; i++) {
    const frame = new Uint8Array(i % 100 === 0 ? 65_536 : 16)
    new DataView(frame.buffer).setUint32(0, i)
    t.true(tx.send(b.peerId.toString(), frame))
  }
  await waitFor(() => got.length === n, `${n} frames`, 30_000)
  t.deepEqual(got, Array.from({ length: n }, (_, i) => i))
  t.is(bytes, 50 * 65_536 + (n - 50) * 16)
})

test('an oversized or malformed frame closes only that stream; the receiver keeps working', async t => {
  const [a, b] = await connectedPair(t)
  const got: string[] = []
  const rx = new Messenger({ node: b, protocol: PROTOCOL, maxFrameBytes: 1024, onMessage: (_from, frame) => { got.push(new TextDecoder().decode(frame)) } })
  await rx.start()
  t.teardown(async () => { await rx.stop() })
  // A hostile sender: a frame announcing 1 MiB.
  const raw = await a.dialProtocol(b.peerId, PROTOCOL)
  raw.send(new Writer().varint(1 << 20).raw(new Uint8Array(2048)).finish())
  await waitFor(() => raw.status !== 'open', 'the receiver to abort the bad stream')
  // A broken varint (more than 8 continuation bytes).
  const raw2 = await a.dialProtocol(b.peerId, PROTOCOL)
  raw2.send(new Uint8Array(12).fill(0xff))
  await waitFor(() => raw2.status !== 'open', 'the receiver to abort the second bad stream')
  // A well-behaved sender still gets through.
  const tx = new Messenger({ node: a, protocol: PROTOCOL, maxFrameBytes: 1024, onMessage: () => {} })
  await tx.start()
  t.teardown(async () => { await tx.stop() })
  tx.send(b.peerId.toString(), new TextEncoder().encode('hello'))
  await waitFor(() => got.includes('hello'), 'a good frame after bad ones')
  t.deepEqual(got, ['hello'])
})

test('frames sent right before stop() still arrive: stop hands them to the transport before it closes the streams', async t => {
  const [a, b] = await connectedPair(t)
  const got: number[] = []
  const rx = new Messenger({ node: b, protocol: PROTOCOL, maxFrameBytes: 1 << 20, onMessage: (_from, frame) => { got.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0)) } })
  const tx = new Messenger({ node: a, protocol: PROTOCOL, maxFrameBytes: 1 << 20, onMessage: () => {} })
  await rx.start()
  await tx.start()
  t.teardown(async () => { await rx.stop() })
  const frame = (i: number, size = 16): Uint8Array => { const f = new Uint8Array(size); new DataView(f.buffer).setUint32(0, i); return f }
  tx.send(b.peerId.toString(), frame(0))
  await waitFor(() => got.length === 1, 'the stream to be open')
  // The last words before stopping (a leaving primary's "you are removed"), here a 200 KiB burst:
  // part of it still in the stream's buffers when stop() is called, the rest still queued in
  // the messenger behind the stream's backpressure.
  const n = 200
  for (let i = 1; i <= n; i++) t.true(tx.send(b.peerId.toString(), frame(i, 1024)))
  await tx.stop()
  await waitFor(() => got.length === n + 1, `all ${n + 1} frames`, 10_000)
  t.deepEqual(got, Array.from({ length: n + 1 }, (_, i) => i))
})

test('a send to an unreachable peer is dropped without an error, and stop leaves no streams', async t => {
  const [a] = await connectedPair(t)
  const tx = new Messenger({ node: a, protocol: PROTOCOL, maxFrameBytes: 1024, onMessage: () => {} })
  await tx.start()
  t.true(tx.send('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK', new Uint8Array(4)))
  await tx.stop()
  t.false(tx.send('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK', new Uint8Array(4)), 'stopped')
})

test('the frame decoder reassembles frames split at every byte boundary', t => {
  const frames = [new Uint8Array(0), Uint8Array.of(1), new Uint8Array(300).fill(7), Uint8Array.of(9, 9)]
  const wire = new Writer()
  for (const f of frames) wire.bytes(f)
  const bytes = wire.finish()
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder(1024)
    const out = [...d.push(bytes.subarray(0, cut))].map(f => f.slice())
    out.push(...[...d.push(bytes.subarray(cut))].map(f => f.slice()))
    t.deepEqual(out, frames, `cut at ${cut}`)
  }
  t.throws(() => [...new FrameDecoder(10).push(Uint8Array.of(11))], { instanceOf: DecodeError })
  t.throws(() => [...new FrameDecoder(10).push(new Uint8Array(9).fill(0x80))], { instanceOf: DecodeError })
})

test('the frame decoder reassembles large frames split into pieces of any size, holding at most the frame being reassembled', t => {
  const frames = [new Uint8Array(4 * 1024 * 1024), Uint8Array.of(5), new Uint8Array(0), new Uint8Array(200_000), new Uint8Array(70_000)]
  frames.forEach((f, i) => { for (let j = 0; j < f.length; j++) f[j] = (j * 31 + i) & 0xff })
  const wire = new Writer()
  for (const f of frames) wire.bytes(f)
  const bytes = wire.finish()
  for (const piece of [1, 3, 7, 4096, 65_536, 65_537, 1 << 20, bytes.length]) {
    const d = new FrameDecoder(8 * 1024 * 1024)
    const out: Uint8Array[] = []
    let held = 0
    for (let at = 0; at < bytes.length; at += piece) {
      for (const f of d.push(bytes.subarray(at, at + piece))) out.push(f.slice())
      held = Math.max(held, d.bufferedBytes)
    }
    t.is(out.length, frames.length, `pieces of ${piece}`)
    out.forEach((f, i) => t.true(Buffer.from(f).equals(frames[i]), `frame ${i}, pieces of ${piece}`))
    t.true(held <= 4 * 1024 * 1024, `at most the largest frame is held (pieces of ${piece}: ${held})`)
    t.is(d.bufferedBytes, 0)
  }
  // A Uint8ArrayList-like chunk (anything with subarray()) works as well.
  const d = new FrameDecoder(1024)
  t.deepEqual([...d.push({ subarray: () => Uint8Array.of(2, 7, 8) })].map(f => [...f]), [[7, 8]])
})

test('a huge announced length allocates about what arrived, not what was announced; over the limit it throws before buffering', t => {
  const max = 64 * 1024 * 1024
  const d = new FrameDecoder(max)
  const header = new Writer().varint(max).finish()
  t.deepEqual([...d.push(header.subarray(0, 1))], [])
  t.deepEqual([...d.push(header.subarray(1))], [])
  t.true(d.bufferedBytes <= 64 * 1024, `a 64 MiB announcement buffers ${d.bufferedBytes}`)
  t.deepEqual([...d.push(new Uint8Array(10))], [])
  t.true(d.bufferedBytes <= 64 * 1024, `a 64 MiB announcement holding 10 bytes buffers ${d.bufferedBytes}`)
  for (let i = 0; i < 16; i++) t.deepEqual([...d.push(new Uint8Array(64 * 1024))], [])
  t.true(d.bufferedBytes <= 2 * 1024 * 1024 + 64 * 1024, `1 MiB received buffers ${d.bufferedBytes}`)
  // Over the limit: refused on the prefix alone, whether it arrives whole or split.
  t.throws(() => [...new FrameDecoder(max).push(new Writer().varint(max + 1).finish())], { instanceOf: DecodeError })
  const split = new FrameDecoder(max)
  const over = new Writer().varint(max + 1).finish()
  t.deepEqual([...split.push(over.subarray(0, 2))], [])
  t.throws(() => [...split.push(over.subarray(2))], { instanceOf: DecodeError })
  t.throws(() => [...new FrameDecoder(max).push(new Writer().varint(2 ** 53 - 1).finish())], { instanceOf: DecodeError })
  // A prefix of more than 8 bytes, split over chunks, is refused once the 8th byte arrives.
  const long = new FrameDecoder(max)
  t.deepEqual([...long.push(new Uint8Array(5).fill(0x80))], [])
  t.throws(() => [...long.push(new Uint8Array(3).fill(0x80))], { instanceOf: DecodeError })
})
