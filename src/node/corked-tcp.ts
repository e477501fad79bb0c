/**
 * The TCP transport with write coalescing. Every layer above the socket writes separately:
 * Noise writes each frame's 2-byte length prefix and its ciphertext as two `socket.write`
 * calls, Yamux adds a frame per window update, and each replication frame goes to the socket
 * as soon as it is sent. Unbatched, that is one syscall per piece (≈ 16 per replicated batch
 * on the primary). Here each connection's socket is corked on its first write in a tick and
 * uncorked on the next `process.nextTick`, so everything written in that tick leaves in one
 * `writev`. Nothing waits on a timer: the flush happens before any I/O callback runs.
 *
 * Hooked in where `@libp2p/tcp` hands a new socket connection to the upgrader (both dialled
 * and accepted connections). A connection of an unexpected shape is passed through untouched.
 */
import { Socket } from 'node:net'
import { tcp } from '@libp2p/tcp'
import type { TCPComponents, TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

/** `tcp(init)` whose connections coalesce the writes of one tick into one syscall. */
export function corkedTcp (init?: TCPOptions): (components: TCPComponents) => Transport {
  const factory = tcp(init)
  return components => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => await dial(ma, { ...options, upgrader: corking(options.upgrader) })
    transport.createListener = options => createListener({ ...options, upgrader: corking(options.upgrader) })
    return transport
  }
}

const wrapped = new WeakMap<Upgrader, Upgrader>()

/** The upgrader, corking each connection before upgrading it. */
function corking (upgrader: Upgrader): Upgrader {
  let w = wrapped.get(upgrader)
  if (w === undefined) {
    const upgrade = {
      upgradeInbound: async (maConn: MultiaddrConnection, opts: any) => await (upgrader.upgradeInbound as any)(cork(maConn), opts),
      upgradeOutbound: async (maConn: MultiaddrConnection, opts: any) => await (upgrader.upgradeOutbound as any)(cork(maConn), opts)
    }
    w = new Proxy(upgrader, {
      get (target, prop) {
        if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') return upgrade[prop]
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
    wrapped.set(upgrader, w)
  }
  return w
}

interface SocketConnection {
  socket?: unknown
  sendData?: (data: unknown) => unknown
}

/**
 * Cork the connection's socket on its first write in a tick; uncork on the next tick. Exported
 * for tests.
 */
export function cork<C> (maConn: C): C {
  const conn = maConn as SocketConnection
  const socket = conn.socket
  const sendData = conn.sendData
  if (!(socket instanceof Socket) || typeof sendData !== 'function') return maConn
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  conn.sendData = function (this: unknown, data: unknown) {
    if (corked || socket.destroyed) return sendData.call(this, data)
    // The first write of a tick leaves at once, as one syscall however many pieces it has;
    // whatever else is written in this tick waits for the next tick and leaves together.
    socket.cork()
    let result: unknown
    try {
      result = sendData.call(this, data)
    } finally {
      socket.uncork()
    }
    corked = true
    socket.cork()
    process.nextTick(uncork)
    return result
  }
  return maConn
}
