/**
 * Repeatable requests in the sequencer: a write submitted with a request fingerprint is made at
 * most once. A repeat joins the running write, or is answered from the entry the first one made
 * — after confirming, through replication's ack wait, that every member holds it: directly for
 * an entry of this term, through a later entry of this term (an empty barrier if none) for an
 * entry of an earlier term, as after a failover. MemoryStore, hooks recorded; no network.
 */
import test from 'ava'
import { Sequencer } from '../src/core/sequencer.js'
import { requestFingerprint } from '../src/core/request.js'
import type { CommandResult, SetCommand } from '../src/core/evaluate.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { OperationFailedError } from '../src/errors.js'
import type { LogEntry, RequestEntry } from '../src/store/types.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

interface Rig {
  store: MemoryStore
  seq: Sequencer
  sent: LogEntry[][]
  confirmed: number[]
  term: { now: number | undefined }
  /** Settle the commit hook's pending acks (true) or hold them (false). */
  ack: { auto: boolean, pending: Array<() => void> }
  confirmFails: { on: boolean }
  commitFails: { on: boolean }
  /** The leadership hook (read barrier): calls made, fail them, or hold them until released. */
  lead: { calls: number, fails: boolean, hold: boolean, pending: Array<() => void> }
}

async function rig (opts: { replicated?: boolean, store?: MemoryStore } = {}): Promise<Rig> {
  const store = opts.store ?? new MemoryStore()
  await store.open()
  const sent: LogEntry[][] = []
  const confirmed: number[] = []
  const term = { now: 1 as number | undefined }
  const ack = { auto: true, pending: [] as Array<() => void> }
  const confirmFails = { on: false }
  const commitFails = { on: false }
  const lead = { calls: 0, fails: false, hold: false, pending: [] as Array<() => void> }
  const seq = new Sequencer({
    store,
    sync: false,
    maxBatchWrites: 64,
    term: () => term.now,
    ...(opts.replicated === false
      ? {}
      : {
          commit: async (entries: LogEntry[]) => {
            sent.push(entries)
            if (commitFails.on) throw new OperationFailedError('not confirmed by 1 member(s) within 1000 ms', '', { unconfirmed: ['peer-b'] })
            if (!ack.auto) await new Promise<void>(resolve => { ack.pending.push(resolve) })
          },
          confirm: async (index: number) => {
            confirmed.push(index)
            if (confirmFails.on) throw new OperationFailedError('not confirmed by 1 member(s) within 1000 ms', '', { unconfirmed: ['peer-b'] })
          },
          leadership: async () => {
            lead.calls++
            if (lead.hold) await new Promise<void>(resolve => { lead.pending.push(resolve) })
            if (lead.fails) throw new OperationFailedError('a majority of the members did not confirm this primary within 1000 ms', '')
          }
        })
  })
  return { store, seq, sent, confirmed, term, ack, confirmFails, commitFails, lead }
}

const set = (key: string, value: string, extra: Partial<SetCommand> = {}): SetCommand => ({ op: 'set', key, value: enc(value), ...extra })

/** `set k v` as request 'id' with its fingerprint; `submit(seq)` sends it (again). */
function repeatable (): { c: SetCommand, fp: Uint8Array, submit: (seq: Sequencer) => Promise<CommandResult> } {
  const c = set('k', 'v')
  const fp = requestFingerprint('id', c)
  return { c, fp, submit: async seq => await seq.submit(c, 'id', undefined, fp) }
}

test('standalone: a repeated request is answered from its entry, not written again', async t => {
  const { store, seq } = await rig({ replicated: false })
  const c = set('k', 'v')
  const fp = requestFingerprint('id-1', c)
  const first = await seq.submit(c, 'id-1', undefined, fp)
  t.deepEqual(first, { ok: true, revision: 1 })
  t.deepEqual(await seq.submit(c, 'id-1', undefined, fp), { ok: true, revision: 1 })
  t.is(store.state.revision, 1, 'written once')
  // Another write in between does not change the answer.
  await seq.submit(set('k', 'other'), 'id-2')
  t.deepEqual(await seq.submit(c, 'id-1', undefined, fp), { ok: true, revision: 1 })
  t.is(store.state.revision, 2)
  // The entry carries the fingerprint; the write without one does not.
  const log = await store.readLog(1, 10)
  t.deepEqual(log[0].request, fp)
  t.is(log[1].request, undefined)
})

