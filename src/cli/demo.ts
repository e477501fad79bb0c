/**
 * `kvgrid demo`: a local cluster of N peers on 127.0.0.1, with the shell attached to the first.
 *
 * Peer k keeps its data in DIR/peerK and listens on 127.0.0.1, port basePort + k. Peer 0 runs in
 * this process (shell or piped script); peers 1…N-1 run as child processes
 * (`kvgrid start --no-shell`) bootstrapped to peer 0, with their output in DIR/peerK/peer.log.
 * Every identity is created up front, so all PeerIds are known before anything starts.
 *
 * No orphans: on any exit the children get SIGTERM, are waited for (bounded), then SIGKILLed;
 * if this process dies without cleaning up (an uncaught error, process.exit), its `exit` handler
 * SIGKILLs them; and if it is SIGKILLed, each child sees its IPC channel close and stops itself.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../node/index.js'
import { AbortError, ClusterUnavailableError } from '../errors.js'
import type { DemoArgs } from './args.js'
import type { CliPeer, NoticeSource } from './notices.js'
import { EXIT_FAILURE } from './io.js'
import type { CliIo } from './io.js'
import { describeError, runSession } from './session.js'

/** Cluster name of the demo: a real `kvgrid start` peer on this machine never joins it. */
export const DEMO_CLUSTER = 'kvgrid-demo'

/** How long children get to stop after SIGTERM (a clean leave takes up to 2 s) before SIGKILL. */
export const CHILD_STOP_MS = 10_000

/** How long to wait for a SIGKILLed child to be reaped. */
const CHILD_KILL_MS = 5_000

/** How often the demo re-checks the membership while it waits for every peer to join. */
const MEMBERS_POLL_MS = 100

const BIN = fileURLToPath(new URL('../../bin/kvgrid', import.meta.url))

/** One child peer. */
interface Child {
  index: number
  peerId: string
  dir: string
  log: string
  process: ChildProcess
  /** Resolves when the process exited (never rejects). */
  exited: Promise<void>
  /** How it ended: `code 0`, `signal SIGKILL`, or a spawn error; undefined while running. */
  end?: string
}

const running = (c: Child): boolean => c.end === undefined

/** The demo's child peers: spawn, watch, stop. */
class Children {
  readonly list: Child[] = []
  private readonly exitListeners = new Set<(child: Child) => void>()
  private readonly killNow = (): void => {
    for (const c of this.list) if (running(c)) c.process.kill('SIGKILL')
  }

  constructor (private readonly io: CliIo) {
    // Last resort: this process is exiting without having stopped them.
    process.on('exit', this.killNow)
  }

  spawn (index: number, peerId: string, dir: string, args: string[]): Child {
    const log = join(dir, 'peer.log')
    const fd = openSync(log, 'w')
    let proc: ChildProcess
    try {
      proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', fd, fd, 'ipc'], detached: true })
    } finally {
      closeSync(fd)
    }
    // The IPC channel is there for the child (it stops when the channel closes), not to keep
    // this process alive.
    proc.channel?.unref()
    let child: Child
    const exited = new Promise<void>((resolve) => {
      const ended = (end: string): void => {
        if (child.end !== undefined) return
        child.end = end
        for (const listener of this.exitListeners) listener(child)
        resolve()
      }
      proc.once('error', (err) => { ended(`error ${err.message}`) })
      proc.once('exit', (code, signal) => { ended(code === null ? `signal ${String(signal)}` : `code ${code}`) })
    })
    child = { index, peerId, dir, log, process: proc, exited }
    this.list.push(child)
    return child
  }

  /** Call `listener` for each child that ends from now on; returns the unsubscribe function. */
  onExit (listener: (child: Child) => void): () => void {
    this.exitListeners.add(listener)
    return () => { this.exitListeners.delete(listener) }
  }

  /** SIGTERM every running child, wait (bounded), SIGKILL the rest. Never rejects. */
  async stop (): Promise<void> {
    try {
      for (const c of this.list) if (running(c)) c.process.kill('SIGTERM')
      if (!await within(this.all(), CHILD_STOP_MS)) {
        for (const c of this.list) {
          if (!running(c)) continue
          this.io.stderr.write(`kvgrid: demo peer ${c.index} (pid ${c.process.pid}) did not stop within ${CHILD_STOP_MS} ms; killing it\n`)
          c.process.kill('SIGKILL')
        }
        await within(this.all(), CHILD_KILL_MS)
      }
    } finally {
      process.off('exit', this.killNow)
    }
  }

  private async all (): Promise<void> {
    await Promise.all(this.list.map(async (c) => { await c.exited }))
  }
}

