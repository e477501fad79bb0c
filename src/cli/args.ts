/**
 * Command-line arguments of `kvgrid start` and `kvgrid demo`: strict parsing (node:util
 * parseArgs), defaults, and validation of the form of each value. Pure: a mistake throws
 * {@link UsageError}, which the caller prints as one line and turns into exit code 2. Rules
 * the peer owns (the cluster name, option limits) are left to `createPeer`, whose
 * InvalidArgumentError also exits 2. Loads neither the peer nor libp2p.
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { parseCount } from './commands.js'

/** A command-line mistake: printed as one line with a hint, exit code 2. */
export class UsageError extends Error {
  constructor (message: string, readonly hint: string) { super(message) }
}

/** How long `kvgrid start` and `kvgrid demo` wait for the peer to be ready, by default. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000

/** Options of `kvgrid start`, after parsing. */
export interface StartArgs {
  help: boolean
  dataDir: string
  fsync: boolean
  maxValueBytes?: number
  shell: boolean
  /** No networking: a one-peer cluster. */
  standalone: boolean
  /** Cluster name; undefined: the peer's default (`kvgrid`). */
  cluster?: string
  /** Listen multiaddrs; empty: the peer's default (`/ip4/0.0.0.0/tcp/0`). */
  listen: string[]
  /** Bootstrap multiaddrs, each ending in /p2p/<peer id>. */
  bootstrap: string[]
  /** Discover peers by mDNS (KVGRID_MDNS=off still forces it off). */
  mdns: boolean
  /** How long to wait for the peer to be ready; 0: no limit. */
  readyTimeoutMs: number
  /** Operator override: the cluster id to force out of if no primary appears at start. */
  forcePrimary?: string
}

/** Options of `kvgrid demo`, after parsing. */
export interface DemoArgs {
  help: boolean
  /** Number of peers, 1 to {@link MAX_DEMO_PEERS}. */
  peers: number
  /** Parent directory of the peers' data directories (`DIR/peer0` …). */
  dataDir: string
  mdns: boolean
  /** Peer k listens on 127.0.0.1, port basePort + k. */
  basePort: number
  readyTimeoutMs: number
}

/** Defaults of `kvgrid demo`. */
export const DEMO_DEFAULTS = {
  peers: 3,
  dataDir: '.kvgrid/demo',
  basePort: 7401
} as const

/** Most peers `kvgrid demo` starts. */
export const MAX_DEMO_PEERS = 7

/** Turn a node:util parseArgs error into a one-line message. */
export function parseArgsMessage (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const first = message.split(/\.(\s|$)/)[0]
  return first.charAt(0).toLowerCase() + first.slice(1)
}

type Tokens = NonNullable<ReturnType<typeof parseArgs>['tokens']>

/** Strict parse (no positionals, with tokens) of a subcommand's options; a mistake is a UsageError. */
function parseStrict<O extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: O, hint: string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true })
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), hint)
  }
}

/** The value of an on/off pair (`--x` / `--no-x`): the last one given wins. */
function lastSwitch (tokens: Tokens, on: string, off: string, fallback: boolean): boolean {
  let value = fallback
  for (const token of tokens) {
    if (token.kind === 'option' && token.name === on) value = true
    if (token.kind === 'option' && token.name === off) value = false
  }
  return value
}

function count (word: string | undefined, option: string, hint: string, min = 0): number | undefined {
  if (word === undefined) return undefined
  const n = parseCount(word, `option ${option}`)
  if (!n.ok) throw new UsageError(n.error.message, hint)
  if (n.value < min) throw new UsageError(`option ${option} must be at least ${min}`, hint)
  return n.value
}

function checkMultiaddr (addr: string, option: string, hint: string): void {
  let components
  try {
    components = multiaddr(addr).getComponents()
  } catch (err) {
    throw new UsageError(`option ${option}: ${JSON.stringify(addr)} is not a valid multiaddr (${err instanceof Error ? err.message : String(err)})`, hint)
  }
  if (option === '--bootstrap' && components.every((c) => c.name !== 'p2p')) {
    throw new UsageError(`option --bootstrap: ${JSON.stringify(addr)} must end with /p2p/<peer id>`, hint)
  }
}