test('a conditional write repeated after it succeeded gets its success again, not the failed condition', async t => {
  const { store, seq } = await rig({ replicated: false })
  const c = set('k', 'v', { ifNotExists: true })
  const fp = requestFingerprint('create', c)
  t.deepEqual(await seq.submit(c, 'create', undefined, fp), { ok: true, revision: 1 })
  t.deepEqual(await seq.submit(c, 'create', undefined, fp), { ok: true, revision: 1 }, 'evaluated again it would fail: the key exists')
  t.is(store.state.revision, 1)
  // The same id with another command is another request.
  const other = set('k', 'w', { ifNotExists: true })
  t.deepEqual(await seq.submit(other, 'create', undefined, requestFingerprint('create', other)), { ok: false, revision: 1 })
})

test('a request whose condition failed left no entry and is evaluated again when repeated', async t => {
  const { store, seq } = await rig({ replicated: false })
  const c = set('k', 'v', { ifExists: true })
  const fp = requestFingerprint('update', c)
  t.deepEqual(await seq.submit(c, 'update', undefined, fp), { ok: false, revision: 0 })
  await seq.submit(set('k', 'created'), 'w')
  t.deepEqual(await seq.submit(c, 'update', undefined, fp), { ok: true, revision: 2 }, 'the key exists now')
  t.is(store.state.revision, 2)
})

test('concurrent repeats join the running write: one entry, one answer for all', async t => {
  const { store, seq, ack } = await rig()
  ack.auto = false
  const c = set('k', 'v')
  const fp = requestFingerprint('id', c)
  const all = [seq.submit(c, 'id', undefined, fp), seq.submit(c, 'id', undefined, fp), seq.submit(c, 'id', undefined, fp)]
  while (ack.pending.length === 0) await new Promise(resolve => setImmediate(resolve))
  for (const settle of ack.pending.splice(0)) settle()
  const results = await Promise.all(all)
  t.deepEqual(results, [{ ok: true, revision: 1 }, { ok: true, revision: 1 }, { ok: true, revision: 1 }])
  t.is(store.state.index, 1)
})

test('a repeat of an entry of this term is confirmed through replication at its own index', async t => {
  const { seq, sent, confirmed } = await rig()
  const c = set('k', 'v')
  const fp = requestFingerprint('id', c)
  await seq.submit(set('a', '1'), 'w1')
  await seq.submit(c, 'id', undefined, fp)
  t.deepEqual(await seq.submit(c, 'id', undefined, fp), { ok: true, revision: 2 })
  t.deepEqual(confirmed, [2])
  t.is(sent.length, 2, 'nothing new sent')
})

test('after a failover: a repeat of an entry of an earlier term writes one barrier in the new term, then answers from the entry', async t => {
  const store = new MemoryStore()
  const old = await rig({ store })
  const r = repeatable()
  await r.submit(old.seq) // made in term 1 by the old primary
  await old.seq.stop()
  // The same log, now led in term 2 (the new primary held the entry).
  const now = await rig({ store })
  now.term.now = 2
  t.deepEqual(await r.submit(now.seq), { ok: true, revision: 1 })
  t.is(now.sent.length, 1)
  t.deepEqual(now.sent[0], [{ index: 2, term: 2, revision: 1, mutations: [] }], 'an empty entry: no revision used')
  t.deepEqual(now.confirmed, [], 'the barrier\'s own acknowledgement was the confirmation')
  t.like(store.state, { index: 2, term: 2, revision: 1 })
  // Once the term has an entry, later repeats confirm at it: no second barrier.
  t.deepEqual(await r.submit(now.seq), { ok: true, revision: 1 })
  t.is(now.sent.length, 1)
  t.deepEqual(now.confirmed, [2])
})

