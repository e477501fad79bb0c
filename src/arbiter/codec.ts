/**
 * Wire codec of the arbiter protocol (`/kvgrid/arbiter/1.0.0`). One frame is one message: a
 * type byte, then the fields in the order below. Integers are unsigned LEB128 varints (safe
 * integers only), strings are varint length + UTF-8, booleans and optional fields are bits of a
 * flags byte (unknown bits are rejected), a member list is a varint count + strings.
 *
 * ```
 * 0x01 hello          flags(1=clusterId 2=primary) cluster [clusterId] term role [primary] log
 * 0x02 join           flags(1=clusterId) cluster [clusterId] log
 * 0x03 join-accepted  clusterId term configTerm version members primary
 * 0x04 join-rejected  reason flags(1=primary 2=clusterId) [primary] [clusterId]
 * 0x05 members        flags(1=committed) term clusterId configTerm version members
 * 0x06 members-ack    term configTerm version
 * 0x07 heartbeat      flags(1=members 2=probe) term clusterId configTerm version [members] [probe]
 * 0x08 heartbeat-ack  term configTerm version log probe     (probe: the heartbeat's, echoed; 0: none)
 * 0x09 request-vote   flags(1=pre) term clusterId log configTerm version
 * 0x0a vote-reply     flags(1=granted 2=pre 4=config) term [configTerm version members]
 * 0x0b timeout-now    term
 * 0x0c leave          term clusterId
 *
 * log    = term index                    (two varints)
 * role   = u8: 0 joining, 1 secondary, 2 candidate, 3 primary
 * reason = u8: 1 not-primary, 2 busy, 3 other-cluster
 * ```
 *
 * Limits: peer ids 1..128 bytes, cluster names 1..64, cluster ids 1..64, member lists up to
 * 1024 distinct ids, frames up to {@link MAX_FRAME_BYTES}. {@link decodeMessage} returns a typed
 * verdict and never throws: a frame that is truncated, oversized, of an unknown type, has
 * trailing bytes, unknown flag bits, an out-of-range enum, a non-safe integer, invalid UTF-8 or
 * a duplicate member is rejected with a reason.
 */
import { DecodeError, Reader, Writer, utf8 } from '../codec/bytes.js'
import {
  MAX_CLUSTER_ID_BYTES, MAX_CLUSTER_NAME_BYTES, MAX_FRAME_BYTES, MAX_MEMBERS, MAX_PEER_ID_BYTES
} from './constants.js'
import type { ArbiterMessage, JoinRejectReason, LogPosition, Role } from './types.js'

const T_HELLO = 0x01
const T_JOIN = 0x02
const T_JOIN_ACCEPTED = 0x03
const T_JOIN_REJECTED = 0x04
const T_MEMBERS = 0x05
const T_MEMBERS_ACK = 0x06
const T_HEARTBEAT = 0x07
const T_HEARTBEAT_ACK = 0x08
const T_REQUEST_VOTE = 0x09
const T_VOTE_REPLY = 0x0a
const T_TIMEOUT_NOW = 0x0b
const T_LEAVE = 0x0c

const ROLES: readonly Role[] = ['joining', 'secondary', 'candidate', 'primary']
const REASONS: readonly JoinRejectReason[] = ['not-primary', 'busy', 'other-cluster']

/** Why a frame was rejected. */
export type DecodeFailure = 'oversized' | 'truncated' | 'unknown-type' | 'malformed'

/** Result of {@link decodeMessage}. */
export type DecodeVerdict =
  | { ok: true, msg: ArbiterMessage }
  | { ok: false, reason: DecodeFailure, detail: string }

// ---------------------------------------------------------------------------------------------
// Encoding

function checkString (what: string, s: string, max: number): Uint8Array {
  const b = utf8(s)
  if (b.length === 0 || b.length > max) throw new RangeError(`${what} must be 1..${max} bytes of UTF-8, got ${b.length}`)
  return b
}

