/**
 * The pure write core: revision numbering, conditions, TTL and expiry rules, in-group visibility.
 */
import test from 'ava'
import { plan, mutationFor, isLive } from '../src/core/evaluate.js'
import type { Command } from '../src/core/evaluate.js'
import { emptyState } from '../src/store/state.js'
import type { StoredRecord } from '../src/store/types.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const rec = (value: string, revision: number, extra: Partial<StoredRecord> = {}): StoredRecord =>
  ({ value: enc(value), revision, createRevision: revision, version: 1, ...extra })
const NOW = 1_000_000

test('revisions start at 1 and advance by exactly 1 per committed change', t => {
  const cmds: Command[] = [
    { op: 'set', key: 'a', value: enc('1') },
    { op: 'set', key: 'b', value: enc('1') },
    { op: 'set', key: 'a', value: enc('2') }
  ]
  const { entries, results } = plan(cmds, new Map(), emptyState(), 3, NOW)
  t.deepEqual(results, [{ ok: true, revision: 1 }, { ok: true, revision: 2 }, { ok: true, revision: 3 }])
  t.deepEqual(entries.map(e => [e.index, e.revision, e.term]), [[1, 1, 3], [2, 2, 3], [3, 3, 3]])
})

test('a later command in the same group sees the earlier ones', t => {
  const cmds: Command[] = [
    { op: 'set', key: 'a', value: enc('1'), ifNotExists: true },
    { op: 'set', key: 'a', value: enc('2'), ifNotExists: true },
    { op: 'set', key: 'a', value: enc('3'), ifValue: enc('1') },
    { op: 'delete', key: 'a' },
    { op: 'delete', key: 'a' }
  ]
  const { entries, results } = plan(cmds, new Map(), emptyState(), 0, NOW)
  t.deepEqual(results.map(r => [r.ok, r.revision]), [[true, 1], [false, 1], [true, 2], [true, 3], [false, 3]])
  const second = entries[1].mutations[0]
  t.true(second.type === 'put' && second.record.version === 2 && second.record.createRevision === 1)
})

test('failed conditions consume no revision and report the current one', t => {
  const state = { ...emptyState(), index: 7, revision: 7, keys: 1 }
  const records = new Map([['k', rec('v', 5)]])
  const cases: Array<[Command, boolean]> = [
    [{ op: 'set', key: 'k', value: enc('x'), ifNotExists: true }, false],
    [{ op: 'set', key: 'k', value: enc('x'), ifExists: true }, true],
    [{ op: 'set', key: 'new', value: enc('x'), ifExists: true }, false],
    [{ op: 'set', key: 'k', value: enc('x'), ifValue: enc('v') }, true],
    [{ op: 'set', key: 'k', value: enc('x'), ifValue: enc('w') }, false],
    [{ op: 'set', key: 'k', value: enc('x'), ifRevision: 5 }, true],
    [{ op: 'set', key: 'k', value: enc('x'), ifRevision: 4 }, false],
    [{ op: 'set', key: 'new', value: enc('x'), ifRevision: 0 }, true],
    [{ op: 'set', key: 'k', value: enc('x'), ifRevision: 0 }, false],
    [{ op: 'delete', key: 'k', ifRevision: 5 }, true],
    [{ op: 'delete', key: 'k', ifRevision: 6 }, false],
    [{ op: 'delete', key: 'absent' }, false],
    [{ op: 'extend', key: 'absent', ttlMs: 10 }, false]
  ]
  for (const [cmd, ok] of cases) {
    const { entries, results } = plan([cmd], records, state, 0, NOW)
    t.is(results[0].ok, ok, JSON.stringify({ ...cmd, value: undefined }))
    t.is(results[0].revision, ok ? 8 : 7)
    t.is(entries.length, ok ? 1 : 0)
  }
})

test('version counts value changes since creation; extend keeps it and moves the revision', t => {
  const records = new Map([['k', rec('v', 3, { createRevision: 2, version: 4 })]])
  const state = { ...emptyState(), index: 3, revision: 3, keys: 1 }
  const set = mutationFor({ op: 'set', key: 'k', value: enc('w') }, records.get('k'), NOW, 4)
  t.like(set, { type: 'put', existed: true, record: { revision: 4, createRevision: 2, version: 5 } })
  const { entries } = plan([{ op: 'extend', key: 'k', ttlMs: 500 }], records, state, 0, NOW)
  const m = entries[0].mutations[0]
  t.true(m.type === 'put')
  if (m.type === 'put') {
    t.is(m.record.version, 4)
    t.is(m.record.revision, 4)
    t.is(m.record.expiresAt, NOW + 500)
    t.deepEqual(m.record.value, enc('v'))
  }
})