/** Whether `promise` settled within `ms`. */
async function within (promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once every id in `ids` is a member in `peer`'s view; rejects on abort or a child's exit. */
async function waitForMembers (peer: CliPeer, ids: string[], children: Children, signal: AbortSignal): Promise<void> {
  const joined = (): boolean => {
    const members = new Set(peer.status().members.map((m) => m.peerId))
    return ids.every((id) => members.has(id))
  }
  if (joined()) return
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!joined()) return
      done()
      resolve()
    }
    const onAbort = (): void => {
      done()
      reject(new AbortError('the wait for the demo peers was aborted'))
    }
    const onChildExit = (c: Child): void => {
      done()
      reject(new ClusterUnavailableError(`demo peer ${c.index} (pid ${c.process.pid}) ended (${c.end}) before it joined; see ${c.log}`))
    }
    const poll = setInterval(check, MEMBERS_POLL_MS)
    const unsubscribe = children.onExit(onChildExit)
    const done = (): void => {
      clearInterval(poll)
      unsubscribe()
      peer.removeEventListener('members', check)
      signal.removeEventListener('abort', onAbort)
    }
    peer.addEventListener('members', check)
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    const early = children.list.find((c) => !running(c))
    if (early !== undefined) onChildExit(early)
  })
}

/** `kvgrid demo`: resolves to the exit code. */
export async function runDemo (args: DemoArgs, io: CliIo): Promise<number> {
  const root = resolve(args.dataDir)
  const dirs = Array.from({ length: args.peers }, (_, k) => join(root, `peer${k}`))
  const port = (k: number): number => args.basePort + k
  const listen = (k: number): string => `/ip4/127.0.0.1/tcp/${port(k)}`
  let ids: string[]
  try {
    ids = []
    for (const dir of dirs) {
      await mkdir(dir, { recursive: true })
      ids.push(peerIdFromPrivateKey(await loadOrCreateIdentity(dir)).toString())
    }
  } catch (err) {
    io.stderr.write(`error: ${describeError(err)}\n`)
    return EXIT_FAILURE
  }
  const seed = `${listen(0)}/p2p/${ids[0]}`
  const mdns = args.mdns ? '--mdns' : '--no-mdns'
  const children = new Children(io)

  const started = async (): Promise<void> => {
    const ports = args.peers === 1 ? `port ${port(0)}` : `ports ${port(0)}-${port(args.peers - 1)}`
    io.stderr.write(`kvgrid: demo cluster ${DEMO_CLUSTER}: ${args.peers} peer${args.peers === 1 ? '' : 's'} on 127.0.0.1, ${ports}, data in ${root}\n`)
    io.stderr.write(`kvgrid: demo peer 0 (pid ${process.pid}, this shell) ${ids[0]} on ${listen(0)}\n`)
    for (let k = 1; k < args.peers; k++) {
      const child = children.spawn(k, ids[k], dirs[k], [
        'start', '--no-shell', '--data', dirs[k], '--listen', listen(k), '--bootstrap', seed, mdns,
        '--cluster', DEMO_CLUSTER, '--ready-timeout', String(args.readyTimeoutMs)
      ])
      io.stderr.write(`kvgrid: demo peer ${k} (pid ${child.process.pid}) ${ids[k]} on ${listen(k)}, log ${child.log}\n`)
    }
  }
  const notices: NoticeSource = (notify) => children.onExit((c) => {
    notify(`kvgrid: demo peer ${c.index} (pid ${c.process.pid}) ended (${c.end}); see ${c.log}`)
  })
  const readyHint = (peer: CliPeer): string => {
    const members = new Set(peer.status().members.map((m) => m.peerId))
    const missing = ids.flatMap((id, k) => members.has(id) ? [] : [k === 0 ? 'peer 0' : `peer ${k} (log ${join(dirs[k], 'peer.log')})`])
    return (missing.length === 0 ? '' : `not members yet: ${missing.join(', ')}; `) + `to start the demo afresh, remove ${root}`
  }

  return await runSession({
    peer: { dataDir: dirs[0], listen: [listen(0)], mdns: args.mdns, cluster: DEMO_CLUSTER },
    shell: true,
    readyTimeoutMs: args.readyTimeoutMs,
    io,
    announce: true,
    startHint: `if port ${port(0)} is in use (another demo?), choose other ports with --base-port P`,
    readyHint,
    hooks: {
      started,
      ready: async (peer, signal) => { await waitForMembers(peer, ids, children, signal) },
      notices,
      cleanup: async () => { await children.stop() }
    }
  })
}
