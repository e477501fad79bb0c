/**
 * Request fingerprints: what makes two write requests "the same request". A fingerprint covers
 * the request id and every field of the command, so the same id with another command is another
 * request. REQUEST_BYTES (16) bytes of SHA-256: carried by the log entry a request made, so any peer
 * holding that entry recognises a repeat of the request (see Sequencer.submit).
 */
import { createHash } from 'node:crypto'
import { REQUEST_BYTES } from '../store/codec.js'
import type { DeleteCommand, ExtendCommand, SetCommand } from './evaluate.js'

/** Fingerprint of (`id`, `command`). Pure. */
export function requestFingerprint (id: string, c: SetCommand | DeleteCommand | ExtendCommand): Uint8Array {
  const h = createHash('sha256')
  const part = (s: string): void => { h.update(`${s.length}:`); h.update(s) }
  const bytes = (b: Uint8Array | undefined): void => {
    if (b === undefined) { h.update('-'); return }
    h.update(`${b.length}:`); h.update(b)
  }
  part(id)
  part(c.op)
  part(c.key)
  switch (c.op) {
    case 'set':
      bytes(c.value)
      bytes(c.ifValue)
      part(`${String(c.ifNotExists)},${String(c.ifExists)},${String(c.ifRevision)},${String(c.ttlMs)}`)
      break
    case 'delete':
      part(String(c.ifRevision))
      break
    case 'extend':
      part(String(c.ttlMs))
      break
  }
  return new Uint8Array(h.digest().subarray(0, REQUEST_BYTES))
}
