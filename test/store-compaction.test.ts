/**
 * Compaction of the LevelDB store against the memory store, on random workloads made by the real
 * planner: sets (some with a TTL), deletes, extends and expiries of a few keys, several commands
 * per batch, entries with and without `prevRevision` (log formats 2 and 1, also mixed), random
 * floors, passes aborted midway and resumed at a higher floor. After every compaction both
 * stores answer every read at or above the floor alike; at the end no history row is left over.
 */
import test from 'ava'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { LevelStore, MemoryStore } from '../src/store/index.js'
import type { LogEntry, Mutation, Store, StoredRecord } from '../src/store/index.js'
import { plan } from '../src/core/evaluate.js'
import type { Command } from '../src/core/evaluate.js'
import { decodeLogEntry, encodeLogEntry, HISTORY_END, HISTORY_START } from '../src/store/codec.js'
import { tempDir } from './helpers/tmp.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const KEYS = ['a', 'b', 'c', 'dd', 'e']
const show = (r: StoredRecord | undefined): string => r === undefined ? '-' : `${dec.decode(r.value)}@${r.revision}`

/** Entries as a peer stores them (encoded and decoded), without `prevRevision` when `old`. */
function stored (entries: LogEntry[], old: boolean): LogEntry[] {
  return entries.map(e => decodeLogEntry(encodeLogEntry(old ? { ...e, mutations: e.mutations.map(({ prevRevision, ...m }) => m as Mutation) } : e).slice()))
}

for (const [seed, oldShare] of [[1, 0], [5, 0], [2, 0.5], [3, 1]] as const) {
  test(`compaction agrees with the memory store on random workloads (seed ${seed}, ${oldShare * 100} % format-1 entries)`, async t => {
    let s = seed
    const rnd = (n: number): number => { s = (s * 1103515245 + 12345) % 2147483648; return s % n }
    const dir = await tempDir(t)
    const location = join(dir, 'db')
    const level = new LevelStore({ location })
    const memory = new MemoryStore()
    await level.open()
    await memory.open()
    let now = 1e6
    let compactions = 0
    const append = async (entries: LogEntry[], old: boolean): Promise<void> => {
      const e = stored(entries, old)
      await level.append(e, { sync: false })
      await memory.append(e)
    }
    const agree = async (from: number, what: string): Promise<void> => {
      for (let rev = from; rev <= level.state.revision; rev++) {
        for (const k of KEYS) {
          const [x, y] = [show(await level.getAt(k, rev)), show(await memory.getAt(k, rev))]
          if (x !== y) t.fail(`${what}: getAt(${k}, ${rev}) level ${x}, memory ${y}`)
        }
      }
    }
    for (let step = 0; step < 700; step++) {
      const commands: Command[] = []
      for (let i = 1 + rnd(5); i > 0; i--) {
        const key = KEYS[rnd(KEYS.length)]
        const o = rnd(10)
        if (o < 4) commands.push({ op: 'set', key, value: enc.encode(`${step}.${i}`), ...(rnd(3) === 0 ? { ttlMs: 1 + rnd(8) } : {}) })
        else if (o < 6) commands.push({ op: 'delete', key })
        else if (o < 7) commands.push({ op: 'extend', key, ttlMs: rnd(2) * 5 })
        else {
          const r = await level.get(key)
          if (r?.expiresAt !== undefined) commands.push({ op: 'expire', key, expiresAt: r.expiresAt })
        }
      }
      now += 2
      const keys = [...new Set(commands.map(c => c.key))]
      const found = await level.getMany(keys)
      const { entries } = plan(commands, new Map(keys.map((k, i) => [k, found[i]])), level.state, 1, now)
      if (entries.length > 0) await append(entries, rnd(100) < oldShare * 100)
      if (rnd(40) === 0 && level.state.revision > level.state.compactedRevision) {
        const floor = level.state.compactedRevision + 1 + rnd(level.state.revision - level.state.compactedRevision)
        // Some passes stop between steps (as on stop); the next, higher floor finishes them.
        let steps = 0
        const limit = rnd(4)
        const signal = { get aborted () { return steps++ >= limit } } as unknown as AbortSignal
        await level.compact(floor, rnd(2) === 0 ? { signal } : undefined)
        await memory.compact(floor)
        compactions++
        await agree(floor, `after compact(${floor})`)
      }
    }
    t.true(compactions >= 5, `${compactions} compactions`)
    // A last entry on a fresh key, then everything below it compacted: each key keeps at most
    // its newest row (none when that is a tombstone), plus the fresh key's.
    const { entries } = plan([{ op: 'set', key: 'last', value: enc.encode('z') }], new Map([['last', undefined]]), level.state, 1, now)
    await append(entries, false)
    const floor = level.state.revision
    await level.compact(floor)
    await memory.compact(floor)
    await agree(floor, 'after the last compaction')
    let live = 1
    for (const k of KEYS) if (await level.getAt(k, floor) !== undefined) live++
    await level.close()
    const db = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    t.teardown(async () => { await db.close() })
    t.is((await db.keys({ gte: HISTORY_START, lt: HISTORY_END }).all()).length, live, 'history rows left')
  })
}