function peer (w: Writer, id: string): void { w.bytes(checkString('peer id', id, MAX_PEER_ID_BYTES)) }
function clusterName (w: Writer, s: string): void { w.bytes(checkString('cluster name', s, MAX_CLUSTER_NAME_BYTES)) }
function clusterId (w: Writer, s: string): void { w.bytes(checkString('cluster id', s, MAX_CLUSTER_ID_BYTES)) }
function int (w: Writer, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`)
  w.varint(n)
}
function log (w: Writer, pos: LogPosition): void { int(w, pos.term); int(w, pos.index) }
function members (w: Writer, ids: readonly string[]): void {
  if (ids.length > MAX_MEMBERS) throw new RangeError(`member list of ${ids.length} exceeds ${MAX_MEMBERS}`)
  w.varint(ids.length)
  for (const id of ids) peer(w, id)
}

/**
 * Encode one message. Throws `RangeError` on a value the decoder would reject (a caller bug:
 * the core only produces valid messages).
 */
export function encodeMessage (msg: ArbiterMessage): Uint8Array {
  const w = new Writer(64)
  switch (msg.type) {
    case 'hello':
      w.u8(T_HELLO).u8((msg.clusterId !== undefined ? 1 : 0) | (msg.primary !== undefined ? 2 : 0))
      clusterName(w, msg.cluster)
      if (msg.clusterId !== undefined) clusterId(w, msg.clusterId)
      int(w, msg.term)
      w.u8(ROLES.indexOf(msg.role))
      if (msg.primary !== undefined) peer(w, msg.primary)
      log(w, msg.log)
      break
    case 'join':
      w.u8(T_JOIN).u8(msg.clusterId !== undefined ? 1 : 0)
      clusterName(w, msg.cluster)
      if (msg.clusterId !== undefined) clusterId(w, msg.clusterId)
      log(w, msg.log)
      break
    case 'join-accepted':
      w.u8(T_JOIN_ACCEPTED)
      clusterId(w, msg.clusterId)
      int(w, msg.term); int(w, msg.configTerm); int(w, msg.version)
      members(w, msg.members)
      peer(w, msg.primary)
      break
    case 'join-rejected':
      w.u8(T_JOIN_REJECTED).u8(REASONS.indexOf(msg.reason) + 1)
      w.u8((msg.primary !== undefined ? 1 : 0) | (msg.clusterId !== undefined ? 2 : 0))
      if (msg.primary !== undefined) peer(w, msg.primary)
      if (msg.clusterId !== undefined) clusterId(w, msg.clusterId)
      break
    case 'members':
      w.u8(T_MEMBERS).u8(msg.committed ? 1 : 0)
      int(w, msg.term)
      clusterId(w, msg.clusterId)
      int(w, msg.configTerm); int(w, msg.version)
      members(w, msg.members)
      break
    case 'members-ack':
      w.u8(T_MEMBERS_ACK)
      int(w, msg.term); int(w, msg.configTerm); int(w, msg.version)
      break
    case 'heartbeat':
      w.u8(T_HEARTBEAT).u8((msg.members !== undefined ? 1 : 0) | (msg.probe !== undefined ? 2 : 0))
      int(w, msg.term)
      clusterId(w, msg.clusterId)
      int(w, msg.configTerm); int(w, msg.version)
      if (msg.members !== undefined) members(w, msg.members)
      if (msg.probe !== undefined) int(w, msg.probe)
      break
    case 'heartbeat-ack':
      w.u8(T_HEARTBEAT_ACK)
      int(w, msg.term); int(w, msg.configTerm); int(w, msg.version)
      log(w, msg.log)
      int(w, msg.probe ?? 0)
      break
    case 'request-vote':
      w.u8(T_REQUEST_VOTE).u8(msg.pre ? 1 : 0)
      int(w, msg.term)
      clusterId(w, msg.clusterId)
      log(w, msg.log)
      int(w, msg.configTerm); int(w, msg.version)
      break
    case 'vote-reply':
      w.u8(T_VOTE_REPLY).u8((msg.granted ? 1 : 0) | (msg.pre ? 2 : 0) | (msg.config !== undefined ? 4 : 0))
      int(w, msg.term)
      if (msg.config !== undefined) {
        int(w, msg.config.configTerm); int(w, msg.config.version)
        members(w, msg.config.members)
      }
      break
    case 'timeout-now':
      w.u8(T_TIMEOUT_NOW)
      int(w, msg.term)
      break
    case 'leave':
      w.u8(T_LEAVE)
      int(w, msg.term)
      clusterId(w, msg.clusterId)
      break
    default:
      throw new TypeError(`unknown arbiter message type ${String((msg as { type?: unknown }).type)}`)
  }
  return w.finish()
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A frame that decodes but breaks a rule (enum range, flag bits, duplicates). */
class Malformed extends Error {}

function rString (r: Reader, what: string, max: number): string {
  const s = r.string(max)
  if (s.length === 0) throw new Malformed(`empty ${what}`)
  return s
}

function rPeer (r: Reader): string { return rString(r, 'peer id', MAX_PEER_ID_BYTES) }
function rClusterName (r: Reader): string { return rString(r, 'cluster name', MAX_CLUSTER_NAME_BYTES) }
function rClusterId (r: Reader): string { return rString(r, 'cluster id', MAX_CLUSTER_ID_BYTES) }
function rLog (r: Reader): LogPosition { return { term: r.varint(), index: r.varint() } }
function rFlags (r: Reader, allowed: number): number {
  const f = r.u8()
  if ((f & ~allowed) !== 0) throw new Malformed(`unknown flag bits 0x${f.toString(16)}`)
  return f
}
function rMembers (r: Reader): string[] {
  const n = r.varint()
  if (n > MAX_MEMBERS) throw new Malformed(`member list of ${n} exceeds ${MAX_MEMBERS}`)
  // Each id takes at least 2 bytes: refuse counts the frame cannot hold before allocating.
  if (n * 2 > r.remaining) throw new DecodeError(`truncated: member list of ${n} in ${r.remaining} bytes`)
  const out: string[] = []
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const id = rPeer(r)
    if (seen.has(id)) throw new Malformed(`duplicate member ${id}`)
    seen.add(id)
    out.push(id)
  }
  return out
}

function decodeBody (r: Reader, type: number): ArbiterMessage | undefined {
  switch (type) {
    case T_HELLO: {
      const f = rFlags(r, 3)
      const cluster = rClusterName(r)
      const cid = (f & 1) !== 0 ? rClusterId(r) : undefined
      const term = r.varint()
      const role = ROLES[r.u8()]
      if (role === undefined) throw new Malformed('unknown role')
      const primary = (f & 2) !== 0 ? rPeer(r) : undefined
      const msg: ArbiterMessage = { type: 'hello', cluster, term, role, log: rLog(r) }
      if (cid !== undefined) msg.clusterId = cid
      if (primary !== undefined) msg.primary = primary
      return msg
    }
    case T_JOIN: {
      const f = rFlags(r, 1)
      const cluster = rClusterName(r)
      const cid = (f & 1) !== 0 ? rClusterId(r) : undefined
      const msg: ArbiterMessage = { type: 'join', cluster, log: rLog(r) }
      if (cid !== undefined) msg.clusterId = cid
      return msg
    }
    case T_JOIN_ACCEPTED: {
      const cid = rClusterId(r)
      const term = r.varint()
      const configTerm = r.varint()
      const version = r.varint()
      const m = rMembers(r)
      return { type: 'join-accepted', clusterId: cid, term, configTerm, version, members: m, primary: rPeer(r) }
    }
    case T_JOIN_REJECTED: {
      const reason = REASONS[r.u8() - 1]
      if (reason === undefined) throw new Malformed('unknown join-rejected reason')
      const f = rFlags(r, 3)
      const msg: ArbiterMessage = { type: 'join-rejected', reason }
      if ((f & 1) !== 0) msg.primary = rPeer(r)
      if ((f & 2) !== 0) msg.clusterId = rClusterId(r)
      return msg
    }
    case T_MEMBERS: {
      const committed = (rFlags(r, 1) & 1) !== 0
      const term = r.varint()
      const cid = rClusterId(r)
      const configTerm = r.varint()
      const version = r.varint()
      return { type: 'members', term, clusterId: cid, configTerm, version, members: rMembers(r), committed }
    }
    case T_MEMBERS_ACK:
      return { type: 'members-ack', term: r.varint(), configTerm: r.varint(), version: r.varint() }
    case T_HEARTBEAT: {
      const f = rFlags(r, 3)
      const term = r.varint()
      const cid = rClusterId(r)
      const configTerm = r.varint()
      const version = r.varint()
      const msg: ArbiterMessage = { type: 'heartbeat', term, clusterId: cid, configTerm, version }
      if ((f & 1) !== 0) msg.members = rMembers(r)
      if ((f & 2) !== 0) msg.probe = r.varint()
      return msg
    }
    case T_HEARTBEAT_ACK: {
      const msg: ArbiterMessage = { type: 'heartbeat-ack', term: r.varint(), configTerm: r.varint(), version: r.varint(), log: rLog(r) }
      const probe = r.varint()
      if (probe > 0) msg.probe = probe
      return msg
    }
    case T_REQUEST_VOTE: {
      const f = rFlags(r, 1)
      const term = r.varint()
      const cid = rClusterId(r)
      const pos = rLog(r)
      return { type: 'request-vote', term, clusterId: cid, pre: (f & 1) !== 0, log: pos, configTerm: r.varint(), version: r.varint() }
    }
    case T_VOTE_REPLY: {
      const f = rFlags(r, 7)
      const msg: ArbiterMessage = { type: 'vote-reply', term: r.varint(), granted: (f & 1) !== 0, pre: (f & 2) !== 0 }
      if ((f & 4) !== 0) msg.config = { configTerm: r.varint(), version: r.varint(), members: rMembers(r) }
      return msg
    }
    case T_TIMEOUT_NOW:
      return { type: 'timeout-now', term: r.varint() }
    case T_LEAVE:
      return { type: 'leave', term: r.varint(), clusterId: rClusterId(r) }
    default:
      return undefined
  }
}

/**
 * Decode one frame into a typed verdict. Never throws: every failure, including anything
 * unexpected, becomes `{ ok: false, reason, detail }` for the shell to log and drop.
 */
export function decodeMessage (bytes: Uint8Array): DecodeVerdict {
  try {
    if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'malformed', detail: 'not a byte array' }
    if (bytes.length > MAX_FRAME_BYTES) return { ok: false, reason: 'oversized', detail: `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}` }
    if (bytes.length === 0) return { ok: false, reason: 'truncated', detail: 'empty frame' }
    const r = new Reader(bytes)
    const type = r.u8()
    const msg = decodeBody(r, type)
    if (msg === undefined) return { ok: false, reason: 'unknown-type', detail: `unknown message type 0x${type.toString(16)}` }
    if (r.remaining !== 0) return { ok: false, reason: 'malformed', detail: `${r.remaining} trailing bytes` }
    return { ok: true, msg }
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    if (err instanceof DecodeError && detail.startsWith('truncated')) return { ok: false, reason: 'truncated', detail }
    return { ok: false, reason: 'malformed', detail }
  }
}
