/**
 * Incremental decoder of varint-length-prefixed frames from stream chunks. Throws
 * {@link DecodeError} on a length over the limit or a varint longer than 8 bytes; the caller
 * aborts the stream. Never buffers more than one frame plus its prefix.
 *
 * Reassembly is linear in the bytes received: a frame that lies inside one chunk is yielded as a
 * view of it (no copy); a frame split over chunks is copied once into a buffer of its own as its
 * pieces arrive. That buffer starts at the bytes at hand (at least 64 KiB, at most the announced
 * length) and doubles as needed, never beyond the announced length (itself at most
 * `maxFrameBytes`): a peer that announces a huge frame and sends little makes it allocate about
 * what it sent, not what it announced. (Joining every new piece to all received so far, as before,
 * copied a 4 MiB frame arriving in 64 KiB pieces about 32 times: ≈ 130 MB.)
 */
import { DecodeError } from '../codec/bytes.js'

/** Something with the bytes of a chunk: a Uint8Array or a Uint8ArrayList. */
type Chunk = Uint8Array | { subarray: () => Uint8Array }

/** Longest length prefix, in bytes. */
const MAX_PREFIX_BYTES = 8
/** Smallest buffer started for a frame split over chunks (unless the frame is smaller). */
const MIN_REASSEMBLY_BYTES = 64 * 1024
const EMPTY = new Uint8Array(0)

/** Splits a byte stream into frames. */
export class FrameDecoder {
  /** Bytes of a length prefix that is still incomplete (fewer than MAX_PREFIX_BYTES). */
  private prefix: Uint8Array = EMPTY
  /**
   * The frame being reassembled, if any: `filled` of its `length` bytes are in `body`. (`length`
   * is also where {@link header} leaves the length it read.)
   */
  private body?: Uint8Array
  private filled = 0
  private length = 0

  constructor (private readonly maxFrameBytes: number) {}

  /**
   * Bytes this decoder holds between chunks: the buffer of a frame being reassembled (at most
   * its announced length and about twice what arrived of it) plus an incomplete prefix.
   */
  get bufferedBytes (): number {
    return (this.body?.length ?? 0) + this.prefix.length
  }

  /** Feed a chunk; yields every complete frame (views into a private buffer: copy to keep). */
  * push (chunk: Chunk): Generator<Uint8Array> {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    let pos = 0
    if (this.body !== undefined) {
      // Continue the frame being reassembled.
      const take = Math.min(this.length - this.filled, bytes.length)
      this.reserve(this.filled + take)
      const body = this.body
      body.set(bytes.subarray(0, take), this.filled)
      this.filled += take
      pos = take
      if (this.filled < this.length) return
      this.body = undefined
      yield body.length === this.length ? body : body.subarray(0, this.length)
    }
    // Where the body of a frame whose prefix is complete starts (−1: at a prefix, at `pos`).
    let start = -1
    if (this.body === undefined && this.prefix.length > 0) {
      // Complete the length prefix from the start of this chunk (at most 16 bytes joined).
      const joined = new Uint8Array(this.prefix.length + Math.min(bytes.length, MAX_PREFIX_BYTES))
      joined.set(this.prefix)
      joined.set(bytes.subarray(0, joined.length - this.prefix.length), this.prefix.length)
      const end = this.header(joined, 0)
      if (end < 0) {
        this.prefix = joined
        return
      }
      start = end - this.prefix.length
      this.prefix = EMPTY
    }
    for (;;) {
      if (start < 0) {
        if (pos >= bytes.length) return
        start = this.header(bytes, pos)
        if (start < 0) {
          this.prefix = bytes.slice(pos)
          return
        }
      }
      if (start + this.length > bytes.length) {
        this.start(bytes, start)
        return
      }
      yield bytes.subarray(start, start + this.length)
      pos = start + this.length
      start = -1
    }
  }

  /**
   * The length prefix at `pos`: sets `length` to the announced length and returns where the
   * frame starts, or −1 when `buf` ends inside the prefix. Throws on a prefix longer than
   * MAX_PREFIX_BYTES or a length over the limit.
   */
  private header (buf: Uint8Array, pos: number): number {
    let length = 0
    let scale = 1
    for (let i = pos; i < buf.length; i++) {
      if (i - pos >= MAX_PREFIX_BYTES) break
      const b = buf[i]
      length += (b & 0x7f) * scale
      scale *= 0x80
      if ((b & 0x80) === 0) {
        if (length > this.maxFrameBytes) throw new DecodeError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`)
        this.length = length
        return i + 1
      }
    }
    if (buf.length - pos >= MAX_PREFIX_BYTES) throw new DecodeError(`frame length varint longer than ${MAX_PREFIX_BYTES} bytes`)
    return -1
  }

  /** Start reassembling a frame of `length` bytes whose first bytes are `bytes` from `pos` on. */
  private start (bytes: Uint8Array, pos: number): void {
    const have = bytes.length - pos
    this.body = new Uint8Array(Math.min(this.length, Math.max(MIN_REASSEMBLY_BYTES, 2 * have)))
    this.body.set(bytes.subarray(pos))
    this.filled = have
  }

  /** Make the body hold at least `size` bytes: double it, never past the frame's length. */
  private reserve (size: number): void {
    const body = this.body as Uint8Array
    if (size <= body.length) return
    const next = new Uint8Array(Math.min(this.length, Math.max(size, 2 * body.length)))
    next.set(body.subarray(0, this.filled))
    this.body = next
  }
}
