/**
 * One benchmark measurement, run in its own process (so every peer and the ceiling run fresh,
 * with nothing else in the heap). Prints one JSON line with the result.
 *
 *   worker.ts acked-write DIR IN_FLIGHT COUNT FSYNC   acked writes through the peer API
 *   worker.ts ceiling-level DIR COUNT                 raw classic-level batches of 1000 puts
 *   worker.ts ceiling-tcp COUNT                       raw TCP round trips on 127.0.0.1, to an echo process
 *   worker.ts ceiling-libp2p DIR COUNT                round trips of kvgrid frames (Noise, Yamux) to an echo peer process
 *   worker.ts tcp-echo | libp2p-echo DIR              the echo processes of the two above (until stdin closes)
 *   worker.ts compare-redis PORT IN_FLIGHT COUNT      SET + WAIT 2 1000 to a Redis primary (bench/compare.ts)
 *   worker.ts compare-etcd URL IN_FLIGHT COUNT        puts to an etcd member's JSON gateway (bench/compare.ts)
 *
 * Every loop is bounded by its COUNT and by a 60 s deadline (a round trip still waiting at the
 * deadline fails the measurement). An echo process exits when its parent's pipe closes (at most
 * 5 s later) and in any case 120 s after it started.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import type * as Kvgrid from '../src/index.js'
import { etcdLoad, redisLoad } from './compare.js'
import { quantile } from './stats.js'

// Peers run the compiled package, as shipped (`npm run bench` builds dist/ first).
const { createPeer } = await import(new URL('../dist/index.js', import.meta.url).href) as typeof Kvgrid
const dist = async <T>(path: string): Promise<T> => await import(new URL(`../dist/${path}`, import.meta.url).href) as T

const DEADLINE = Date.now() + 60_000
const [mode, ...args] = process.argv.slice(2)

function emit (result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(result) + '\n')
}

async function ackedWrite (dir: string, inFlight: number, count: number, fsync: boolean): Promise<void> {
  const peer = await createPeer({ dataDir: dir, fsync, standalone: true })
  const value = new Uint8Array(100).fill(120)
  /** `count` writes, `inFlight` at a time: the latency of each. */
  const load = async (inFlight: number, count: number): Promise<number[]> => {
    const latencies: number[] = []
    let next = 0
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < count && Date.now() < DEADLINE) {
        const i = next++
        const t0 = performance.now()
        await peer.set(`key-${i % 10_000}`, value)
        latencies.push(performance.now() - t0)
      }
    }))
    return latencies
  }
  // Warm up, unmeasured, as the networked clusters do (bench/run.ts).
  await load(16, Math.min(4000, count))
  await load(1, Math.min(1000, count))
  const started = performance.now()
  const latencies = await load(inFlight, count)
  const seconds = (performance.now() - started) / 1000
  await peer.stop()
  emit({ ops: latencies.length, opsPerSec: latencies.length / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) })
}

async function ceilingLevel (dir: string, count: number): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  const value = new Uint8Array(100).fill(120)
  const started = performance.now()
  let done = 0
  while (done < count && Date.now() < DEADLINE) {
    const batch = db.batch()
    for (let j = 0; j < 1000; j++, done++) batch.put(`key-${done}`, value)
    await batch.write({ sync: true })
  }
  const seconds = (performance.now() - started) / 1000
  await db.close()
  emit({ ops: done, opsPerSec: done / seconds })
}