test('a repeat whose entry cannot be confirmed fails with OperationFailedError naming its request id, and writes nothing', async t => {
  const { store, seq, confirmFails } = await rig()
  const r = repeatable()
  await r.submit(seq)
  confirmFails.on = true
  const err = await t.throwsAsync(r.submit(seq), { instanceOf: OperationFailedError })
  t.is(err?.id, 'id')
  t.deepEqual(err?.unconfirmed, ['peer-b'])
  t.is(store.state.index, 1)
})

test('a repeat reaching a peer that no longer leads fails, and writes nothing', async t => {
  const { store, seq, term } = await rig()
  const r = repeatable()
  await r.submit(seq)
  term.now = undefined
  await t.throwsAsync(r.submit(seq), { instanceOf: OperationFailedError })
  t.is(store.state.index, 1)
})

test('a new primary answers ok: false only once its term has an entry on every member: a barrier first when it has none', async t => {
  const store = new MemoryStore()
  const old = await rig({ store })
  await old.seq.submit(set('k', 'v'), 'w1') // term 1
  await old.seq.stop()
  const now = await rig({ store })
  now.term.now = 2
  now.ack.auto = false
  let answered = false
  const rejected = now.seq.submit(set('k', 'x', { ifNotExists: true }), 'w2').then(r => { answered = true; return r })
  while (now.ack.pending.length === 0) await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(now.sent, [[{ index: 2, term: 2, revision: 1, mutations: [] }]], 'a barrier, not the failed write')
  await new Promise(resolve => setImmediate(resolve))
  t.false(answered, 'not before the barrier is acknowledged')
  for (const settle of now.ack.pending.splice(0)) settle()
  t.deepEqual(await rejected, { ok: false, revision: 1 })
  // The term is confirmed now: the next failed condition is answered at once, nothing sent.
  t.deepEqual(await now.seq.submit(set('k', 'y', { ifNotExists: true }), 'w3'), { ok: false, revision: 1 })
  t.is(now.sent.length, 1)
})

test('a new primary that cannot confirm its term fails an ok: false answer with OperationFailedError instead', async t => {
  const { seq, term, commitFails, confirmFails } = await rig()
  await seq.submit(set('k', 'v'), 'w1') // term 1
  term.now = 2
  commitFails.on = true // the members do not acknowledge the barrier
  const err = await t.throwsAsync(seq.submit(set('k', 'x', { ifNotExists: true }), 'w2'), { instanceOf: OperationFailedError })
  t.is(err?.id, 'w2')
  // Once the term's first entry (that barrier) is confirmed, the same answer is given.
  commitFails.on = false
  t.deepEqual(await seq.submit(set('k', 'x', { ifNotExists: true }), 'w3'), { ok: false, revision: 1 })
  // And with confirmation failing, as long as the term is not confirmed, it fails again.
  term.now = 3
  commitFails.on = true
  confirmFails.on = true
  await t.throwsAsync(seq.submit(set('k', 'x', { ifNotExists: true }), 'w4'), { instanceOf: OperationFailedError })
})

test('a primary answers ok: false only after a read barrier begun after the batch was planned; one cut off from the others fails the answer instead', async t => {
  const { seq, lead, sent } = await rig()
  t.deepEqual(await seq.submit(set('k', 'v'), 'w1'), { ok: true, revision: 1 }) // the term is confirmed
  t.is(lead.calls, 0, 'a write that made an entry is confirmed by its acknowledgement')
  lead.hold = true
  let answered = false
  const rejected = seq.submit(set('k', 'x', { ifNotExists: true }), 'w2').then(r => { answered = true; return r })
  while (lead.pending.length === 0) await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setImmediate(resolve))
  t.false(answered, 'not before a majority confirmed this primary')
  for (const release of lead.pending.splice(0)) release()
  t.deepEqual(await rejected, { ok: false, revision: 1 })
  t.is(sent.length, 1, 'nothing written for it')
  // Cut off (the confirmation round fails): the answer fails, naming its id; nothing is written.
  lead.hold = false
  lead.fails = true
  const err = await t.throwsAsync(seq.submit(set('k', 'y', { ifNotExists: true }), 'w3'), { instanceOf: OperationFailedError })
  t.is(err?.id, 'w3')
  t.is(sent.length, 1)
})

