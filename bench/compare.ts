/**
 * `--compare`: the usual alternatives measured in the same run, on 127.0.0.1 only, when their
 * binaries are installed (scripts/install-compare.sh; never needed by tests or CI):
 *
 * - Redis: a primary and 2 replicas (`redis-server` on three ports, `--replicaof`), each write a
 *   `SET` and a `WAIT 2 1000` sent together on one connection (one round trip: Redis's best
 *   case); a write counts when WAIT answers 2. Redis persistence off (no RDB, no AOF): WAIT
 *   means "in the memory of both replicas", not on disk.
 * - etcd: 3 members (`etcd`, distinct client and peer ports), puts through the v3 HTTP/JSON
 *   gateway (`POST /v3/kv/put`) to the leader over keep-alive connections. etcd fsyncs its WAL
 *   on every commit, like kvgrid. The JSON gateway adds work over etcd's gRPC clients.
 *
 * Same shape as kvgrid's acked writes: 100-byte values over 10 000 keys, one client sequential
 * or `inFlight` writes at a time (one connection each). Servers get temporary data
 * directories; every process and directory is removed by `close()`, and at exit anyway
 * (bench/cleanup.ts). Clients are minimal: RESP over node:net, JSON over node:http.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { Agent, request } from 'node:http'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import { delimiter, join } from 'node:path'
import { removeDir, tempDir, track } from './cleanup.js'
import type { Run } from './report.js'
import { quantile } from './stats.js'

/** Value written by every system (same as kvgrid's bench). */
export const VALUE = new Uint8Array(100).fill(120)
/** Keys written: `key-0` … `key-9999`, cycling. */
export const KEYSPACE = 10_000

/** The path of an executable on PATH, or undefined. */
export function findBinary (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const file = join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  return undefined
}

/** `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => {
    const s = createServer()
    await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
    return s
  }))
  const ports = servers.map(s => (s.address() as { port: number }).port)
  await Promise.all(servers.map(async s => { await new Promise(resolve => s.close(resolve)) }))
  return ports
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until<T> (check: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await sleep(100)
  }
  throw new Error(`compare: timed out waiting for ${what}${last !== undefined ? ` (${String((last as Error).message ?? last)})` : ''}`)
}

/** A server process whose last stderr/stdout lines are kept for error messages. */
class ServerProcess {
  readonly child: ChildProcess
  private output = ''
  readonly exited: Promise<void>

  constructor (readonly name: string, bin: string, args: string[]) {
    this.child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    const keep = (d: Buffer): void => { this.output = (this.output + d.toString()).slice(-2000) }
    this.child.stdout!.on('data', keep)
    this.child.stderr!.on('data', keep)
    this.exited = new Promise(resolve => this.child.once('exit', () => { resolve() }))
  }