/** Start this script in `mode` as an echo process; resolves with it and the first line it prints. */
async function echoProcess (mode: string, ...args: string[]): Promise<{ child: ChildProcess, line: string }> {
  // stderr ignored: an echo process must not hold the worker's output open after it exits.
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], mode, ...args], { stdio: ['pipe', 'pipe', 'ignore'] })
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${mode} was not ready within 30 s`)) }, 30_000)
      createInterface({ input: child.stdout! }).once('line', l => { clearTimeout(timer); resolve(l) })
      child.once('error', err => { clearTimeout(timer); reject(err) })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`${mode} exited (${String(code)}) before it was ready`)) })
    })
    return { child, line }
  } catch (err) {
    await stopEcho(child)
    throw err
  }
}

/** Close an echo process's pipe and wait for it to exit (killed after 5 s). */
async function stopEcho (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  child.stdin?.end()
  await exited
  clearTimeout(timer)
}

/** An echo process: exit once the parent's pipe closes (it finished, or died), and after 120 s regardless. */
function exitWithParent (cleanup: () => Promise<void>): void {
  setTimeout(() => process.exit(1), 120_000).unref()
  process.stdin.on('close', () => {
    setTimeout(() => process.exit(0), 5000).unref()
    void cleanup().finally(() => process.exit(0))
  })
  process.stdin.resume()
}

/** One round trip: `start` sends (false: not sent) and calls `done` when the echo is back; rejects at the deadline. */
async function beforeDeadline (start: (done: () => void) => boolean): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('a round trip was still waiting at the deadline')) }, Math.max(0, DEADLINE - Date.now()))
    if (!start(() => { clearTimeout(timer); resolve() })) {
      clearTimeout(timer)
      reject(new Error('a frame could not be sent'))
    }
  })
}

/** Round trips of `payload` through `roundTrip`: latency quantiles and this process's CPU per round trip. */
async function roundTrips (count: number, roundTrip: () => Promise<void>): Promise<Record<string, number>> {
  for (let i = 0; i < Math.min(2000, count) && Date.now() < DEADLINE; i++) await roundTrip() // warm up
  const rtts: number[] = []
  const cpu = process.cpuUsage()
  for (let i = 0; i < count && Date.now() < DEADLINE; i++) {
    const t0 = performance.now()
    await roundTrip()
    rtts.push(performance.now() - t0)
  }
  const used = process.cpuUsage(cpu)
  return { ops: rtts.length, p50Ms: quantile(rtts, 0.5), p99Ms: quantile(rtts, 0.99), cpuUsPerRoundTrip: (used.user + used.system) / rtts.length }
}

async function tcpEcho (): Promise<void> {
  const server = createServer(socket => { socket.setNoDelay(true); socket.on('data', d => socket.write(d)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  exitWithParent(async () => { server.close() })
  emit({ port: (server.address() as { port: number }).port })
}

async function ceilingTcp (count: number): Promise<void> {
  const { child, line } = await echoProcess('tcp-echo')
  const socket = connect(JSON.parse(line).port, '127.0.0.1')
  try {
    socket.setNoDelay(true)
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const payload = Buffer.alloc(32, 1)
    emit(await roundTrips(count, async () => await beforeDeadline(done => {
      let got = 0
      const onData = (d: Buffer): void => { got += d.length; if (got >= payload.length) { socket.off('data', onData); done() } }
      socket.on('data', onData)
      socket.write(payload)
      return true
    })))
  } finally {
    socket.destroy()
    await stopEcho(child)
  }
}

const LIBP2P_PROTOCOL = '/kvgrid/bench-echo/1.0.0'

/** A kvgrid libp2p node (as a peer makes it: TCP, Noise, Yamux; mDNS off) and a Messenger on it. */
async function messengerNode (dir: string, onMessage: (from: string, frame: Uint8Array) => void): Promise<{ node: any, messenger: any }> {
  const { createNode, loadOrCreateIdentity } = await dist<typeof import('../src/node/index.js')>('node/index.js')
  const { Messenger } = await dist<typeof import('../src/net/messenger.js')>('net/messenger.js')
  await mkdir(dir, { recursive: true })
  const { node } = await createNode({ privateKey: await loadOrCreateIdentity(dir), cluster: 'bench', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  await node.start()
  const messenger = new Messenger({ node, protocol: LIBP2P_PROTOCOL, maxFrameBytes: 1 << 20, onMessage })
  await messenger.start()
  return { node, messenger }
}

async function libp2pEcho (dir: string): Promise<void> {
  const { node, messenger } = await messengerNode(dir, (from, frame) => { messenger.send(from, frame) })
  exitWithParent(async () => { await messenger.stop(); await node.stop() })
  emit({ multiaddr: node.getMultiaddrs()[0].toString() })
}

async function ceilingLibp2p (dir: string, count: number): Promise<void> {
  const { child, line } = await echoProcess('libp2p-echo', join(dir, 'echo'))
  try {
    let arrived = (): void => {}
    const { node, messenger } = await messengerNode(join(dir, 'self'), () => { arrived() })
    try {
      const { multiaddr } = await import('@multiformats/multiaddr')
      const to = JSON.parse(line).multiaddr as string
      await node.dial(multiaddr(to))
      const peer = to.split('/p2p/')[1]
      const payload = new Uint8Array(100).fill(120)
      emit(await roundTrips(count, async () => await beforeDeadline(done => { arrived = done; return messenger.send(peer, payload) })))
    } finally {
      await messenger.stop()
      await node.stop()
    }
  } finally {
    await stopEcho(child)
  }
}

if (mode === 'acked-write') await ackedWrite(args[0], Number(args[1]), Number(args[2]), args[3] !== 'false')
else if (mode === 'ceiling-level') await ceilingLevel(args[0], Number(args[1]))
else if (mode === 'ceiling-tcp') await ceilingTcp(Number(args[0]))
else if (mode === 'ceiling-libp2p') await ceilingLibp2p(args[0], Number(args[1]))
else if (mode === 'tcp-echo') await tcpEcho()
else if (mode === 'libp2p-echo') await libp2pEcho(args[0])
else if (mode === 'compare-redis') emit(await redisLoad(Number(args[0]), Number(args[1]), Number(args[2]), DEADLINE))
else if (mode === 'compare-etcd') emit(await etcdLoad(args[0], Number(args[1]), Number(args[2]), DEADLINE))
else throw new Error(`unknown mode ${mode}`)
