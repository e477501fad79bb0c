/**
 * Crash safety: a peer process writing under load is SIGKILLed. The reopened store must hold a
 * consistent prefix of revisions — every revision from 1 to its head, none half-applied — and
 * every write the child saw acknowledged.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { LevelStore, MemoryStore } from '../src/store/index.js'
import type { StoredRecord } from '../src/store/index.js'
import { tempDir } from './helpers/tmp.js'

const dec = new TextDecoder()

async function dump (it: AsyncIterable<[string, StoredRecord]>): Promise<Map<string, StoredRecord>> {
  const m = new Map<string, StoredRecord>()
  for await (const [k, r] of it) m.set(k, r)
  return m
}

for (const round of [1, 2, 3]) {
  test(`a peer SIGKILLed while writing reopens with a consistent prefix and every acked write (round ${round})`, async t => {
    t.timeout(90_000)
    const dir = await tempDir(t)
    const child = spawn(process.execPath, ['--import=tsx', fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url)), dir, '16'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const acked = new Map<number, { key: string, value: string }>()
    const killAfter = 300 + round * 400
    const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
    for await (const line of createInterface({ input: child.stdout })) {
      const [kind, rev, key, value] = line.split(' ')
      if (kind !== 'ack') continue
      acked.set(Number(rev), { key, value })
      if (acked.size === killAfter) child.kill('SIGKILL')
    }
    await exited
    t.true(acked.size >= killAfter, `child acked ${acked.size} writes before it died`)

    const store = new LevelStore({ location: join(dir, 'db') })
    await store.open()
    t.teardown(async () => { await store.close() })
    const { revision, index, firstLogIndex } = store.state
    t.is(firstLogIndex, 1)
    // 1. The log is a gap-free prefix 1..index, and replaying it reproduces the data exactly.
    const log = await store.readLog(1, index + 10)
    t.deepEqual(log.map(e => e.index), Array.from({ length: index }, (_, i) => i + 1))
    t.is(log.at(-1)?.revision ?? 0, revision)
    const replay = new MemoryStore()
    await replay.open()
    await replay.append(log)
    t.deepEqual(await dump(store.range({})), await dump(replay.range({})))
    t.is(store.state.keys, replay.state.keys)
    // 2. Every acknowledged write is there, at its revision.
    const maxAcked = Math.max(...acked.keys())
    t.true(revision >= maxAcked, `store revision ${revision} < acked ${maxAcked}`)
    for (const [rev, { key, value }] of acked) {
      if (value === '!') continue // a delete that found nothing wrote nothing
      const at = await store.getAt(key, rev)
      if (value === '-') t.is(at, undefined, `delete of ${key} at ${rev}`)
      else t.is(at === undefined ? undefined : dec.decode(at.value), value, `${key} at ${rev}`)
    }
  })
}
