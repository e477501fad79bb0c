/**
 * Incremental decoder of varint-length-prefixed frames from stream chunks. Throws
 * {@link DecodeError} on a length over the limit or a varint longer than 8 bytes; the caller
 * aborts the stream. Never buffers more than one frame plus its prefix.
 */
import { DecodeError } from '../codec/bytes.js'

/** Something with the bytes of a chunk: a Uint8Array or a Uint8ArrayList. */
type Chunk = Uint8Array | { subarray: () => Uint8Array }

/** Splits a byte stream into frames. */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0)

  constructor (private readonly maxFrameBytes: number) {}

  /** Feed a chunk; yields every complete frame (views into a private buffer: copy to keep). */
  * push (chunk: Chunk): Generator<Uint8Array> {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    if (this.buf.length === 0) {
      this.buf = bytes
    } else {
      const joined = new Uint8Array(this.buf.length + bytes.length)
      joined.set(this.buf)
      joined.set(bytes, this.buf.length)
      this.buf = joined
    }
    let pos = 0
    for (;;) {
      let len = 0
      let scale = 1
      let i = pos
      let complete = false
      for (; i < this.buf.length && i - pos < 8; i++) {
        const b = this.buf[i]
        len += (b & 0x7f) * scale
        scale *= 0x80
        if ((b & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete) {
        if (i - pos >= 8) throw new DecodeError('frame length varint longer than 8 bytes')
        break
      }
      if (len > this.maxFrameBytes) throw new DecodeError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`)
      if (i + len > this.buf.length) break
      yield this.buf.subarray(i, i + len)
      pos = i + len
    }
    this.buf = pos === this.buf.length ? new Uint8Array(0) : this.buf.slice(pos)
  }
}