  alive (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Throw with its output when it has exited. */
  check (): void {
    if (!this.alive()) throw new Error(`compare: ${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.output.trim().split('\n').slice(-5).join(' | ')}`)
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop (): Promise<void> {
    if (!this.alive()) return
    this.child.kill('SIGTERM')
    const killer = setTimeout(() => { this.child.kill('SIGKILL') }, 5000)
    await this.exited
    clearTimeout(killer)
  }
}

/** A running comparison cluster. */
export interface CompareCluster {
  /** Where the bench client writes: a port (Redis primary) or a base URL (etcd leader). */
  target: string
  /** Stop every process and remove every directory. */
  close: () => Promise<void>
}

async function startAll (start: (dirs: string[], procs: ServerProcess[]) => Promise<string>): Promise<CompareCluster> {
  const dirs: string[] = []
  const procs: ServerProcess[] = []
  const close = async (): Promise<void> => {
    await Promise.all(procs.map(async p => { await p.stop() }))
    await Promise.all(dirs.map(removeDir))
  }
  try {
    return { target: await start(dirs, procs), close }
  } catch (err) {
    await close()
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// Redis: RESP over node:net.

type RespValue = string | number | null | Error | RespValue[]

/** Parse one RESP value from `buf` at `at`: [value, next offset], or undefined when incomplete. */
export function parseResp (buf: Buffer, at: number): [RespValue, number] | undefined {
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) return undefined
  const type = String.fromCharCode(buf[at])
  const head = buf.toString('utf8', at + 1, eol)
  const next = eol + 2
  if (type === '+') return [head, next]
  if (type === '-') return [new Error(head), next]
  if (type === ':') return [Number(head), next]
  if (type === '$') {
    const n = Number(head)
    if (n < 0) return [null, next]
    if (buf.length < next + n + 2) return undefined
    return [buf.toString('utf8', next, next + n), next + n + 2]
  }
  if (type === '*') {
    const n = Number(head)
    if (n < 0) return [null, next]
    const items: RespValue[] = []
    let pos = next
    for (let i = 0; i < n; i++) {
      const r = parseResp(buf, pos)
      if (r === undefined) return undefined
      items.push(r[0])
      pos = r[1]
    }
    return [items, pos]
  }
  throw new Error(`compare: unexpected RESP type ${JSON.stringify(type)}`)
}

/** Encode one command as a RESP array of bulk strings. */
export function encodeResp (args: Array<string | Uint8Array>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** A minimal Redis connection: pipelined commands, replies in order. */
export class RedisConnection {
  private buf = Buffer.alloc(0)
  private readonly pending: Array<{ resolve: (v: RespValue) => void, reject: (e: Error) => void }> = []

  private constructor (private readonly socket: Socket) {
    socket.setNoDelay(true)
    socket.on('data', d => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
      let at = 0
      for (;;) {
        const r = parseResp(this.buf, at)
        if (r === undefined) break
        at = r[1]
        this.pending.shift()?.resolve(r[0])
      }
      this.buf = this.buf.subarray(at)
    })
    const fail = (err: Error): void => { for (const p of this.pending.splice(0)) p.reject(err) }
    socket.on('error', fail)
    socket.on('close', () => { fail(new Error('compare: redis connection closed')) })
  }

  static async connect (port: number): Promise<RedisConnection> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new RedisConnection(socket)
  }

  /** Send the commands in one write; resolve with their replies. */
  async pipeline (commands: Array<Array<string | Uint8Array>>): Promise<RespValue[]> {
    const replies = commands.map(async () => await new Promise<RespValue>((resolve, reject) => { this.pending.push({ resolve, reject }) }))
    this.socket.write(Buffer.concat(commands.map(encodeResp)))
    return await Promise.all(replies)
  }

  async command (...args: Array<string | Uint8Array>): Promise<RespValue> {
    return (await this.pipeline([args]))[0]
  }

  close (): void {
    this.socket.destroy()
  }
}

/** Redis primary + 2 replicas on 127.0.0.1, persistence off; target is the primary's port. */
export async function startRedis (bin: string): Promise<CompareCluster> {
  return await startAll(async (dirs, procs) => {
    const ports = await freePorts(3)
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir('kvgrid-bench-redis-')
      dirs.push(dir)
      const args = ['--port', String(ports[i]), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--repl-diskless-sync-delay', '0', '--loglevel', 'warning']
      if (i > 0) args.push('--replicaof', '127.0.0.1', String(ports[0]))
      procs.push(new ServerProcess(`redis-server :${ports[i]}`, bin, args))
    }
    const info = async (port: number): Promise<string> => {
      for (const p of procs) p.check()
      const c = await RedisConnection.connect(port)
      try {
        return String(await c.command('INFO', 'replication'))
      } finally {
        c.close()
      }
    }
    await until(async () => {
      const s = await info(ports[0])
      return (s.match(/state=online/g) ?? []).length === 2 ? true : undefined
    }, 'two Redis replicas online', 20_000)
    await until(async () => {
      const all = await Promise.all(ports.slice(1).map(info))
      return all.every(s => s.includes('master_link_status:up')) ? true : undefined
    }, 'Redis replication links up', 20_000)
    return String(ports[0])
  })
}

/** `count` acked writes (SET + WAIT 2 1000) to the Redis primary at `port`, `inFlight` connections. */
export async function redisLoad (port: number, inFlight: number, count: number, deadline: number): Promise<Run> {
  const conns = await Promise.all(Array.from({ length: inFlight }, async () => await RedisConnection.connect(port)))
  try {
    return await load(inFlight, count, deadline, async (i, w) => {
      const [set, wait] = await conns[w].pipeline([['SET', `key-${i % KEYSPACE}`, VALUE], ['WAIT', '2', '1000']])
      return set === 'OK' && wait === 2
    })
  } finally {
    for (const c of conns) c.close()
  }
}

// ---------------------------------------------------------------------------------------------
// etcd: the v3 HTTP/JSON gateway over node:http.

async function httpJson (agent: Agent | undefined, url: string, body: unknown, method = 'POST'): Promise<any> {
  return await new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(url, {
      method,
      agent,
      timeout: 10_000,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        if (res.statusCode !== 200) reject(new Error(`compare: ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`))
        else {
          try { resolve(JSON.parse(text)) } catch (err) { reject(err) }
        }
      })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`compare: ${url}: timeout`)) })
    req.on('error', reject)
    req.end(payload)
  })
}

