/**
 * Write forwarding over real libp2p nodes on 127.0.0.1: a forwarded write gets the server's
 * result or the same typed error; timeouts, unreachable peers, aborts and stop() fail the way
 * the protocol documents; duplicate and retried request ids execute once.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CLIENT_PROTOCOL, decodeResponse, encodeRequest, encodeResponse, Forwarder, MAX_FRAME_BYTES } from '../src/client/index.js'
import type { ClientCommand, Execute } from '../src/client/index.js'
import { Writer } from '../src/codec/bytes.js'
import type { CommandResult } from '../src/core/evaluate.js'
import {
  AbortError, ClusterUnavailableError, InvalidArgumentError, KeyTooLargeError, KvgridError, NotPrimaryError,
  OperationFailedError, PeerStoppedError
} from '../src/errors.js'
import { Messenger } from '../src/net/messenger.js'
import type { KvNode } from '../src/node/index.js'
import { connectedPair, startNode } from './helpers/nodes.js'
import { waitFor } from './helpers/wait.js'

interface Call { command: ClientCommand, id: string, from: string, deadlineMs: number }

/** A forwarder whose execute records its calls and delegates to `run`. */
async function forwarder (t: ExecutionContext, node: KvNode, run: Execute = async () => { throw new NotPrimaryError() }, extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {}): Promise<{ f: Forwarder, calls: Call[] }> {
  const calls: Call[] = []
  const f = new Forwarder({
    node,
    ...extra,
    execute: async (command, id, from, info) => {
      calls.push({ command, id, from, deadlineMs: info.deadlineMs })
      return await run(command, id, from, info)
    }
  })
  await f.start()
  t.teardown(async () => { await f.stop() })
  return { f, calls }
}

/** Server on a, client on b. */
async function pair (t: ExecutionContext, run: Execute, extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {}): Promise<{ server: Forwarder, client: Forwarder, calls: Call[], to: string, from: string, a: KvNode, b: KvNode }> {
  const [a, b] = await connectedPair(t)
  const { f: server, calls } = await forwarder(t, a, run, extra)
  const { f: client } = await forwarder(t, b)
  return { server, client, calls, to: a.peerId.toString(), from: b.peerId.toString(), a, b }
}

const SET: ClientCommand = { op: 'set', key: 'k', value: Uint8Array.of(1, 2, 3), ifRevision: 0, ttlMs: 5000 }

test('a forwarded set, delete and extend reach the server unchanged and return its result', async t => {
  let revision = 10
  const { client, calls, to, from } = await pair(t, async command => ({ ok: command.op !== 'delete', revision: ++revision }))
  const commands: ClientCommand[] = [
    SET,
    { op: 'set', key: 'ключ', value: new Uint8Array(100_000).fill(9), ifExists: true, ifValue: Uint8Array.of(7) },
    { op: 'delete', key: 'k', ifRevision: 11 },
    { op: 'extend', key: 'k', ttlMs: 0 }
  ]
  const results: CommandResult[] = []
  for (const [i, c] of commands.entries()) results.push(await client.forward(to, c, `req-${i}`, { timeoutMs: 5000 }))
  t.deepEqual(results, [{ ok: true, revision: 11 }, { ok: true, revision: 12 }, { ok: false, revision: 13 }, { ok: true, revision: 14 }])
  t.deepEqual(calls.map(c => c.command), commands)
  t.deepEqual(calls.map(c => c.id), ['req-0', 'req-1', 'req-2', 'req-3'])
  t.true(calls.every(c => c.from === from && c.deadlineMs === 5000))
  t.is(client.inFlight, 0)
})

test('NotPrimaryError from the server arrives as NotPrimaryError with the same primary, code and message', async t => {
  const primary = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
  const original = new NotPrimaryError(primary)
  const { client, to } = await pair(t, async () => { throw original })
  const err = await t.throwsAsync(client.forward(to, SET, 'r1'), { instanceOf: NotPrimaryError })
  t.is(err?.primary, primary)
  t.is(err?.code, 'NOT_PRIMARY')
  t.is(err?.name, 'NotPrimaryError')
  t.is(err?.message, original.message)
})

test('OperationFailedError arrives with the request id, the unconfirmed members and the message', async t => {
  const unconfirmed = ['12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK', '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN']
  const { client, to } = await pair(t, async (_c, id) => { throw new OperationFailedError('not confirmed within 1000 ms', id, { unconfirmed }) })
  const err = await t.throwsAsync(client.forward(to, SET, 'write-77'), { instanceOf: OperationFailedError })
  t.is(err?.id, 'write-77')
  t.deepEqual(err?.unconfirmed, unconfirmed)
  t.is(err?.code, 'OPERATION_FAILED')
  t.is(err?.message, 'not confirmed within 1000 ms')
})

