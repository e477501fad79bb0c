/**
 * Shell commands: words → a typed {@link Command}, or the reason the words are not one. Pure.
 * Command names and modifiers are case-insensitive; keys and values are taken as typed.
 */
import { tokenize } from './tokenize.js'
import { accept, reject } from './verdict.js'
import type { Verdict } from './verdict.js'

/** Conditions and TTL of a `set`, named as in the peer's `SetOptions`. */
export interface SetModifiers {
  ifNotExists?: boolean
  ifExists?: boolean
  ttlMs?: number
  ifValue?: string
  ifRevision?: number
}

/** One parsed shell command. */
export type Command =
  | { name: 'set', key: string, value: string, modifiers: SetModifiers }
  | { name: 'get', key: string, atRevision?: number }
  | { name: 'del', key: string }
  | { name: 'exists', key: string }
  | { name: 'extend', key: string, ttlMs: number }
  | { name: 'scan', prefix: string, limit?: number }
  | { name: 'status' }
  | { name: 'members' }
  | { name: 'force-primary' }
  | { name: 'help' }
  | { name: 'exit' }

/** Usage line of every command, in help order. */
export const USAGE: Record<Command['name'], string> = {
  set: 'set KEY VALUE [nx|xx] [ex MS] [cmp VALUE] [cmprev REV]',
  get: 'get KEY [at REV]',
  del: 'del KEY',
  exists: 'exists KEY',
  extend: 'extend KEY MS',
  scan: 'scan PREFIX [limit N]',
  status: 'status',
  members: 'members',
  'force-primary': 'force-primary yes',
  help: 'help',
  exit: 'exit'
}

/** The shell's `help` text, one string per line (also part of `kvgrid start --help`). */
export const SHELL_HELP: readonly string[] = [
  'Commands (names and modifiers are case-insensitive):',
  `  ${USAGE.set}`,
  '      set KEY to VALUE. nx: only if KEY is absent; xx: only if it exists;',
  '      ex MS: expire MS milliseconds after the write; cmp VALUE: only if the current',
  '      value is VALUE; cmprev REV: only if KEY\'s revision is REV (0: KEY is absent).',
  '      Prints "rN set", or "rN not set" with the current revision when a condition fails.',
  `  ${USAGE.get.padEnd(24)}print KEY's revision and value (as of revision REV)`,
  `  ${USAGE.del.padEnd(24)}delete KEY`,
  `  ${USAGE.exists.padEnd(24)}print KEY's revision if it exists`,
  `  ${USAGE.extend.padEnd(24)}expire KEY MS milliseconds from now (0: never)`,
  `  ${USAGE.scan.padEnd(24)}print "rN key value" for each key starting with PREFIX ("" for all)`,
  `  ${USAGE.status.padEnd(24)}print this peer's state (role, term, primary, revision …)`,
  `  ${USAGE.members.padEnd(24)}print the members: peer id, role, last heard, addresses`,
  `  ${USAGE['force-primary'].padEnd(24)}operator override when the cluster lost its majority (e.g. one of`,
  '      two peers died for good): this peer becomes sole member and primary of a new cluster.',
  '      Acknowledged writes it never received are lost; the other old members must have their',
  '      data directory removed before they rejoin. Refused while a primary is reachable.',
  `  ${USAGE.help.padEnd(24)}print this help`,
  `  ${USAGE.exit.padEnd(24)}stop the peer and quit (also Ctrl-D)`,
  'Quote words with spaces as "…" (escapes \\" \\\\ \\n \\t) or `…` (literal); "" is an empty word.',
  'Lines starting with # are comments. MS, REV and N are non-negative decimal integers.'
]

/** Parse a non-negative decimal integer (no sign, fraction, exponent or hex). */
export function parseCount (word: string, what: string): Verdict<number> {
  if (!/^[0-9]+$/.test(word)) return reject(`${what} must be a non-negative decimal integer, got ${JSON.stringify(word)}`)
  const n = Number(word)
  if (!Number.isSafeInteger(n)) return reject(`${what} is too large: ${word}`)
  return accept(n)
}

type ModifierKind = 'flag' | 'count' | 'text'

interface ModifierSpec {
  kind: ModifierKind
  /** What the argument is, for error messages. */
  what?: string
}

type ModifierValues = Map<string, true | number | string>

/**
 * Parse trailing `modifier [argument]` pairs of `command` against `specs`, case-insensitively.
 * Rejects unknown and repeated modifiers and missing or malformed arguments.
 */
