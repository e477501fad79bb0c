/**
 * Peers in separate processes (test/fixtures/peer-proc.ts), observed through their status lines
 * and driven through the fixture's stdin command channel (set/del/get/dump/digest).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

const fixture = fileURLToPath(new URL('../fixtures/peer-proc.ts', import.meta.url))

/** The last status a peer process printed. */
export interface ProcStatus {
  /** Connected peers (last 6 characters of their ids). */
  connections?: string[]
  /** Cluster id of a conflicting peer seen (status().conflict), if any. */
  conflict?: string
  peerId: string
  role: string
  term: number
  primary?: string
  clusterId?: string
  members: string[]
  multiaddrs: string[]
  /** Latest committed revision of the peer. */
  revision: number
}

/** Answer to a write command (`set`, `del`). */
export interface WriteAnswer {
  op: 'set' | 'del'
  key: string
  value?: string
  ok?: boolean
  revision?: number
  error?: { code: string, message: string }
}

/** Answer to `get`. */
export interface GetAnswer {
  op: 'get'
  key: string
  value?: string | null
  revision?: number | null
  error?: { code: string, message: string }
}

/** A replica's content as printed by `dump` (revision/index -1: the store moved during the read). */
export interface Dump {
  revision: number
  index: number
  entries: Array<[string, string, number]>
}

/** A replica's content as printed by `digest`. */
export interface ProcDigest {
  revision: number
  index: number
  keys: number
  count: number
  hash: string
}

/** Fault settings of a process and what it injected so far. */
export interface FaultReport {
  loss: number
  flaky: number
  slowMs: number
  /** The process is cut off from the network (`partition`). */
  partitioned: boolean
  /** Appends that failed on purpose. */
  failedAppends: number
  /** Inbound replication frames dropped on purpose. */
  droppedFrames: number
}

/** A catch-up progress event printed by the process. */
export interface ProcCatchup {
  phase: 'snapshot' | 'delta'
  done: number
  total: number
  /** Date.now() in the test process when the line arrived. */
  at: number
}

/** Fault injection and knobs of the fixture (see its header). */
export interface ProcOptions {
  /** KVGRID_TEST_LOSS: probability of dropping each inbound replication frame. */
  loss?: number
  /** KVGRID_TEST_FLAKY: probability that a store append fails (without writing). */
  flaky?: number
  /** KVGRID_TEST_SLOW_MS: delay before each store append. */
  slowMs?: number
  /** KVGRID_TEST_RETAIN: retainRevisions. */
  retainRevisions?: number
  /** KVGRID_TEST_LIFETIME_MS: the process stops by itself after this long (default 120 s). */
  lifetimeMs?: number
  /** KVGRID_TEST_FORCE: start with `forcePrimary` set to this cluster id. */
  forcePrimary?: string
  /** A name for messages. */
  name?: string
  /** Called with every status line the process prints, in order (e.g. to keep a history of roles and terms). */
  onStatus?: (status: ProcStatus) => void
}

/** A peer process. */
export interface PeerProc {
  child: ChildProcess
  dataDir: string
  port: number
  name: string
  status?: ProcStatus
  /** Catch-up events in arrival order. */
  events: ProcCatchup[]
  exited: Promise<number | null>
  /** Whether the process is still running. */
  readonly alive: boolean
  /** Send one command line (without tag) and resolve with its answer; rejects after `timeoutMs` or when the process exits. */
  command: (line: string, timeoutMs?: number) => Promise<any>
  set: (key: string, value: string, timeoutMs?: number) => Promise<WriteAnswer>
  del: (key: string, timeoutMs?: number) => Promise<WriteAnswer>
  get: (key: string, minRevision?: number, timeoutMs?: number) => Promise<GetAnswer>
  dump: (timeoutMs?: number) => Promise<Dump>
  /** Every put in the process's log (from its first entry on) as [key, value, revision]. */
  logPuts: (timeoutMs?: number) => Promise<Array<[string, string, number]>>
  digest: (timeoutMs?: number) => Promise<ProcDigest>
  /** Change the fault injection at run time (fields left out keep their value); resolves with the settings and what was injected so far. */
  faults: (f?: { loss?: number, flaky?: number, slowMs?: number, partition?: boolean }) => Promise<FaultReport>
}

/** Default wait for one command's answer. */
const COMMAND_TIMEOUT_MS = 20_000

/**
 * Start a peer process; it is SIGKILLed in teardown if still running. `options` set the
 * fixture's fault injection through its environment.
 */
