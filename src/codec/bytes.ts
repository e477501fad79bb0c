/**
 * A small binary writer/reader: unsigned LEB128 varints (up to 2^53), fixed big-endian u64,
 * and length-prefixed byte strings. Used for storage records, LevelDB keys and (later) wire
 * frames. The reader never throws anything but {@link DecodeError}, so a malformed frame from
 * disk or network becomes a typed verdict, never a crash.
 */

/** A byte string could not be decoded: truncated, overlong, or of an unknown format. */
export class DecodeError extends Error {
  override name = 'DecodeError'
  readonly code = 'DECODE_ERROR'
}

const TWO_32 = 2 ** 32
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 bytes of a string. */
export function utf8 (s: string): Uint8Array {
  return encoder.encode(s)
}

/** String of UTF-8 bytes; throws {@link DecodeError} on invalid UTF-8. */
export function fromUtf8 (bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes)
  } catch {
    throw new DecodeError('invalid UTF-8')
  }
}

/** Bytes of the unsigned varint (LEB128) encoding of `n`. */
export function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    len++
  }
  return len
}

/** Write the unsigned varint of `n` into `buf` at `pos`; returns the position after it. */
export function writeVarintAt (buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}

/** Write `n` as a fixed 8-byte big-endian unsigned integer into `buf` at `pos`. */
export function writeU64At (buf: Uint8Array, pos: number, n: number): void {
  const hi = Math.floor(n / TWO_32)
  const lo = n >>> 0
  buf[pos] = hi >>> 24
  buf[pos + 1] = (hi >>> 16) & 0xff
  buf[pos + 2] = (hi >>> 8) & 0xff
  buf[pos + 3] = hi & 0xff
  buf[pos + 4] = lo >>> 24
  buf[pos + 5] = (lo >>> 16) & 0xff
  buf[pos + 6] = (lo >>> 8) & 0xff
  buf[pos + 7] = lo & 0xff
}

/** Growable byte buffer with typed appends. */
export class Writer {
  private buf: Uint8Array
  private pos = 0

  /** `capacity`: the initial size; an exact estimate saves the copy in {@link finish}. */
  constructor (capacity = 64) {
    this.buf = new Uint8Array(Math.max(1, capacity))
  }

  private ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  /** One byte. */
  u8 (n: number): this {
    this.ensure(1)
    this.buf[this.pos++] = n
    return this
  }

  /** Unsigned varint (LEB128) of a safe non-negative integer. */
  varint (n: number): this {
    if (this.pos + 8 > this.buf.length) this.ensure(varintLength(n))
    this.pos = writeVarintAt(this.buf, this.pos, n)
    return this
  }

  /** Fixed 8-byte big-endian unsigned integer (sorts bytewise like the number). */
  u64 (n: number): this {
    this.ensure(8)
    writeU64At(this.buf, this.pos, n)
    this.pos += 8
    return this
  }

  /** Fixed 2-byte big-endian unsigned integer. */
  u16 (n: number): this {
    this.ensure(2)
    this.buf[this.pos] = (n >>> 8) & 0xff
    this.buf[this.pos + 1] = n & 0xff
    this.pos += 2
    return this
  }

  /** Raw bytes, no length. */
  raw (bytes: Uint8Array): this {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** Varint length then the bytes. */
  bytes (bytes: Uint8Array): this {
    return this.varint(bytes.length).raw(bytes)
  }

  /** Varint length then the UTF-8 bytes of a string. */
  string (s: string): this {
    return this.bytes(encoder.encode(s))
  }

  /**
   * The bytes written so far, sized exactly: the buffer itself when it is full (the writer must
   * not be used afterwards), else a copy.
   */
  finish (): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.slice(0, this.pos)
  }
}

/** Cursor over a byte string; every read checks bounds and throws {@link DecodeError}. */
export class Reader {
  private pos = 0

  /** A cursor at offset 0 of `buf` (no copy, nothing allocated but the cursor). */
  constructor (private readonly buf: Uint8Array) {}

  /** Bytes not yet read. */
  get remaining (): number {
    return this.buf.length - this.pos
  }

  /** Offset of the next byte to read; set it to read from elsewhere in the buffer. */
  get offset (): number {
    return this.pos
  }

  set offset (at: number) {
    if (at < 0 || at > this.buf.length) throw new DecodeError(`offset ${at} outside ${this.buf.length} bytes`)
    this.pos = at
  }

  private need (n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError(`truncated: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`)
  }

  u8 (): number {
    this.need(1)
    return this.buf[this.pos++]
  }

  varint (): number {
    let result = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8()
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new DecodeError('varint exceeds 2^53')
        return result
      }
      scale *= 0x80
    }
    throw new DecodeError('varint longer than 8 bytes')
  }

  u64 (): number {
    this.need(8)
    const b = this.buf
    const p = this.pos
    const hi = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0
    const lo = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0
    this.pos += 8
    const n = hi * TWO_32 + lo
    if (!Number.isSafeInteger(n)) throw new DecodeError('u64 exceeds 2^53')
    return n
  }

  u16 (): number {
    this.need(2)
    const n = (this.buf[this.pos] << 8) | this.buf[this.pos + 1]
    this.pos += 2
    return n
  }

  /** `n` raw bytes (a view, not a copy). */
  raw (n: number): Uint8Array {
    this.need(n)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** Varint-length-prefixed bytes (a view), refusing lengths above `max`. */
  bytes (max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.varint()
    if (n > max) throw new DecodeError(`length ${n} exceeds limit ${max}`)
    return this.raw(n)
  }

  /** Varint-length-prefixed UTF-8 string. */
  string (max = Number.MAX_SAFE_INTEGER): string {
    return fromUtf8(this.bytes(max))
  }

  /** The rest of the buffer (a view). */
  rest (): Uint8Array {
    return this.raw(this.remaining)
  }

  /** Throws unless every byte was consumed. */
  end (): void {
    if (this.pos !== this.buf.length) throw new DecodeError(`${this.buf.length - this.pos} trailing bytes`)
  }
}