test('an ok: false answer batched with a write whose acknowledgement fails still waits for the read barrier, and fails with it', async t => {
  const { seq, lead, commitFails, sent } = await rig()
  t.deepEqual(await seq.submit(set('k', 'v'), 'w1'), { ok: true, revision: 1 }) // the term is confirmed
  // One batch: a failing condition and a write; the write's acknowledgement fails (cut off).
  commitFails.on = true
  lead.fails = true
  const sentBefore = sent.length
  const first = seq.submit(set('a', 'z'), 'w0') // takes the pump: the next two queue up behind it
  const rejected = seq.submit(set('k', 'x', { ifNotExists: true }), 'w2')
  const write = seq.submit(set('other', 'y'), 'w3')
  await t.throwsAsync(first, { instanceOf: OperationFailedError })
  await t.throwsAsync(write, { instanceOf: OperationFailedError })
  t.is(sent.length, sentBefore + 2, 'w2 and w3 in one batch')
  t.is(sent[sent.length - 1].length, 1, 'w3 made the entry, w2 none')
  const err = await t.throwsAsync(rejected, { instanceOf: OperationFailedError })
  t.is(err?.id, 'w2')
  t.true(lead.calls >= 1, 'the barrier was asked')
})

/** A store on which an entry lands right after a request lookup missed it (a replica persist finishing as this peer takes over). */
class RacingStore extends MemoryStore {
  race?: () => Promise<void>
  override async findRequest (request: Uint8Array): Promise<RequestEntry | undefined> {
    const r = await super.findRequest(request)
    const race = this.race
    this.race = undefined
    if (race !== undefined) await race()
    return r
  }
}

test('a repeat whose entry lands after submit looked it up is still answered from it: the batch looks again with its records', async t => {
  const store = new RacingStore()
  const now = await rig({ store })
  now.term.now = 2
  const c = set('k', 'v')
  const fp = requestFingerprint('id', c)
  // The previous primary's entry for the request reaches this store just after the miss.
  store.race = async () => {
    await store.append([{ index: 1, term: 1, revision: 1, request: fp, mutations: [{ type: 'put', key: 'k', existed: false, prevRevision: 0, record: { value: enc('v'), revision: 1, createRevision: 1, version: 1 } }] }])
  }
  t.deepEqual(await now.seq.submit(c, 'id', undefined, fp), { ok: true, revision: 1 })
  t.like(store.state, { index: 2, revision: 1 }, 'the entry and a barrier; the write was not made again')
  t.deepEqual(now.sent, [[{ index: 2, term: 2, revision: 1, mutations: [] }]])
})

test('at a term\'s start, an ok: false answer in a batch whose acknowledgement failed fails with it', async t => {
  const { seq, term, commitFails } = await rig()
  await seq.submit(set('k', 'v'), 'w1')
  term.now = 2
  commitFails.on = true
  const first = seq.submit(set('x', '1'), 'w2') // taken at once; the next two queue behind it, one batch
  const made = seq.submit(set('j', '1'), 'w3')
  const unchanged = seq.submit(set('k', 'x', { ifNotExists: true }), 'w4')
  await t.throwsAsync(first, { instanceOf: OperationFailedError })
  await t.throwsAsync(made, { instanceOf: OperationFailedError })
  const err = await t.throwsAsync(unchanged, { instanceOf: OperationFailedError })
  t.is(err?.id, 'w4')
})