export function startProc (t: ExecutionContext, dataDir: string, port: number, bootstrap?: string, options: ProcOptions = {}): PeerProc {
  const args = ['--import=tsx', fixture, dataDir, String(port), ...(bootstrap === undefined ? [] : [bootstrap])]
  const env: NodeJS.ProcessEnv = { ...process.env, KVGRID_MDNS: 'off' }
  delete env.KVGRID_TEST_LOSS
  delete env.KVGRID_TEST_FLAKY
  delete env.KVGRID_TEST_SLOW_MS
  delete env.KVGRID_TEST_RETAIN
  delete env.KVGRID_TEST_LIFETIME_MS
  delete env.KVGRID_TEST_FORCE
  if (options.forcePrimary !== undefined) env.KVGRID_TEST_FORCE = options.forcePrimary
  if (options.loss !== undefined) env.KVGRID_TEST_LOSS = String(options.loss)
  if (options.flaky !== undefined) env.KVGRID_TEST_FLAKY = String(options.flaky)
  if (options.slowMs !== undefined) env.KVGRID_TEST_SLOW_MS = String(options.slowMs)
  if (options.retainRevisions !== undefined) env.KVGRID_TEST_RETAIN = String(options.retainRevisions)
  if (options.lifetimeMs !== undefined) env.KVGRID_TEST_LIFETIME_MS = String(options.lifetimeMs)
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env })
  const name = options.name ?? `peer-proc(${dataDir})`
  // Writing to a process that died raises EPIPE on its stdin: commands fail through `exited`.
  child.stdin?.on('error', () => {})
  const pending = new Map<string, { resolve: (v: any) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout> }>()
  let nextTag = 0
  let gone = false
  const exited = new Promise<number | null>(resolve => {
    child.on('exit', code => {
      gone = true
      for (const [tag, p] of pending) {
        clearTimeout(p.timer)
        p.reject(new Error(`${name} exited (code ${String(code)}, signal ${String(child.signalCode)}) before answering command ${tag}`))
      }
      pending.clear()
      resolve(code)
    })
  })
  const command = async (line: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<any> => {
    if (gone || child.stdin === null || child.stdin.destroyed) throw new Error(`${name} is not running: cannot send ${JSON.stringify(line)}`)
    const tag = `t${nextTag++}`
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(tag)
        reject(new Error(`${name} did not answer ${JSON.stringify(line.slice(0, 80))} within ${timeoutMs} ms`))
      }, timeoutMs)
      pending.set(tag, { resolve, reject, timer })
      child.stdin!.write(`@${tag} ${line}\n`)
    })
  }
  const proc: PeerProc = {
    child,
    dataDir,
    port,
    name,
    events: [],
    exited,
    get alive () { return child.exitCode === null && child.signalCode === null },
    command,
    set: async (key, value, timeoutMs) => await command(`set ${key} ${value}`, timeoutMs),
    del: async (key, timeoutMs) => await command(`del ${key}`, timeoutMs),
    get: async (key, minRevision, timeoutMs) => await command(minRevision === undefined ? `get ${key}` : `get ${key} ${minRevision}`, timeoutMs),
    dump: async timeoutMs => {
      const r = await command('dump', timeoutMs)
      if (r.dump === undefined) throw new Error(`${name}: dump failed: ${JSON.stringify(r.error)}`)
      return r.dump
    },
    logPuts: async timeoutMs => {
      const r = await command('log', timeoutMs)
      if (r.log === undefined) throw new Error(`${name}: log failed: ${JSON.stringify(r.error)}`)
      return r.log.puts
    },
    digest: async timeoutMs => {
      const r = await command('digest', timeoutMs)
      if (r.digest === undefined) throw new Error(`${name}: digest failed: ${JSON.stringify(r.error)}`)
      return r.digest
    },
    faults: async (f = {}) => {
      const words = [f.loss === undefined ? '' : `loss=${f.loss}`, f.flaky === undefined ? '' : `flaky=${f.flaky}`, f.slowMs === undefined ? '' : `slow=${f.slowMs}`, f.partition === undefined ? '' : `partition=${f.partition ? 1 : 0}`]
      const r = await command(`fault ${words.filter(w => w !== '').join(' ')}`)
      if (r.error !== undefined) throw new Error(`${name}: fault failed: ${JSON.stringify(r.error)}`)
      return r
    }
  }
  void (async () => {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      let msg: any
      try { msg = JSON.parse(line) } catch { continue }
      if (msg === null || typeof msg !== 'object') continue
      if (typeof msg.tag === 'string') {
        const p = pending.get(msg.tag)
        if (p !== undefined) {
          pending.delete(msg.tag)
          clearTimeout(p.timer)
          p.resolve(msg)
        }
      } else if (msg.event === 'catchup') {
        proc.events.push({ phase: msg.phase, done: msg.done, total: msg.total, at: Date.now() })
      } else if (typeof msg.role === 'string' && Array.isArray(msg.members)) {
        proc.status = msg
        options.onStatus?.(msg)
      }
    }
  })()
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return proc
}