function parseModifiers (command: Command['name'], words: string[], specs: Record<string, ModifierSpec>): Verdict<ModifierValues> {
  const values: ModifierValues = new Map()
  const usage = `usage: ${USAGE[command]}`
  for (let i = 0; i < words.length; i++) {
    const name = words[i].toLowerCase()
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined
    if (spec === undefined) return reject(`unknown modifier ${JSON.stringify(words[i])} for ${command}; ${usage}`)
    if (values.has(name)) return reject(`modifier ${name} given twice; ${usage}`)
    if (spec.kind === 'flag') {
      values.set(name, true)
      continue
    }
    const arg = words[++i]
    if (arg === undefined) return reject(`modifier ${name} needs ${spec.what ?? 'an argument'}; ${usage}`)
    if (spec.kind === 'text') {
      values.set(name, arg)
      continue
    }
    const n = parseCount(arg, `${name} ${spec.what ?? 'N'}`)
    if (!n.ok) return n
    values.set(name, n.value)
  }
  return accept(values)
}

/** Reject unless `words` (after the command name) has exactly `count` arguments. */
function expectArgs (command: Command['name'], words: string[], count: number): Verdict<string[]> {
  if (words.length < count) return reject(`${command} needs more arguments; usage: ${USAGE[command]}`)
  if (words.length > count) return reject(`${command} takes ${count === 0 ? 'no arguments' : `${count} argument${count === 1 ? '' : 's'}`}; usage: ${USAGE[command]}`)
  return accept(words)
}

/** Parse the words of one command line (the first word is the command name). */
export function parseCommand (words: readonly string[]): Verdict<Command> {
  if (words.length === 0) return reject('empty command; try help')
  const name = words[0].toLowerCase()
  const args = words.slice(1)

  switch (name) {
    case 'set': {
      if (args.length < 2) return reject(`set needs KEY and VALUE; usage: ${USAGE.set}`)
      const mods = parseModifiers('set', args.slice(2), {
        nx: { kind: 'flag' },
        xx: { kind: 'flag' },
        ex: { kind: 'count', what: 'MS' },
        cmp: { kind: 'text', what: 'VALUE' },
        cmprev: { kind: 'count', what: 'REV' }
      })
      if (!mods.ok) return mods
      const m = mods.value
      const modifiers: SetModifiers = {}
      if (m.has('nx')) modifiers.ifNotExists = true
      if (m.has('xx')) modifiers.ifExists = true
      if (m.has('ex')) modifiers.ttlMs = m.get('ex') as number
      if (m.has('cmp')) modifiers.ifValue = m.get('cmp') as string
      if (m.has('cmprev')) modifiers.ifRevision = m.get('cmprev') as number
      return accept({ name: 'set', key: args[0], value: args[1], modifiers })
    }
    case 'get': {
      if (args.length < 1) return reject(`get needs KEY; usage: ${USAGE.get}`)
      const mods = parseModifiers('get', args.slice(1), { at: { kind: 'count', what: 'REV' } })
      if (!mods.ok) return mods
      const at = mods.value.get('at') as number | undefined
      return accept(at === undefined ? { name: 'get', key: args[0] } : { name: 'get', key: args[0], atRevision: at })
    }
    case 'del':
    case 'exists': {
      const ok = expectArgs(name, args, 1)
      if (!ok.ok) return ok
      return accept({ name, key: args[0] })
    }
    case 'extend': {
      const ok = expectArgs('extend', args, 2)
      if (!ok.ok) return ok
      const ms = parseCount(args[1], 'extend MS')
      if (!ms.ok) return ms
      return accept({ name: 'extend', key: args[0], ttlMs: ms.value })
    }
    case 'scan': {
      if (args.length < 1) return reject(`scan needs PREFIX ("" for all keys); usage: ${USAGE.scan}`)
      const mods = parseModifiers('scan', args.slice(1), { limit: { kind: 'count', what: 'N' } })
      if (!mods.ok) return mods
      const limit = mods.value.get('limit') as number | undefined
      return accept(limit === undefined ? { name: 'scan', prefix: args[0] } : { name: 'scan', prefix: args[0], limit })
    }
    case 'force-primary': {
      if (args.length !== 1 || args[0].toLowerCase() !== 'yes') {
        return reject('force-primary makes this peer sole member and primary of a new cluster: acknowledged writes it never received are lost, and the other members must be reset before they rejoin (docs/operations.md); to go ahead type: force-primary yes')
      }
      return accept({ name: 'force-primary' })
    }
    case 'status':
    case 'members':
    case 'help':
    case 'exit': {
      const ok = expectArgs(name, args, 0)
      if (!ok.ok) return ok
      return accept({ name })
    }
    default:
      return reject(`unknown command ${JSON.stringify(words[0])}; try help`)
  }
}

/**
 * Parse one input line: `undefined` for a blank line or a `#` comment, else the command or the
 * reason the line is not one.
 */
export function parseLine (line: string): Verdict<Command | undefined> {
  if (/^[ \t\r\n\v\f]*(#|$)/.test(line)) return accept(undefined)
  const words = tokenize(line)
  if (!words.ok) return words
  return parseCommand(words.value)
}
