/**
 * The sequencer's write path with a replication commit hook: batches are handed to the hook
 * before the local append; a failed local append is retried with the same entries, and one that
 * keeps failing (or a deposed primary) fail-stops the sequencer. Standalone (no hook) keeps the
 * simpler order. MemoryStore with injected failures; no network.
 */
import test from 'ava'
import { Sequencer } from '../src/core/sequencer.js'
import { PERSIST_GIVE_UP_MS } from '../src/constants.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { OperationFailedError, StorageError } from '../src/errors.js'
import type { LogEntry, StoredRecord } from '../src/store/types.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

/** MemoryStore whose appends fail (before writing anything) while `failures` > 0 or `always`. */
class FailingStore extends MemoryStore {
  failures = 0
  always = false
  attempts = 0
  override async append (entries: LogEntry[], options?: { sync?: boolean }): Promise<void> {
    if (entries.length > 0) this.attempts++
    if (entries.length > 0 && (this.always || this.failures > 0)) {
      this.failures = Math.max(0, this.failures - 1)
      throw new Error('injected disk failure')
    }
    return await super.append(entries, options)
  }
}

async function setup (opts: { term?: () => number | undefined, hook?: boolean } = {}): Promise<{ store: FailingStore, seq: Sequencer, sent: LogEntry[][], fatal: Error[] }> {
  const store = new FailingStore()
  await store.open()
  const sent: LogEntry[][] = []
  const fatal: Error[] = []
  const seq = new Sequencer({
    store,
    sync: false,
    maxBatchWrites: 64,
    term: opts.term ?? (() => 1),
    ...(opts.hook === false ? {} : { commit: async (entries: LogEntry[]) => { sent.push(entries) } }),
    onFatal: err => { fatal.push(err) }
  })
  return { store, seq, sent, fatal }
}

test('with a commit hook, the batch reaches the hook even when the local append is still failing, and is acked once the retry lands', async t => {
  const { store, seq, sent, fatal } = await setup()
  store.failures = 2
  const r = await seq.submit({ op: 'set', key: 'a', value: enc('1') }, 'w1')
  t.true(r.ok)
  t.is(r.revision, 1)
  t.is(store.attempts, 3, 'two failures, then the same entries again')
  t.is(sent.length, 1, 'handed to replication once, before the local append succeeded')
  t.is(sent[0][0].index, 1)
  t.deepEqual(fatal, [])
  t.is(store.state.index, 1)
  // The next batch follows on, no index reused or skipped.
  const r2 = await seq.submit({ op: 'set', key: 'b', value: enc('2') }, 'w2')
  t.is(r2.revision, 2)
  t.is(sent[1][0].index, 2)
})

test('a local append that keeps failing fails its writes, calls onFatal once, and every later write is refused with StorageError', async t => {
  const { store, seq, fatal } = await setup()
  store.always = true
  const started = Date.now()
  const err = await t.throwsAsync(seq.submit({ op: 'set', key: 'a', value: enc('1') }, 'w1'), { instanceOf: OperationFailedError })
  t.true(Date.now() - started >= PERSIST_GIVE_UP_MS - 50, 'retried for the give-up time first')
  t.regex(err?.message ?? '', /may still reach the other members/)
  t.is(fatal.length, 1)
  await t.throwsAsync(seq.submit({ op: 'set', key: 'b', value: enc('2') }, 'w2'), { instanceOf: StorageError })
  t.is(store.state.index, 0, 'nothing appended locally')
})

test('a primary deposed while its local append is being retried gives up at once (fail-stop): it must not append in a term it no longer leads', async t => {
  let term: number | undefined = 3
  const { store, seq, fatal } = await setup({ term: () => term })
  store.always = true
  const p = seq.submit({ op: 'set', key: 'a', value: enc('1') }, 'w1')
  setTimeout(() => { term = undefined }, 120)
  const started = Date.now()
  await t.throwsAsync(p, { instanceOf: OperationFailedError })
  t.true(Date.now() - started < PERSIST_GIVE_UP_MS, 'did not wait for the give-up time')
  t.is(fatal.length, 1)
})

test('a deposed primary refuses queued writes before writing anything', async t => {
  const { store, seq, sent } = await setup({ term: () => undefined })
  await t.throwsAsync(seq.submit({ op: 'set', key: 'a', value: enc('1') }, 'w1'), { instanceOf: OperationFailedError, message: /nothing was written/ })
  t.is(store.attempts, 0)
  t.deepEqual(sent, [])
})

test('without a commit hook (standalone) a failed append fails only its batch; the next write succeeds', async t => {
  const { store, seq, fatal } = await setup({ hook: false })
  store.failures = 1
  await t.throwsAsync(seq.submit({ op: 'set', key: 'a', value: enc('1') }, 'w1'), { instanceOf: OperationFailedError, message: /write failed in storage/ })
  const r = await seq.submit({ op: 'set', key: 'a', value: enc('2') }, 'w2')
  t.true(r.ok)
  t.is(r.revision, 1, 'the failed batch used no revision')
  t.deepEqual(fatal, [])
})

test('records read while an append lands are read again: the batch is planned on the state they belong to', async t => {
  // An append that lands during the read (a replica persist finishing as this peer takes over):
  // the first read returns what was there before it.
  class RacingStore extends MemoryStore {
    raced = 0
    override async getMany (keys: string[]): Promise<Array<StoredRecord | undefined>> {
      const before = await super.getMany(keys)
      if (this.raced++ === 0) {
        await super.append([{ index: 1, term: 1, revision: 1, mutations: [{ type: 'put', key: 'a', existed: false, prevRevision: 0, record: { value: enc('old'), revision: 1, createRevision: 1, version: 1 } }] }])
      }
      return before
    }
  }
  const store = new RacingStore()
  await store.open()
  const sent: LogEntry[][] = []
  const seq = new Sequencer({ store, sync: false, maxBatchWrites: 64, term: () => 1, commit: async entries => { sent.push(entries) } })
  const r = await seq.submit({ op: 'set', key: 'a', value: enc('new') }, 'w1')
  t.deepEqual(r, { ok: true, revision: 2 })
  t.is(store.raced, 2, 'read twice')
  const m = sent[0][0].mutations[0]
  t.like(m, { type: 'put', existed: true, prevRevision: 1 })
  t.is(m.type === 'put' ? m.record.version : 0, 2)
})
