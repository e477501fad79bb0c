/**
 * Results → output lines. Pure.
 *
 * Every command prints one line, except `scan` (one line per entry), `status` and `help`.
 * Timed lines end with the elapsed time rounded to whole milliseconds: `r3 set 11ms`.
 * Values and keys are shown by {@link formatText} / {@link formatBytes}.
 */
import { KvgridError } from '../errors.js'
import type { Entry, PeerStatus, WriteResult } from '../types.js'
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

/** `name: value` lines of a peer status. */
export function formatStatus (status: PeerStatus): string[] {
  const lines = [
    `role: ${status.role}`,
    `revision: ${status.revision}`,
    `keys: ${status.keys}`,
    `dataDir: ${status.dataDir}`,
    `fsync: ${status.fsync}`,
    `compactedRevision: ${status.compactedRevision}`,
    `pendingWrites: ${status.pendingWrites}`
  ]
  if (status.peerId !== undefined) lines.push(`peerId: ${status.peerId}`)
  return lines
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
    case 'help':
      return [...SHELL_HELP]
    case 'error':
      return [formatError(outcome.error)]
  }
}