/** A 3-member etcd on 127.0.0.1 (fsync on, as etcd ships); target is the leader's client URL. */
export async function startEtcd (bin: string): Promise<CompareCluster> {
  return await startAll(async (dirs, procs) => {
    const ports = await freePorts(6)
    const client = (i: number): string => `http://127.0.0.1:${ports[i]}`
    const peer = (i: number): string => `http://127.0.0.1:${ports[3 + i]}`
    const initial = [0, 1, 2].map(i => `m${i}=${peer(i)}`).join(',')
    const token = `kvgrid-bench-${process.pid}-${Date.now()}`
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir('kvgrid-bench-etcd-')
      dirs.push(dir)
      procs.push(new ServerProcess(`etcd m${i}`, bin, [
        '--name', `m${i}`, '--data-dir', dir,
        '--listen-client-urls', client(i), '--advertise-client-urls', client(i),
        '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i),
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
        '--logger', 'zap', '--log-level', 'error'
      ]))
    }
    await until(async () => {
      for (const p of procs) p.check()
      const health = await Promise.all([0, 1, 2].map(async i => await httpJson(undefined, `${client(i)}/health`, undefined, 'GET')))
      return health.every(h => h.health === 'true') ? true : undefined
    }, 'three healthy etcd members', 30_000)
    return await until(async () => {
      const st = await Promise.all([0, 1, 2].map(async i => await httpJson(undefined, `${client(i)}/v3/maintenance/status`, {})))
      const i = st.findIndex(s => s.leader !== undefined && s.leader !== '0' && s.header?.member_id === s.leader)
      return i >= 0 ? client(i) : undefined
    }, 'an etcd leader', 30_000)
  })
}

/** `count` puts to the etcd member at `url`, `inFlight` at a time over keep-alive connections. */
export async function etcdLoad (url: string, inFlight: number, count: number, deadline: number): Promise<Run> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight })
  const value = Buffer.from(VALUE).toString('base64')
  try {
    return await load(inFlight, count, deadline, async i => {
      const r = await httpJson(agent, `${url}/v3/kv/put`, { key: Buffer.from(`key-${i % KEYSPACE}`).toString('base64'), value })
      return r.header?.revision !== undefined
    })
  } finally {
    agent.destroy()
  }
}

// ---------------------------------------------------------------------------------------------

/** Run `count` writes, `inFlight` workers at a time, until done or `deadline` (ms since epoch). */
async function load (inFlight: number, count: number, deadline: number, write: (i: number, worker: number) => Promise<boolean>): Promise<Run> {
  const latencies: number[] = []
  let errors = 0
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    while (next < count && Date.now() < deadline) {
      const i = next++
      const t0 = performance.now()
      let ok = false
      try {
        ok = await write(i, w)
      } catch {}
      if (ok) latencies.push(performance.now() - t0)
      else errors++
    }
  }))
  const seconds = (performance.now() - started) / 1000
  return { ops: latencies.length, errors, opsPerSec: latencies.length / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) }
}