test('InvalidArgumentError and KeyTooLargeError arrive as the same class; a non-kvgrid error arrives as INTERNAL', async t => {
  const { client, to } = await pair(t, async command => {
    if (command.key === 'a') throw new InvalidArgumentError('ifExists and ifNotExists cannot both be set')
    if (command.key === 'b') throw new KeyTooLargeError(2000, 512)
    throw new TypeError('boom')
  })
  const a = await t.throwsAsync(client.forward(to, { op: 'delete', key: 'a' }, 'r1'), { instanceOf: InvalidArgumentError })
  t.is(a?.message, 'ifExists and ifNotExists cannot both be set')
  t.is(a?.code, 'INVALID_ARGUMENT')
  const b = await t.throwsAsync(client.forward(to, { op: 'delete', key: 'b' }, 'r2'), { instanceOf: KeyTooLargeError })
  t.is(b?.message, new KeyTooLargeError(2000, 512).message)
  const c = await t.throwsAsync(client.forward(to, { op: 'delete', key: 'c' }, 'r3'), { instanceOf: KvgridError })
  t.is(c?.code, 'INTERNAL')
  t.regex(c?.message ?? '', /boom/)
})

test('a command the protocol cannot carry is refused before sending, with the typed error', async t => {
  const { client, calls, to } = await pair(t, async () => ({ ok: true, revision: 1 }))
  await t.throwsAsync(client.forward(to, { op: 'expire', key: 'k', expiresAt: 1 } as unknown as ClientCommand, 'r1'), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(client.forward(to, { op: 'delete', key: 'k'.repeat(1025) }, 'r2'), { instanceOf: KeyTooLargeError })
  await t.throwsAsync(client.forward(to, SET, ''), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(client.forward('not-a-peer', SET, 'r3'), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(client.forward(to, SET, 'r4', { timeoutMs: 0 }), { instanceOf: InvalidArgumentError })
  t.deepEqual(calls, [])
  t.is(client.inFlight, 0)
})

test('when the server never answers, forward rejects with ClusterUnavailableError no earlier than timeoutMs and well before 2×', async t => {
  const { client, calls, to } = await pair(t, async () => await new Promise<CommandResult>(() => {}))
  const timeoutMs = 1000
  const started = performance.now()
  const err = await t.throwsAsync(client.forward(to, SET, 'stuck', { timeoutMs }), { instanceOf: ClusterUnavailableError })
  const elapsed = performance.now() - started
  t.true(elapsed >= timeoutMs, `rejected after ${elapsed} ms`)
  t.true(elapsed < 1.5 * timeoutMs, `rejected after ${elapsed} ms`)
  t.regex(err?.message ?? '', /may or may not have been applied/)
  t.is(calls.length, 1, 'the request did reach the server')
  t.is(client.inFlight, 0)
})

test('a forward to an unreachable peer rejects with ClusterUnavailableError within the timeout', async t => {
  const [, b] = await connectedPair(t)
  const gone = await startNode(t)
  await b.dial(gone.getMultiaddrs()[0])
  const goneId = gone.peerId.toString()
  await gone.stop()
  const { f: client } = await forwarder(t, b)
  for (const to of [goneId, '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK']) {
    const started = performance.now()
    await t.throwsAsync(client.forward(to, SET, 'r1', { timeoutMs: 800 }), { instanceOf: ClusterUnavailableError })
    const elapsed = performance.now() - started
    t.true(elapsed >= 800 && elapsed < 1300, `${to}: rejected after ${elapsed} ms`)
  }
})

test('concurrent duplicates of one request id execute once and every sender gets that one result', async t => {
  const [a, b] = await connectedPair(t)
  const c = await startNode(t)
  await c.dial(a.getMultiaddrs()[0])
  let release!: (r: CommandResult) => void
  const gate = new Promise<CommandResult>(resolve => { release = resolve })
  const { calls } = await forwarder(t, a, async command => command.key === 'probe' ? { ok: true, revision: 0 } : await gate)
  const { f: fromB } = await forwarder(t, b)
  const { f: fromC } = await forwarder(t, c)
  const to = a.peerId.toString()
  const answers = Promise.all([
    fromB.forward(to, SET, 'dup'),
    fromB.forward(to, SET, 'dup'),
    fromC.forward(to, SET, 'dup')
  ])
  // Frames are in order per stream: once a later probe is answered, the duplicates had arrived.
  await fromB.forward(to, { op: 'delete', key: 'probe' }, 'probe-b')
  await fromC.forward(to, { op: 'delete', key: 'probe' }, 'probe-c')
  t.is(calls.filter(x => x.id === 'dup').length, 1, 'three requests arrived, one execution runs')
  release({ ok: true, revision: 5 })
  t.deepEqual(await answers, [{ ok: true, revision: 5 }, { ok: true, revision: 5 }, { ok: true, revision: 5 }])
  t.is(calls.filter(x => x.id === 'dup').length, 1, 'executed once')
})

test('a retried id returns the remembered result without executing again; the same id with another command executes', async t => {
  let revision = 0
  const { client, calls, to } = await pair(t, async () => ({ ok: true, revision: ++revision }))
  t.deepEqual(await client.forward(to, SET, 'retry-me'), { ok: true, revision: 1 })
  t.deepEqual(await client.forward(to, SET, 'retry-me', { timeoutMs: 3000 }), { ok: true, revision: 1 }, 'a different deadline is still the same request')
  t.deepEqual(await client.forward(to, { ...SET }, 'retry-me'), { ok: true, revision: 1 })
  t.is(calls.length, 1)
  t.deepEqual(await client.forward(to, { ...SET, value: Uint8Array.of(4) }, 'retry-me'), { ok: true, revision: 2 })
  t.deepEqual(await client.forward(to, SET, 'another-id'), { ok: true, revision: 3 })
  t.is(calls.length, 3)
})

test('errors are not remembered: a retry after an error executes again', async t => {
  let attempt = 0
  const { client, calls, to } = await pair(t, async (_c, id) => {
    if (++attempt === 1) throw new OperationFailedError('not confirmed', id, { unconfirmed: ['x'] })
    return { ok: true, revision: 9 }
  })
  await t.throwsAsync(client.forward(to, SET, 'r1'), { instanceOf: OperationFailedError })
  t.deepEqual(await client.forward(to, SET, 'r1'), { ok: true, revision: 9 })
  t.is(calls.length, 2)
})

test('remembered results expire after resultCacheTtlMs, and beyond resultCacheSize the oldest is forgotten first', async t => {
  let now = 1_000_000
  let revision = 0
  const { client, calls, to } = await pair(t, async () => ({ ok: true, revision: ++revision }), { resultCacheSize: 2, resultCacheTtlMs: 60_000, now: () => now })
  await client.forward(to, SET, 'a')
  await client.forward(to, SET, 'b')
  now += 59_999
  t.deepEqual(await client.forward(to, SET, 'a'), { ok: true, revision: 1 }, 'still remembered just before the TTL')
  now += 1
  t.deepEqual(await client.forward(to, SET, 'a'), { ok: true, revision: 3 }, 'expired at the TTL: executed again')
  await client.forward(to, SET, 'c') // remembers a(3), c(4): b expired, and the size limit is 2
  await client.forward(to, SET, 'd') // a is the oldest and goes
  t.deepEqual(await client.forward(to, SET, 'c'), { ok: true, revision: 4 })
  t.deepEqual(await client.forward(to, SET, 'a'), { ok: true, revision: 6 }, 'evicted: executed again')
  t.is(calls.length, 6)
})

test('abort before sending and while waiting rejects with AbortError and releases the forward', async t => {
  const { client, calls, to } = await pair(t, async () => await new Promise<CommandResult>(() => {}))
  await t.throwsAsync(client.forward(to, SET, 'r1', { signal: AbortSignal.abort() }), { instanceOf: AbortError })
  t.is(calls.length, 0, 'an already-aborted forward sends nothing')
  const controller = new AbortController()
  const pending = client.forward(to, SET, 'r2', { signal: controller.signal, timeoutMs: 60_000 })
  await waitFor(() => calls.length === 1, 'the request to reach the server')
  const started = performance.now()
  controller.abort()
  await t.throwsAsync(pending, { instanceOf: AbortError })
  t.true(performance.now() - started < 100)
  t.is(client.inFlight, 0)
})

test.serial('stop() rejects every in-flight forward with PeerStoppedError and leaves no timers behind', async t => {
  const { client, calls, to } = await pair(t, async () => await new Promise<CommandResult>(() => {}))
  const MARK = 43_210
  const live = new Set<unknown>()
  const realSet = globalThis.setTimeout
  const realClear = globalThis.clearTimeout
  globalThis.setTimeout = ((fn: () => void, ms?: number, ...rest: unknown[]) => {
    const h = realSet(fn, ms, ...rest)
    if (ms === MARK) live.add(h)
    return h
  }) as typeof setTimeout
  globalThis.clearTimeout = ((h: Parameters<typeof clearTimeout>[0]) => { live.delete(h); realClear(h) }) as typeof clearTimeout
  try {
    const controller = new AbortController()
    const pending = [
      client.forward(to, SET, 'r1', { timeoutMs: MARK }),
      client.forward(to, SET, 'r2', { timeoutMs: MARK, signal: controller.signal }),
      client.forward(to, { op: 'delete', key: 'k' }, 'r3', { timeoutMs: MARK })
    ]
    await waitFor(() => calls.length === 3, 'the requests to reach the server')
    t.is(live.size, 3, 'one timer per in-flight forward')
    await client.stop()
    for (const p of pending) await t.throwsAsync(p, { instanceOf: PeerStoppedError })
    t.is(live.size, 0, 'every timer cleared')
    t.is(client.inFlight, 0)
    controller.abort() // its listener was removed: nothing happens
    await client.stop() // idempotent
    await t.throwsAsync(client.forward(to, SET, 'r4'), { instanceOf: PeerStoppedError })
  } finally {
    globalThis.setTimeout = realSet
    globalThis.clearTimeout = realClear
  }
})

test('start() is idempotent and a stopped forwarder can start again', async t => {
  const { server, client, to } = await pair(t, async () => ({ ok: true, revision: 1 }))
  await server.start()
  await client.stop()
  await t.throwsAsync(client.forward(to, SET, 'r1'), { instanceOf: PeerStoppedError })
  await client.start()
  t.true(client.started)
  t.deepEqual(await client.forward(to, SET, 'r2'), { ok: true, revision: 1 })
})

test('an answer for an unknown id, or from a peer the request did not go to, is ignored', async t => {
  const [a, b] = await connectedPair(t)
  const c = await startNode(t)
  await c.dial(b.getMultiaddrs()[0])
  const { f: client } = await forwarder(t, b)
  const answer = (id: string, revision: number): Uint8Array => encodeResponse({ id, ok: true, result: { ok: true, revision } })
  const bId = b.peerId.toString()
  // An impostor on c answers first, with the right id.
  const impostor = new Messenger({ node: c, protocol: CLIENT_PROTOCOL, maxFrameBytes: MAX_FRAME_BYTES, onMessage: () => {} })
  await impostor.start()
  t.teardown(async () => { await impostor.stop() })
  // A hand-written server on a: answers an unknown id, then the impostor speaks, then the real answer.
  let requests = 0
  const raw: Messenger = new Messenger({
    node: a,
    protocol: CLIENT_PROTOCOL,
    maxFrameBytes: MAX_FRAME_BYTES,
    onMessage: (from, frame) => {
      requests++
      t.is(from, bId)
      t.true(raw.send(from, answer('someone-else', 1)))
      t.true(impostor.send(bId, answer('mine', 2)))
      setTimeout(() => { raw.send(from, answer('mine', 3)) }, 200)
      void frame
    }
  })
  await raw.start()
  t.teardown(async () => { await raw.stop() })
  t.deepEqual(await client.forward(a.peerId.toString(), SET, 'mine'), { ok: true, revision: 3 })
  t.is(requests, 1)
})

test('a malformed request whose id is readable is answered with InvalidArgumentError; expire is refused unexecuted', async t => {
  const [a, b] = await connectedPair(t)
  const { calls } = await forwarder(t, a, async () => ({ ok: true, revision: 1 }))
  const answers: unknown[] = []
  const raw = new Messenger({
    node: b,
    protocol: CLIENT_PROTOCOL,
    maxFrameBytes: MAX_FRAME_BYTES,
    onMessage: (_from, frame) => {
      const v = decodeResponse(frame)
      answers.push(v.ok ? v.value : v)
    }
  })
  await raw.start()
  t.teardown(async () => { await raw.stop() })
  // A request frame with op 0x04 (expire): type, id "bad", deadline 5, op, key, expiresAt.
  const expire = new Writer().u8(0x01).string('bad').varint(5).u8(0x04).string('k').varint(1).finish()
  t.true(raw.send(a.peerId.toString(), expire))
  // Garbage without an id is dropped; a good request afterwards is still served on the same stream.
  t.true(raw.send(a.peerId.toString(), Uint8Array.of(0x01)))
  t.true(raw.send(a.peerId.toString(), encodeRequest({ id: 'good', deadlineMs: 5, command: SET })))
  await waitFor(() => answers.length === 2, 'two answers')
  t.like(answers[0], { id: 'bad', ok: false, error: { code: 'INVALID_ARGUMENT', name: 'InvalidArgumentError' } })
  t.regex((answers[0] as { error: { message: string } }).error.message, /expire/)
  t.deepEqual(answers[1], { id: 'good', ok: true, result: { ok: true, revision: 1 } })
  t.deepEqual(calls.map(c => c.id), ['good'])
})