test('extend with 0 removes the expiry and records the old one for the index', t => {
  const m = mutationFor({ op: 'extend', key: 'k', ttlMs: 0 }, rec('v', 1, { expiresAt: NOW + 100 }), NOW, 2)
  t.true(m?.type === 'put' && m.record.expiresAt === undefined && m.prevExpiresAt === NOW + 100)
})

test('a key past its expiry reads as absent to conditions and is re-created by set', t => {
  const expired = rec('old', 2, { expiresAt: NOW, version: 3 })
  t.false(isLive(expired, NOW))
  t.true(isLive(expired, NOW - 1))
  const m = mutationFor({ op: 'set', key: 'k', value: enc('new'), ifNotExists: true }, expired, NOW, 9)
  t.like(m, { type: 'put', existed: true, prevExpiresAt: NOW, record: { createRevision: 9, version: 1 } })
  t.is(mutationFor({ op: 'delete', key: 'k' }, expired, NOW, 9), undefined)
  t.is(mutationFor({ op: 'extend', key: 'k', ttlMs: 5 }, expired, NOW, 9), undefined)
})

test('an expire command deletes only the exact record that is due', t => {
  const r = rec('v', 1, { expiresAt: NOW })
  t.like(mutationFor({ op: 'expire', key: 'k', expiresAt: NOW }, r, NOW, 2), { type: 'del', expired: true, prevExpiresAt: NOW })
  t.is(mutationFor({ op: 'expire', key: 'k', expiresAt: NOW }, r, NOW - 1, 2), undefined, 'not yet due')
  t.is(mutationFor({ op: 'expire', key: 'k', expiresAt: NOW - 5 }, r, NOW, 2), undefined, 'record was replaced')
  t.is(mutationFor({ op: 'expire', key: 'k', expiresAt: NOW }, undefined, NOW, 2), undefined, 'already gone')
})

test('set with a TTL stamps expiresAt from the commit time', t => {
  const m = mutationFor({ op: 'set', key: 'k', value: enc('v'), ttlMs: 250 }, undefined, NOW, 1)
  t.like(m, { type: 'put', existed: false, record: { expiresAt: NOW + 250 } })
})

test('every mutation names the revision it replaces: the current record\'s, 0 when there is none, in-group writes included', t => {
  const records = new Map<string, StoredRecord | undefined>([['a', rec('1', 5)], ['t', rec('x', 7, { expiresAt: NOW - 1 })]])
  const state = { ...emptyState(), index: 8, revision: 8 }
  const { entries } = plan([
    { op: 'set', key: 'a', value: enc('2') }, // replaces revision 5
    { op: 'set', key: 'a', value: enc('3') }, // replaces the one just planned (9)
    { op: 'delete', key: 'a' }, // replaces 10
    { op: 'set', key: 'a', value: enc('4') }, // after the delete: nothing to replace
    { op: 'set', key: 'b', value: enc('1') }, // never existed
    { op: 'expire', key: 't', expiresAt: NOW - 1 } // the expired record at 7
  ], records, state, 1, NOW)
  t.deepEqual(entries.map(e => [e.revision, e.mutations[0].type, e.mutations[0].prevRevision]), [
    [9, 'put', 5], [10, 'put', 9], [11, 'del', 10], [12, 'put', 0], [13, 'put', 0], [14, 'del', 7]
  ])
})

test('a barrier makes an empty entry at the next index without using a revision; request fingerprints go to the entries their commands made', t => {
  const fpA = new Uint8Array(16).fill(1)
  const fpB = new Uint8Array(16).fill(2)
  const { entries, results } = plan([
    { op: 'set', key: 'a', value: enc('1') },
    { op: 'barrier' },
    { op: 'set', key: 'a', value: enc('2'), ifNotExists: true }, // fails: a exists
    { op: 'set', key: 'b', value: enc('1') }
  ], new Map(), emptyState(), 2, NOW, [fpA, undefined, fpB, undefined])
  t.deepEqual(results, [{ ok: true, revision: 1 }, { ok: true, revision: 1 }, { ok: false, revision: 1 }, { ok: true, revision: 2 }])
  t.deepEqual(entries.map(e => [e.index, e.revision, e.mutations.length, e.request]), [[1, 1, 1, fpA], [2, 1, 0, undefined], [3, 2, 1, undefined]])
})
