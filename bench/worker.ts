/**
 * One benchmark measurement, run in its own process (so every peer and the ceiling run fresh,
 * with nothing else in the heap). Prints one JSON line with the result.
 *
 *   worker.ts acked-write DIR IN_FLIGHT COUNT FSYNC   acked writes through the peer API
 *   worker.ts ceiling-level DIR COUNT                 raw classic-level batches of 1000 puts
 *   worker.ts ceiling-tcp COUNT                       raw TCP round trips on 127.0.0.1
 *   worker.ts compare-redis PORT IN_FLIGHT COUNT      SET + WAIT 2 1000 to a Redis primary (bench/compare.ts)
 *   worker.ts compare-etcd URL IN_FLIGHT COUNT        puts to an etcd member's JSON gateway (bench/compare.ts)
 *
 * Every loop is bounded by its COUNT and by a 60 s deadline.
 */
import { createServer, connect } from 'node:net'
import { ClassicLevel } from 'classic-level'
import type * as Kvgrid from '../src/index.js'
import { etcdLoad, redisLoad } from './compare.js'
import { quantile } from './stats.js'

// Peers run the compiled package, as shipped (`npm run bench` builds dist/ first).
const { createPeer } = await import(new URL('../dist/index.js', import.meta.url).href) as typeof Kvgrid

const DEADLINE = Date.now() + 60_000
const [mode, ...args] = process.argv.slice(2)

function emit (result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(result) + '\n')
}

async function ackedWrite (dir: string, inFlight: number, count: number, fsync: boolean): Promise<void> {
  const peer = await createPeer({ dataDir: dir, fsync, standalone: true })
  const value = new Uint8Array(100).fill(120)
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < count && Date.now() < DEADLINE) {
      const i = next++
      const t0 = performance.now()
      await peer.set(`key-${i % 10_000}`, value)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
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

async function ceilingTcp (count: number): Promise<void> {
  const server = createServer(socket => { socket.setNoDelay(true); socket.on('data', d => socket.write(d)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>(resolve => socket.once('connect', () => resolve()))
  const payload = Buffer.alloc(32, 1)
  const rtts: number[] = []
  for (let i = 0; i < count && Date.now() < DEADLINE; i++) {
    const t0 = performance.now()
    await new Promise<void>(resolve => {
      let got = 0
      const onData = (d: Buffer): void => { got += d.length; if (got >= payload.length) { socket.off('data', onData); resolve() } }
      socket.on('data', onData)
      socket.write(payload)
    })
    rtts.push(performance.now() - t0)
  }
  socket.destroy()
  server.close()
  emit({ ops: rtts.length, p50Ms: quantile(rtts, 0.5), p99Ms: quantile(rtts, 0.99) })
}

if (mode === 'acked-write') await ackedWrite(args[0], Number(args[1]), Number(args[2]), args[3] !== 'false')
else if (mode === 'ceiling-level') await ceilingLevel(args[0], Number(args[1]))
else if (mode === 'ceiling-tcp') await ceilingTcp(Number(args[0]))
else if (mode === 'compare-redis') emit(await redisLoad(Number(args[0]), Number(args[1]), Number(args[2]), DEADLINE))
else if (mode === 'compare-etcd') emit(await etcdLoad(args[0], Number(args[1]), Number(args[2]), DEADLINE))
else throw new Error(`unknown mode ${mode}`)