/** Parse the arguments of `kvgrid start` (after the word `start`). Throws {@link UsageError}. */
export function parseStartArgs (args: string[]): StartArgs {
  const hint = 'see kvgrid start --help'
  const { values, tokens } = parseStrict(args, {
    data: { type: 'string' },
    fsync: { type: 'boolean' },
    'no-fsync': { type: 'boolean' },
    'max-value-bytes': { type: 'string' },
    'no-shell': { type: 'boolean' },
    standalone: { type: 'boolean' },
    cluster: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    mdns: { type: 'boolean' },
    'no-mdns': { type: 'boolean' },
    'ready-timeout': { type: 'string' },
    'force-primary': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, hint)
  const help = values.help === true
  const forcePrimary = values['force-primary']
  if (forcePrimary !== undefined && !/^[0-9a-f]{32}$/.test(forcePrimary)) {
    throw new UsageError(`option --force-primary needs the cluster id to force out of (32 hex characters, the clusterId line of status), got ${JSON.stringify(forcePrimary)}`, hint)
  }
  if (forcePrimary !== undefined && values.standalone === true) throw new UsageError('option --force-primary cannot be used with --standalone (a standalone peer is always its own primary)', hint)
  const dataDir = values.data ?? ''
  if (!help && dataDir === '') {
    throw new UsageError(values.data === undefined ? 'missing required option --data DIR' : 'option --data needs a directory', hint)
  }
  const maxValueBytes = count(values['max-value-bytes'], '--max-value-bytes', hint, 1)
  const readyTimeoutMs = count(values['ready-timeout'], '--ready-timeout', hint) ?? DEFAULT_READY_TIMEOUT_MS
  const standalone = values.standalone === true
  const listen = values.listen ?? []
  const bootstrap = values.bootstrap ?? []
  if (standalone) {
    const network = tokens.find((t) => t.kind === 'option' && ['cluster', 'listen', 'bootstrap', 'mdns', 'no-mdns'].includes(t.name))
    if (network !== undefined && network.kind === 'option') {
      throw new UsageError(`option --${network.name} cannot be used with --standalone (a standalone peer has no networking)`, hint)
    }
  }
  // The cluster name's rule belongs to the peer: it rejects a bad one (exit 2) before it starts.
  for (const addr of listen) checkMultiaddr(addr, '--listen', hint)
  for (const addr of bootstrap) checkMultiaddr(addr, '--bootstrap', hint)
  return {
    help,
    dataDir,
    fsync: lastSwitch(tokens, 'fsync', 'no-fsync', true),
    shell: values['no-shell'] !== true,
    standalone,
    listen,
    bootstrap,
    mdns: lastSwitch(tokens, 'mdns', 'no-mdns', true),
    readyTimeoutMs,
    ...(forcePrimary === undefined ? {} : { forcePrimary }),
    ...(values.cluster === undefined ? {} : { cluster: values.cluster }),
    ...(maxValueBytes === undefined ? {} : { maxValueBytes })
  }
}

/** Parse the arguments of `kvgrid demo` (after the word `demo`). Throws {@link UsageError}. */
export function parseDemoArgs (args: string[]): DemoArgs {
  const hint = 'see kvgrid demo --help'
  const { values, tokens } = parseStrict(args, {
    peers: { type: 'string' },
    data: { type: 'string' },
    mdns: { type: 'boolean' },
    'no-mdns': { type: 'boolean' },
    'base-port': { type: 'string' },
    'ready-timeout': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, hint)
  const peers = count(values.peers, '--peers', hint, 1) ?? DEMO_DEFAULTS.peers
  if (peers > MAX_DEMO_PEERS) throw new UsageError(`option --peers must be from 1 to ${MAX_DEMO_PEERS}, got ${peers}`, hint)
  const dataDir = values.data ?? DEMO_DEFAULTS.dataDir
  if (dataDir === '') throw new UsageError('option --data needs a directory', hint)
  const basePort = count(values['base-port'], '--base-port', hint, 1) ?? DEMO_DEFAULTS.basePort
  if (basePort + peers - 1 > 65535) {
    throw new UsageError(`option --base-port ${basePort} leaves no room for ${peers} peers (ports ${basePort}-${basePort + peers - 1}; the last port is 65535)`, hint)
  }
  return {
    help: values.help === true,
    peers,
    dataDir,
    mdns: lastSwitch(tokens, 'mdns', 'no-mdns', false),
    basePort,
    readyTimeoutMs: count(values['ready-timeout'], '--ready-timeout', hint) ?? DEFAULT_READY_TIMEOUT_MS
  }
}
