/**
 * Benchmark clusters: peers as separate processes (bench/peer-worker.ts) on 127.0.0.1, each
 * with a fresh temporary data directory, all removed when the cluster is closed (or, failing
 * that, at exit: bench/cleanup.ts).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { removeDir, tempDir, track } from './cleanup.js'

const source = fileURLToPath(new URL('./peer-worker.ts', import.meta.url))
const compiled = fileURLToPath(new URL('../dist-bench/bench/peer-worker.js', import.meta.url))

/**
 * How to start a peer worker: its compiled form (`npm run bench` builds it to dist-bench/) when
 * it is at least as new as the source, so peers start like the shipped CLI, without a
 * TypeScript loader (tsx adds ≈ 0.45 s to every start); else the source through tsx.
 */
function workerArgs (): string[] {
  const mtime = (f: string): number => { try { return statSync(f).mtimeMs } catch { return -1 } }
  return mtime(compiled) >= mtime(source) ? [compiled] : ['--import=tsx', source]
}

/** Default bound on one command to a peer worker. */
const COMMAND_TIMEOUT_MS = 180_000

/** Last status a worker printed. */
export interface WorkerStatus { peerId: string, role: string, term: number, primary?: string, members: number, multiaddrs: string[] }

/** One peer process. */
export class WorkerPeer {
  readonly child: ChildProcess
  status?: WorkerStatus
  private readonly waiters: Array<{ event: string, resolve: (v: any) => void, reject: (err: Error) => void }> = []
  readonly exited: Promise<void>

  /** `fsync: false` runs the peer without fsync (not as shipped: the limits scenario only). */
  constructor (readonly dataDir: string, bootstrap?: string, readonly fsync = true) {
    const prof = process.env.BENCH_CPU_PROF !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
    // BENCH_NODE_ARGS: extra node flags for every peer process (profiling, V8 tracing).
    const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
    this.child = track(spawn(process.execPath, [...extra, ...prof, ...workerArgs(), dataDir, ...(bootstrap === undefined ? [] : [bootstrap])], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, KVGRID_MDNS: 'off', BENCH_FSYNC: fsync ? '1' : '0' }
    }))
    const child: ChildProcess = this.child
    child.stdin!.on('error', () => {}) // a killed peer: writes to it fail, the command times out
    this.exited = new Promise(resolve => child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`bench: peer exited while waiting for ${w.event}`))
      resolve()
    }))
    void (async () => {
      for await (const line of createInterface({ input: child.stdout! })) {
        let msg: any
        try { msg = JSON.parse(line) } catch { continue }
        if (msg.event === 'status') this.status = msg
        if (msg.event === 'error') {
          const w = this.waiters.shift()
          if (w !== undefined) w.reject(new Error(`bench: peer worker: ${String(msg.message)}`))
          continue
        }
        const i = this.waiters.findIndex(w => w.event === msg.event)
        if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg)
      }
    })()
  }

  /** Send a command and wait for the reply event (bounded by `timeoutMs`). */
  async run<T = any> (command: string, event: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const reply = new Promise<T>((resolve, reject) => {
      const waiter = { event, resolve, reject }
      this.waiters.push(waiter)
      timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(new Error(`bench: timed out waiting for ${event} after ${command}`))
      }, timeoutMs)
    })
    if (!this.alive()) throw new Error(`bench: peer is not running (${command})`)
    this.child.stdin!.write(command + '\n')
    try {
      return await reply
    } finally {
      clearTimeout(timer)
    }
  }

  alive (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }
}

async function until (check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** A cluster of worker peers. */
export class BenchCluster {
  readonly peers: WorkerPeer[] = []
  private readonly dirs: string[] = []

  /** `fsync: false`: every peer of the cluster runs without fsync (default: on, as shipped). */
  constructor (private readonly fsync = true) {}

  /** Start `n` peers (the first founds, the others bootstrap to it) and wait for n members. */
  static async start (n: number, options?: { fsync?: boolean }): Promise<BenchCluster> {
    const c = new BenchCluster(options?.fsync ?? true)
    try {
      const first = await c.add()
      await until(() => first.status?.role === 'primary', 'the first peer to found the cluster')
      for (let i = 1; i < n; i++) await c.add(first.status!.multiaddrs[0])
      await until(() => c.peers.every(p => p.status?.members === n && p.status.primary !== undefined), `${n} members`)
      return c
    } catch (err) {
      await c.close()
      throw err
    }
  }

  /** Start one more peer on a fresh data directory. */
  async add (bootstrap?: string): Promise<WorkerPeer> {
    const dir = await tempDir()
    this.dirs.push(dir)
    const p = new WorkerPeer(dir, bootstrap, this.fsync)
    this.peers.push(p)
    return p
  }

  /** SIGKILL a peer and wait for its process to end (its data directory stays). */
  async kill (peer: WorkerPeer): Promise<void> {
    peer.child.kill('SIGKILL')
    await peer.exited
  }

  /** Start a stopped peer again on its data directory, in a new process. */
  restart (peer: WorkerPeer, bootstrap: string): WorkerPeer {
    if (peer.alive()) throw new Error('bench: restart of a running peer')
    const p = new WorkerPeer(peer.dataDir, bootstrap, peer.fsync)
    this.peers[this.peers.indexOf(peer)] = p
    return p
  }

  get primary (): WorkerPeer {
    const p = this.peers.find(p => p.alive() && p.status?.role === 'primary')
    if (p === undefined) throw new Error('bench: no primary')
    return p
  }

  /** A running secondary. */
  get secondary (): WorkerPeer {
    const p = this.peers.find(p => p.alive() && p.status?.role === 'secondary')
    if (p === undefined) throw new Error('bench: no secondary')
    return p
  }

  /** Wait until a condition over the peers holds. */
  async until (check: () => boolean, what: string, timeoutMs?: number): Promise<void> {
    await until(check, what, timeoutMs)
  }

  /** Stop every peer (stdin end, then SIGKILL after 10 s) and remove every directory. */
  async close (): Promise<void> {
    await Promise.all(this.peers.map(async p => {
      if (!p.alive()) return
      p.child.stdin!.end()
      const killer = setTimeout(() => { p.child.kill('SIGKILL') }, 10_000)
      await p.exited
      clearTimeout(killer)
    }))
    await Promise.all(this.dirs.map(removeDir))
  }
}
