/**
 * Results → output lines. Pure.
 *
 * Every command prints one line, except `scan` (one line per entry), `status`, `members` and
 * `help`.
 * Timed lines end with the elapsed time rounded to whole milliseconds: `r3 set 11ms`.
 * Values and keys are shown by {@link formatText} / {@link formatBytes}.
 */
import { KvgridError } from '../errors.js'
import type { Entry, MemberInfo, PeerStatus, WriteResult } from '../types.js'
import { SHELL_HELP } from './commands.js'

/** What running one command produced; `ms` is the time the peer took. */
export type Outcome =
  | { kind: 'set', result: WriteResult, ms: number }
  | { kind: 'get', entry: Entry | undefined, ms: number }
  | { kind: 'del', result: WriteResult, ms: number }
  | { kind: 'exists', entry: Entry | undefined, ms: number }
  | { kind: 'extend', result: WriteResult, ms: number }
  | { kind: 'scan', entries: Entry[] }
  | { kind: 'status', status: PeerStatus }
  | { kind: 'members', status: PeerStatus }
  | { kind: 'forced', clusterId: string, term: number }
  | { kind: 'help' }
  | { kind: 'error', error: unknown }

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Characters that force quoting: whitespace, quotes, backslash, control and format characters. */
const NEEDS_QUOTES = /[\s"'`\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

/** Characters JSON.stringify leaves as they are but a terminal would not show faithfully. */
const ESCAPE_IN_QUOTES = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]/gu

/**
 * Show text as typed when it is unambiguous (non-empty, no whitespace, quotes, backslashes or
 * control characters); otherwise as a JSON-style double-quoted string, e.g. `"hello world"`,
 * which the shell reads back as the same text.
 */
export function formatText (text: string): string {
  if (text !== '' && !NEEDS_QUOTES.test(text)) return text
  return JSON.stringify(text).replace(ESCAPE_IN_QUOTES, (c) => {
    if (c === ' ') return c
    let escaped = ''
    for (let i = 0; i < c.length; i++) escaped += '\\u' + c.charCodeAt(i).toString(16).padStart(4, '0')
    return escaped
  })
}

/** Show bytes: as {@link formatText} when they are valid UTF-8, else as `0x` + lowercase hex. */
export function formatBytes (bytes: Uint8Array): string {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return '0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  }
  return formatText(text)
}

/** Elapsed milliseconds as printed: rounded to a whole number, never negative. */
export function formatMs (ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`
}

/** One line for an error: `ERR <CODE> <message>`; errors kvgrid did not raise are `INTERNAL`. */
export function formatError (error: unknown): string {
  const code = error instanceof KvgridError ? error.code : 'INTERNAL'
  const message = error instanceof Error ? error.message : String(error)
  return `ERR ${code} ${message.replace(/\s*[\r\n]+\s*/g, ' ')}`
}

/** Shown for a value that is not known (yet), such as the primary of a joining peer. */
export const NONE = '-'

/**
 * `name: value` lines of a peer status. The network lines (peerId, primary, cluster, clusterId,
 * members, connections) appear only for a networked peer, each even when its value is not known
 * yet (then `-`); `conflict` only when there is one.
 */
export function formatStatus (status: PeerStatus): string[] {
  const networked = status.peerId !== undefined
  const lines: string[] = []
  if (networked) lines.push(`peerId: ${status.peerId}`)
  lines.push(`role: ${status.role}`, `term: ${status.term}`)
  if (networked) {
    lines.push(
      `primary: ${status.primary ?? NONE}`,
      `cluster: ${status.cluster ?? NONE}`,
      `clusterId: ${status.clusterId ?? NONE}`,
      `members: ${status.members.length}`,
      `connections: ${status.connections.length}`
    )
  }
  lines.push(
    `revision: ${status.revision}`,
    `keys: ${status.keys}`,
    `dataDir: ${status.dataDir}`,
    `fsync: ${status.fsync}`,
    `compactedRevision: ${status.compactedRevision}`,
    `pendingWrites: ${status.pendingWrites}`
  )
  if (status.conflict !== undefined) {
    lines.push(`conflict: peer ${status.conflict.peer} belongs to cluster id ${status.conflict.clusterId}`)
  }
  return lines
}

/** "Last heard" of a member: `0ms`, `120ms`, or `never`. */
export function formatLastSeen (ms: number | undefined): string {
  return ms === undefined ? 'never' : formatMs(ms)
}

/** A member's addresses without the `/p2p/<its id>` suffix (the table shows the id), or `-`. */
function formatAddrs (member: MemberInfo): string {
  const suffix = `/p2p/${member.peerId}`
  const addrs = member.addrs.map((a) => a.endsWith(suffix) ? a.slice(0, -suffix.length) : a)
  return addrs.length === 0 ? NONE : addrs.join(' ')
}

/**
 * The member table: a header, then one row per member in the order the peer gives them, `*`
 * marking this peer. Columns: peer id, role, last heard, addresses (space-separated).
 */
export function formatMembers (status: PeerStatus): string[] {
  if (status.peerId === undefined) return ['no members: this peer is standalone (no networking)']
  const header = ['peer id', 'role', 'last heard', 'addresses']
  const rows = status.members.map((m) => [m.peerId, m.role, formatLastSeen(m.lastSeenMs), formatAddrs(m)])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (mark: string, cells: string[]): string =>
    mark + ' ' + cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join('  ')
  return [
    line(' ', header),
    ...status.members.map((m, i) => line(m.peerId === status.peerId ? '*' : ' ', rows[i]))
  ]
}

const NOT_FOUND = 'r-1 not found'

/** The output lines of one command's outcome. */
export function formatOutcome (outcome: Outcome): string[] {
  switch (outcome.kind) {
    case 'set':
      return [`r${outcome.result.revision} ${outcome.result.ok ? 'set' : 'not set'} ${formatMs(outcome.ms)}`]
    case 'get':
      return [`${outcome.entry === undefined ? NOT_FOUND : `r${outcome.entry.revision} ${formatBytes(outcome.entry.value)}`} ${formatMs(outcome.ms)}`]
    case 'del':
      return [`${outcome.result.ok ? `r${outcome.result.revision} deleted` : NOT_FOUND} ${formatMs(outcome.ms)}`]
    case 'exists':
      return [`${outcome.entry === undefined ? NOT_FOUND : `r${outcome.entry.revision} exists`} ${formatMs(outcome.ms)}`]
    case 'extend':
      return [`${outcome.result.ok ? `r${outcome.result.revision} extended` : NOT_FOUND} ${formatMs(outcome.ms)}`]
    case 'scan':
      return outcome.entries.map((e) => `r${e.revision} ${formatText(e.key)} ${formatBytes(e.value)}`)
    case 'status':
      return formatStatus(outcome.status)
    case 'members':
      return formatMembers(outcome.status)
    case 'forced':
      return [`forced: primary of new cluster ${outcome.clusterId} in term ${outcome.term}`]
    case 'help':
      return [...SHELL_HELP]
    case 'error':
      return [formatError(outcome.error)]
  }
}
