/**
 * Noise frame decoding without an exception per socket read (src/node/noise-frames.ts): the
 * length decoder, and real nodes on 127.0.0.1 exchanging frames without a RangeError.
 */
import test from 'ava'
import { Messenger } from '../src/net/messenger.js'
import { noiseFrameLength, quietDecoder } from '../src/node/noise-frames.js'
import { connectedPair } from './helpers/nodes.js'
import { waitFor } from './helpers/wait.js'

test('the length decoder reads a big-endian 2-byte length, and "more than any frame" before it is all there', t => {
  t.is(noiseFrameLength(new Uint8Array(0)), 0xffff)
  t.is(noiseFrameLength(Uint8Array.of(0x12)), 0xffff)
  t.is(noiseFrameLength(Uint8Array.of(0x12, 0x34, 0x56)), 0x1234)
  t.is(noiseFrameLength(Uint8Array.of(0xff, 0xff)), 0xffff)
  // The decoder's buffer is a Uint8ArrayList (a transitive dependency): read through getUint16,
  // as the real nodes below do for every frame.
  const list = (...b: number[]): { byteLength: number, getUint16: (o: number) => number } =>
    ({ byteLength: b.length, getUint16: o => new DataView(Uint8Array.from(b).buffer).getUint16(o) })
  t.is(noiseFrameLength(list()), 0xffff)
  t.is(noiseFrameLength(list(0x01)), 0xffff)
  t.is(noiseFrameLength(list(0x01, 0x02, 0x03)), 0x0102)
})

test('only a decoder of the expected shape is changed: 2-byte prefixes, frames of up to 65 535 bytes allowed', t => {
  t.false(quietDecoder(undefined))
  t.false(quietDecoder({ connection: {} }))
  const original = (): number => 0
  const decoder = (fields: Record<string, unknown>): { connection: { decoder: Record<string, unknown> } } =>
    ({ connection: { decoder: { lengthDecoder: original, encodingLength: () => 2, maxDataLength: 4 << 20, ...fields } } })
  for (const odd of [decoder({ lengthDecoder: 7 }), decoder({ encodingLength: () => 1 }), decoder({ encodingLength: undefined }), decoder({ maxDataLength: 1000 })]) {
    t.false(quietDecoder(odd))
    t.true(odd.connection.decoder.lengthDecoder === original || odd.connection.decoder.lengthDecoder === 7)
  }
  const fine = decoder({})
  t.true(quietDecoder(fine))
  t.is(fine.connection.decoder.lengthDecoder, noiseFrameLength)
})

test('frames exchanged one at a time over real nodes construct no RangeError, and arrive intact', async t => {
  const [a, b] = await connectedPair(t)
  const protocol = '/kvgrid/test-noise/1.0.0'
  const echo = new Messenger({ node: b, protocol, maxFrameBytes: 1 << 20, onMessage: (from, frame) => { echo.send(from, frame) } })
  const got: number[] = []
  const tx = new Messenger({ node: a, protocol, maxFrameBytes: 1 << 20, onMessage: (_from, frame) => { got.push(frame[0] | (frame[1] << 8)) } })
  await echo.start()
  await tx.start()
  t.teardown(async () => { await tx.stop(); await echo.stop() })
  const to = b.peerId.toString()
  // Open both streams first: stream negotiation may use exceptions of its own.
  tx.send(to, Uint8Array.of(0, 0))
  await waitFor(() => got.length === 1, 'the first echo')
  const Original = globalThis.RangeError
  let made = 0
  // Counts only the library's "not enough bytes for a length" errors: other code may make its own.
  function Counting (this: unknown, ...args: unknown[]): RangeError {
    if (args[0] === 'Could not decode int16BE') made++
    return Reflect.construct(Original, args, new.target ?? Original)
  }
  Counting.prototype = Original.prototype
  globalThis.RangeError = Counting as unknown as RangeErrorConstructor
  t.teardown(() => { globalThis.RangeError = Original })
  try {
    // One frame at a time: every socket read then ends exactly at a Noise frame boundary.
    for (let i = 1; i <= 200; i++) {
      tx.send(to, Uint8Array.of(i & 0xff, i >> 8, ...new Uint8Array(i)))
      await waitFor(() => got.length === i + 1, `echo ${i}`)
    }
  } finally {
    globalThis.RangeError = Original
  }
  t.deepEqual(got, Array.from({ length: 201 }, (_, i) => i))
  t.is(made, 0, 'no RangeError was constructed while frames flowed')
})
