/**
 * Write coalescing on the TCP transport (src/node/corked-tcp.ts): the first write of a tick
 * leaves at once as one syscall; the rest of the tick leaves together on the next tick; bytes
 * and order are unchanged. Real sockets on 127.0.0.1.
 */
import test from 'ava'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { cork } from '../src/node/corked-tcp.js'
import { waitFor } from './helpers/wait.js'

/** A connected client socket, the bytes the server received, and counts of the client's flushes. */
async function socketPair (t: any): Promise<{ socket: net.Socket, received: () => Buffer, flushes: () => number }> {
  const chunks: Buffer[] = []
  const server = net.createServer(s => { s.on('data', d => chunks.push(d)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  t.teardown(() => { socket.destroy(); server.close() })
  let flushes = 0
  const one = socket._write.bind(socket)
  const many = socket._writev?.bind(socket)
  socket._write = (...a: Parameters<typeof one>) => { flushes++; one(...a) }
  if (many !== undefined) socket._writev = (...a: Parameters<typeof many>) => { flushes++; many(...a) }
  return { socket, received: () => Buffer.concat(chunks), flushes: () => flushes }
}

/** A stand-in for @libp2p/tcp's connection: sendData writes every piece with its own socket.write. */
function connection (socket: net.Socket): { socket: net.Socket, sendData: (pieces: Uint8Array[]) => boolean } {
  return {
    socket,
    sendData (pieces: Uint8Array[]) {
      let ok = true
      for (const p of pieces) ok = socket.write(p)
      return ok
    }
  }
}

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v)

test('the first write of a tick leaves at once, in one flush, however many pieces it has', async t => {
  const { socket, flushes } = await socketPair(t)
  const conn = cork(connection(socket))
  conn.sendData([bytes(0, 3), bytes(1, 2, 3)])
  t.is(flushes(), 1)
  t.is(socket.writableLength, 0, 'nothing is held back')
})

test('later writes of the same tick leave together on the next tick, in order', async t => {
  const { socket, received, flushes } = await socketPair(t)
  const conn = cork(connection(socket))
  conn.sendData([bytes(1), bytes(2)])
  conn.sendData([bytes(3)])
  conn.sendData([bytes(4), bytes(5)])
  t.is(flushes(), 1, 'only the first write went out')
  t.true(socket.writableLength > 0, 'the rest is held until the tick ends')
  await new Promise(resolve => process.nextTick(resolve))
  t.is(flushes(), 2, 'the held writes left in one flush')
  await waitFor(() => received().length === 5, 'the bytes to arrive')
  t.deepEqual([...received()], [1, 2, 3, 4, 5])
  // A new tick starts over: its first write leaves at once again.
  await new Promise(resolve => setImmediate(resolve))
  conn.sendData([bytes(6)])
  t.is(flushes(), 3)
})

test('a connection without a socket is left as it is', t => {
  const conn = { sendData: () => true }
  const send = conn.sendData
  t.is(cork(conn), conn)
  t.is(conn.sendData, send)
})

test('a socket ended while writes are held still delivers them', async t => {
  const { socket, received } = await socketPair(t)
  const conn = cork(connection(socket))
  conn.sendData([bytes(7)])
  conn.sendData([bytes(8), bytes(9)])
  socket.end()
  await waitFor(() => received().length === 3, 'the held bytes to arrive')
  t.deepEqual([...received()], [7, 8, 9])
})