/** A store written through the planner, as a primary writes (one entry per command). */
class Writer {
  now = 1_000_000
  constructor (readonly store: Store, readonly term = 1) {}
  /** Plan `commands` (then expire the TTL key when due) and append; the entries as stored. */
  async write (commands: Command[]): Promise<LogEntry[]> {
    this.now += 3
    const out = [...await this.planAndAppend(commands)]
    const t = await this.store.get('t')
    if (t?.expiresAt !== undefined && t.expiresAt <= this.now) out.push(...await this.planAndAppend([{ op: 'expire', key: 't', expiresAt: t.expiresAt }]))
    return out
  }

  private async planAndAppend (commands: Command[]): Promise<LogEntry[]> {
    const keys = [...new Set(commands.map(c => c.key))]
    const found = await this.store.getMany(keys)
    const { entries } = plan(commands, new Map(keys.map((k, i) => [k, found[i]])), this.store.state, this.term, this.now)
    if (entries.length > 0) await this.store.append(entries, { sync: false })
    return stored(entries, false)
  }
}

const SCENARIO_KEYS = ['a', 'b', 'c', 'd', 'e', 't']
/** Deterministic batches mixing set, delete-then-set, extend, TTL sets, several changes of one key, deletes. */
function batch (i: number): Command[] {
  const k = SCENARIO_KEYS[i % 5]
  switch (i % 7) {
    case 0: return [{ op: 'set', key: k, value: enc.encode(`v${i}`) }]
    case 1: return [{ op: 'delete', key: k }, { op: 'set', key: k, value: enc.encode(`r${i}`) }]
    case 2: return [{ op: 'extend', key: k, ttlMs: 0 }]
    case 3: return [{ op: 'set', key: 't', value: enc.encode(`t${i}`), ttlMs: 5 }]
    case 4: return [{ op: 'set', key: k, value: enc.encode(`w${i}`) }, { op: 'set', key: k, value: enc.encode(`x${i}`) }, { op: 'delete', key: k }]
    case 5: return [{ op: 'delete', key: k }]
    default: return [{ op: 'set', key: k, value: enc.encode(`y${i}`) }]
  }
}

async function historyRows (location: string): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    return (await db.keys({ gte: HISTORY_START, lt: HISTORY_END }).all()).length
  } finally {
    await db.close()
  }
}

async function sameReads (t: any, a: Store, b: Store, from: number, what: string): Promise<void> {
  for (let rev = from; rev <= a.state.revision; rev++) {
    for (const k of SCENARIO_KEYS) {
      const [x, y] = [show(await a.getAt(k, rev)), show(await b.getAt(k, rev))]
      if (x !== y) { t.fail(`${what}: getAt(${k}, ${rev}) ${x}, expected ${y}`); return }
    }
  }
}

test('a replica that caught up by snapshot compacts like its primary: same reads, same history rows', async t => {
  const [pDir, rDir] = [await tempDir(t), await tempDir(t)]
  const primary = new LevelStore({ location: join(pDir, 'db') })
  const replica = new LevelStore({ location: join(rDir, 'db') })
  const reference = new MemoryStore()
  for (const s of [primary, replica, reference]) await s.open()
  const w = new Writer(primary)
  for (let i = 0; i < 300; i++) await reference.append(await w.write(batch(i)))
  const snap = primary.snapshot()
  await replica.beginInstall(snap.state)
  for await (const chunk of snap.packed({ maxRecords: 2, maxBytes: 1000 })) await replica.installPacked(chunk)
  await replica.finishInstall()
  await snap.close()
  for (let i = 300; i < 900; i++) {
    const e = await w.write(batch(i * 3 + 1))
    await replica.append(e)
    await reference.append(e)
  }
  // A pass stopped after two steps, then a higher floor finishes it.
  const first = primary.state.revision - 500
  for (const s of [primary, replica, reference]) {
    let steps = 0
    await s.compact(first, { signal: { get aborted () { return ++steps > 2 } } as unknown as AbortSignal })
  }
  const floor = primary.state.revision - 40
  for (const s of [primary, replica, reference]) await s.compact(floor)
  await sameReads(t, primary, reference, floor, 'primary')
  await sameReads(t, replica, reference, floor, 'replica')
  await primary.close()
  await replica.close()
  t.is(await historyRows(join(rDir, 'db')), await historyRows(join(pDir, 'db')))
})

test('a deposed primary that undid its suffix and took the new primary\'s entries compacts like it', async t => {
  const [pDir, qDir] = [await tempDir(t), await tempDir(t)]
  const deposed = new LevelStore({ location: join(pDir, 'db') })
  const next = new LevelStore({ location: join(qDir, 'db') })
  await deposed.open()
  await next.open()
  const wp = new Writer(deposed)
  for (let i = 0; i < 120; i++) await next.append(await wp.write(batch(i)))
  const base = deposed.state.index
  for (let i = 0; i < 30; i++) await wp.write(batch(i * 5 + 2)) // never reached the others
  const wq = new Writer(next, 2)
  wq.now = wp.now
  const taken: LogEntry[] = []
  for (let i = 0; i < 60; i++) taken.push(...await wq.write(batch(i * 11 + 3)))
  await deposed.truncateAfter(base)
  await deposed.append(taken)
  const floor = deposed.state.revision - 10
  await deposed.compact(floor)
  await next.compact(floor)
  await sameReads(t, deposed, next, floor, 'deposed')
  await deposed.close()
  await next.close()
  t.is(await historyRows(join(pDir, 'db')), await historyRows(join(qDir, 'db')))
})
