/**
 * Framed messages between peers over one libp2p protocol. Each peer keeps one outbound stream
 * per remote peer (opened on first send, re-opened after it breaks) and receives on the streams
 * remote peers open to it. Frames are varint-length-prefixed byte strings.
 *
 * Delivery is best-effort and in order per stream: a frame queued while no stream can be
 * opened is dropped once the queue is full or the dial fails — the protocols on top (arbiter,
 * replication) retransmit on their own schedule. Backpressure: when `stream.send` returns
 * false the queue waits for the 'drain' event (not `onDrain()`, see stack notes).
 *
 * Inbound frames larger than `maxFrameBytes`, or undecodable, abort that stream (logged); they
 * never throw into libp2p's event loop.
 */
import type { Logger } from '@libp2p/logger'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { Writer, varintLength } from '../codec/bytes.js'
import { FrameDecoder } from './frames.js'
import { lazyWindowUpdates } from './lazy-window.js'
import type { KvNode } from '../node/node.js'

/**
 * How long stop() lets the outbound streams hand what was sent to the transport before it
 * aborts them (a peer's last words — a leaving primary's "you are removed" — are often sent
 * right before it stops).
 */
const STOP_FLUSH_MS = 500
/** Frames still queued behind backpressure that stop() hands to their stream anyway, per peer. */
const STOP_FLUSH_BYTES = 1024 * 1024

/** Length-prefixed frames by payload: one payload sent to several peers is framed (copied) once. */
const frames = new WeakMap<Uint8Array, Uint8Array>()

function framed (payload: Uint8Array): Uint8Array {
  let f = frames.get(payload)
  if (f === undefined) {
    f = new Writer(varintLength(payload.length) + payload.length).bytes(payload).finish()
    frames.set(payload, f)
  }
  return f
}

/** Options of {@link Messenger}. */
export interface MessengerInit {
  node: KvNode
  protocol: string
  /** Largest inbound frame accepted. */
  maxFrameBytes: number
  /** Frames queued per remote peer before new ones are dropped. @default 1024 */
  maxQueuedFrames?: number
  /** Called for every inbound frame, synchronously, in arrival order per sender. */
  onMessage: (from: string, frame: Uint8Array) => void
  log?: Logger
}

interface Outbound {
  stream?: Stream
  opening?: Promise<void>
  queue: Uint8Array[]
  waitingDrain: boolean
}

/** Send and receive framed messages on one protocol. start()/stop() lifecycle. */
export class Messenger {
  private readonly node: KvNode
  private readonly protocol: string
  private readonly maxFrameBytes: number
  private readonly maxQueued: number
  private readonly onMessage: MessengerInit['onMessage']
  private readonly log?: Logger
  private readonly outbound = new Map<string, Outbound>()
  private readonly inbound = new Set<Stream>()
  private running = false

  constructor (init: MessengerInit) {
    this.node = init.node
    this.protocol = init.protocol
    this.maxFrameBytes = init.maxFrameBytes
    this.maxQueued = init.maxQueuedFrames ?? 1024
    this.onMessage = init.onMessage
    this.log = init.log
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.node.handle(this.protocol, (stream: Stream, connection: Connection) => {
      this.receive(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: 8, runOnLimitedConnection: false })
  }

  /**
   * Stop: no more sends. What was sent to a peer with an open stream — also frames queued behind
   * backpressure, up to STOP_FLUSH_BYTES — is flushed to the transport (half-close, at most
   * STOP_FLUSH_MS); frames waiting for a dial are dropped; every stream is then closed or aborted.
   */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    const streams: Stream[] = []
    for (const out of this.outbound.values()) {
      const s = out.stream
      if (s === undefined) continue
      streams.push(s)
      if (s.status !== 'open' || s.writeStatus !== 'writable') continue
      for (let bytes = 0; out.queue.length > 0 && bytes < STOP_FLUSH_BYTES;) {
        const frame = out.queue.shift() as Uint8Array
        bytes += frame.length
        try { s.send(frame) } catch { break } // over the stream's hard limit: the rest is dropped
      }
    }
    this.outbound.clear()
    const signal = AbortSignal.timeout(STOP_FLUSH_MS)
    await Promise.all(streams.map(async s => {
      try {
        await s.close({ signal })
      } catch (err) {
        s.abort(err instanceof Error ? err : new Error('messenger stopped'))
      }
    }))
    // Only then: unhandling the protocol aborts the node's streams of it, outbound ones included.
    await this.node.unhandle(this.protocol)
    for (const s of this.inbound) s.abort(new Error('messenger stopped'))
    this.inbound.clear()
  }

  /** Queue a frame for `to`. Returns false when it was dropped (queue full or stopped). */
  send (to: string, payload: Uint8Array): boolean {
    if (!this.running) return false
    let out = this.outbound.get(to)
    if (out === undefined) this.outbound.set(to, out = { queue: [], waitingDrain: false })
    if (out.queue.length >= this.maxQueued) return false
    out.queue.push(framed(payload))
    this.flush(to, out)
    return true
  }

  /** Drop the outbound stream to `to` (e.g. when the peer disconnected); the next send re-dials. */
  forget (to: string): void {
    const out = this.outbound.get(to)
    if (out === undefined) return
    out.stream?.abort(new Error('peer forgotten'))
    this.outbound.delete(to)
  }

  private flush (to: string, out: Outbound): void {
    if (out.waitingDrain || out.opening !== undefined) return
    const stream = out.stream
    if (stream === undefined || stream.status !== 'open' || stream.writeStatus !== 'writable') {
      out.stream = undefined
      out.opening = this.open(to, out).finally(() => {
        out.opening = undefined
        if (out.stream !== undefined) this.flush(to, out)
      })
      return
    }
    try {
      while (out.queue.length > 0) {
        const frame = out.queue.shift() as Uint8Array
        if (!stream.send(frame)) {
          out.waitingDrain = true
          stream.addEventListener('drain', () => {
            out.waitingDrain = false
            this.flush(to, out)
          }, { once: true })
          return
        }
      }
    } catch (err) {
      this.log?.trace('send to %s failed: %e', to, err)
      stream.abort(err as Error)
      out.stream = undefined
    }
  }

  private async open (to: string, out: Outbound): Promise<void> {
    try {
      const stream = await this.node.dialProtocol(peerIdFromString(to), this.protocol, { signal: AbortSignal.timeout(5000) })
      if (!this.running || this.outbound.get(to) !== out) {
        stream.abort(new Error('no longer needed'))
        return
      }
      out.stream = stream
      stream.addEventListener('close', () => { if (out.stream === stream) out.stream = undefined }, { once: true })
    } catch (err) {
      this.log?.trace('cannot open %s to %s: %e', this.protocol, to, err)
      out.queue.length = 0 // the protocols above retransmit
    }
  }

  private receive (stream: Stream, from: string): void {
    if (!this.running) {
      stream.abort(new Error('not running'))
      return
    }
    this.inbound.add(stream)
    lazyWindowUpdates(stream)
    const decoder = new FrameDecoder(this.maxFrameBytes)
    stream.addEventListener('message', evt => {
      try {
        for (const frame of decoder.push(evt.data)) this.onMessage(from, frame)
      } catch (err) {
        this.log?.error('bad frame from %s on %s, closing the stream: %e', from, this.protocol, err)
        stream.abort(err as Error)
      }
    })
    stream.addEventListener('close', () => { this.inbound.delete(stream) }, { once: true })
  }
}
