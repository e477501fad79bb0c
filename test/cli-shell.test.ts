/**
 * The shell loop (src/cli/shell.ts) driven in-process against a real peer on a temp directory:
 * exact output lines (elapsed time normalised to `Tms`) and the summary used for exit codes.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { createPeer } from '../src/index.js'
import type { PeerOptions } from '../src/index.js'
import { PROMPT, runShell } from '../src/cli/shell.js'
import type { ShellOptions, ShellSummary } from '../src/cli/shell.js'
import type { KvPeer } from '../src/types.js'
import { waitFor } from './helpers/wait.js'

async function startPeer (t: ExecutionContext, options: Partial<PeerOptions> = {}): Promise<KvPeer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kvgrid-cli-shell-'))
  // Standalone: these tests are about the shell, not the network.
  const peer = await createPeer({ fsync: false, standalone: true, ...options, dataDir })
  t.teardown(async () => {
    await peer.stop()
    await rm(dataDir, { recursive: true, force: true })
  })
  return peer
}

function collect (): { stream: PassThrough, text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  return { stream, text: () => text }
}

/** Lines printed by running `script` through the shell, with ` 12ms` endings shown as ` Tms`. */
async function run (t: ExecutionContext, script: string, options: Partial<ShellOptions> & { peerOptions?: Partial<PeerOptions> } = {}): Promise<{ lines: string[], raw: string[], summary: ShellSummary, peer: KvPeer }> {
  const { peerOptions, ...shellOptions } = options
  const peer = shellOptions.peer ?? await startPeer(t, peerOptions)
  const out = collect()
  const summary = await runShell({ peer, input: Readable.from([script]), output: out.stream, ...shellOptions })
  const lines = out.text().split('\n')
  t.is(lines.pop(), '', 'output ends with a newline')
  return { lines: lines.map((line) => line.replace(/ \d+ms$/, ' Tms')), raw: lines, summary, peer }
}

const sessions: Array<[behaviour: string, script: string[], expected: string[]]> = [
  ['set then get prints the revision and the value',
    ['set a my-value', 'get a'],
    ['r1 set Tms', 'r1 my-value Tms']],
  ['a value with spaces prints quoted, as it can be typed back',
    ['set k "a b"', 'get k', 'set k2 `a b`', 'get k2'],
    ['r1 set Tms', 'r1 "a b" Tms', 'r2 set Tms', 'r2 "a b" Tms']],
  ['escapes inside "…" are decoded and backticks are literal',
    ['set k "line1\\nline2\\t\\"q\\" \\\\"', 'get k', 'set b `c:\\dir "x"`', 'get b'],
    ['r1 set Tms', 'r1 "line1\\nline2\\t\\"q\\" \\\\" Tms', 'r2 set Tms', 'r2 "c:\\\\dir \\"x\\"" Tms']],
  ['a key with spaces can be set and read',
    ['set "my key" v', 'get "my key"', 'scan my'],
    ['r1 set Tms', 'r1 v Tms', 'r1 "my key" v']],
  ['get of an absent key prints r-1 not found',
    ['get nope'],
    ['r-1 not found Tms']],
  ['nx sets only an absent key, xx only an existing one',
    ['set a 1 nx', 'set a 2 nx', 'get a', 'set b 1 xx', 'set a 3 xx', 'get a'],
    ['r1 set Tms', 'r1 not set Tms', 'r1 1 Tms', 'r1 not set Tms', 'r2 set Tms', 'r2 3 Tms']],
  ['cmp sets only when the current value matches',
    ['set a old', 'set a new cmp wrong', 'set a new cmp old', 'get a', 'set a "x y"', 'set a z cmp "x y"', 'get a'],
    ['r1 set Tms', 'r1 not set Tms', 'r2 set Tms', 'r2 new Tms', 'r3 set Tms', 'r4 set Tms', 'r4 z Tms']],
  ['cmprev sets only at the given revision, 0 meaning absent',
    ['set a 1 cmprev 0', 'set a 2 cmprev 0', 'set a 2 cmprev 5', 'set a 2 cmprev 1', 'get a'],
    ['r1 set Tms', 'r1 not set Tms', 'r1 not set Tms', 'r2 set Tms', 'r2 2 Tms']],
  ['del removes a key and reports an absent one as not found',
    ['set a 1', 'del a', 'del a', 'get a'],
    ['r1 set Tms', 'r2 deleted Tms', 'r-1 not found Tms', 'r-1 not found Tms']],
  ['exists prints the key\'s revision, or not found',
    ['set a 1', 'set b 2', 'exists a', 'exists b', 'exists c'],
    ['r1 set Tms', 'r2 set Tms', 'r1 exists Tms', 'r2 exists Tms', 'r-1 not found Tms']],
  ['extend sets a TTL on an existing key and reports an absent one as not found',
    ['set a 1 ex 60000', 'extend a 120000', 'extend a 0', 'extend nope 1000', 'get a'],
    ['r1 set Tms', 'r2 extended Tms', 'r3 extended Tms', 'r-1 not found Tms', 'r3 1 Tms']],
  ['scan prints one line per key under the prefix, in key order',
    ['set user/2 bob', 'set user/1 ada', 'set other x', 'scan user/', 'scan "" limit 2', 'scan nothing-here', 'get user/1'],
    ['r1 set Tms', 'r2 set Tms', 'r3 set Tms', 'r2 user/1 ada', 'r1 user/2 bob', 'r3 other x', 'r2 user/1 ada', 'r2 ada Tms']],
  ['get at REV reads an older revision',
    ['set a first', 'set a second', 'get a at 1', 'get a at 2', 'get a'],
    ['r1 set Tms', 'r2 set Tms', 'r1 first Tms', 'r2 second Tms', 'r2 second Tms']],
  ['command names and modifiers are case-insensitive, keys and values are not',
    ['SET Key Val NX', 'Get Key', 'get key', 'SCAN K LIMIT 1'],
    ['r1 set Tms', 'r1 Val Tms', 'r-1 not found Tms', 'r1 Key Val']],
  ['blank lines and # comments are ignored',
    ['', '# set a 1', '   ', '  # indented', 'get a'],
    ['r-1 not found Tms']],
  ['an invalid line prints one ERR line and the shell goes on',
    ['frob', 'set a "unterminated', 'set a 1 ex 1.5', 'set a 1 zz', 'get a', 'set a 1', 'get a'],
    [
      'ERR INVALID_ARGUMENT unknown command "frob"; try help',
      'ERR INVALID_ARGUMENT unterminated " quote',
      'ERR INVALID_ARGUMENT ex MS must be a non-negative decimal integer, got "1.5"',
      'ERR INVALID_ARGUMENT unknown modifier "zz" for set; usage: set KEY VALUE [nx|xx] [ex MS] [cmp VALUE] [cmprev REV]',
      'r-1 not found Tms',
      'r1 set Tms',
      'r1 1 Tms'
    ]],
  ['a typed error from the peer prints ERR with its code',
    ['set "" v', 'get a at 99'],
    [
      'ERR INVALID_ARGUMENT key must not be empty',
      'ERR FUTURE_REVISION revision 99 is ahead of this peer\'s revision 0'
    ]],
  ['exit stops reading: later lines do not run',
    ['set a 1', 'exit', 'set b 2'],
    ['r1 set Tms']]
]

for (const [behaviour, script, expected] of sessions) {
  test(`shell: ${behaviour}`, async (t) => {
    const { lines } = await run(t, script.join('\n') + '\n')
    t.deepEqual(lines, expected)
  })
}

test('shell: the summary counts commands and failures, not blank lines or comments', async (t) => {
  const { summary } = await run(t, 'set a 1\n\n# note\nget a\nfrob\nget nope\nset b 2 nx\nset b 3 nx\n')
  t.deepEqual(summary, { commands: 6, failed: 1, reason: 'end' })
})

test('shell: "not found" and "not set" are answers, not failures', async (t) => {
  const { summary } = await run(t, 'get a\ndel a\nextend a 5\nexists a\nset a 1 xx\n')
  t.is(summary.failed, 0)
})

test('shell: exit ends the loop with reason exit', async (t) => {
  const { summary } = await run(t, 'get a\nexit\nfrob\n')
  t.deepEqual(summary, { commands: 2, failed: 0, reason: 'exit' })
})

test('shell: the last line runs even without a trailing newline', async (t) => {
  const { lines } = await run(t, 'set a 1\nget a')
  t.deepEqual(lines, ['r1 set Tms', 'r1 1 Tms'])
})

test('shell: CRLF line endings are accepted', async (t) => {
  const { lines } = await run(t, 'set a 1\r\nget a\r\n')
  t.deepEqual(lines, ['r1 set Tms', 'r1 1 Tms'])
})

test('shell: commands run strictly in order, each finishing before the next starts', async (t) => {
  const script = Array.from({ length: 100 }, (_, i) => `set counter ${i}`).join('\n') + '\nget counter\n'
  const { lines } = await run(t, script)
  t.deepEqual(lines, [...Array.from({ length: 100 }, (_, i) => `r${i + 1} set Tms`), 'r100 99 Tms'])
})

test('shell: a value over --max-value-bytes fails with VALUE_TOO_LARGE', async (t) => {
  const { lines, summary } = await run(t, 'set a 12345\nset a 1234\n', { peerOptions: { maxValueBytes: 4 } })
  t.deepEqual(lines, ['ERR VALUE_TOO_LARGE value is 5 bytes; the limit (maxValueBytes) is 4', 'r1 set Tms'])
  t.is(summary.failed, 1)
})

test('shell: status prints a standalone peer\'s state as name: value lines, without network lines', async (t) => {
  const peer = await startPeer(t)
  const { lines } = await run(t, 'set a 1\nset b 2\nstatus\n', { peer })
  t.deepEqual(lines, [
    'r1 set Tms',
    'r2 set Tms',
    'role: primary',
    'term: 0',
    'revision: 2',
    'keys: 2',
    `dataDir: ${peer.status().dataDir}`,
    'fsync: false',
    'compactedRevision: 0',
    'pendingWrites: 0'
  ])
})

test('shell: help prints the command list', async (t) => {
  const { lines, summary } = await run(t, 'help\n')
  t.is(lines[0], 'Commands (names and modifiers are case-insensitive):')
  t.true(lines.some((line) => line.includes('set KEY VALUE [nx|xx] [ex MS] [cmp VALUE] [cmprev REV]')))
  t.is(summary.failed, 0)
})

test('shell: the elapsed time is the peer call\'s, rounded to whole milliseconds', async (t) => {
  const times = [100, 111.4, 200, 200.6]
  const { raw } = await run(t, 'set a 1\nget a\n', { now: () => times.shift() ?? 0 })
  t.deepEqual(raw, ['r1 set 11ms', 'r1 1 1ms'])
  t.deepEqual(times, [])
})

test('shell: an unexpected non-kvgrid error prints ERR INTERNAL and counts as a failure', async (t) => {
  const real = await startPeer(t)
  const broken = withOverride(real, 'get', async () => { throw new Error('disk on fire') })
  const { lines, summary } = await run(t, 'get a\nset a 1\n', { peer: broken })
  t.deepEqual(lines, ['ERR INTERNAL disk on fire', 'r1 set Tms'])
  t.is(summary.failed, 1)
})

test('shell: an aborted signal ends the loop after the running command', async (t) => {
  const peer = await startPeer(t)
  const input = new PassThrough()
  const out = collect()
  const controller = new AbortController()
  const done = runShell({ peer, input, output: out.stream, signal: controller.signal })
  input.write('set a 1\n')
  while (!out.text().includes('\n')) await new Promise((resolve) => setTimeout(resolve, 5))
  controller.abort()
  input.write('set b 2\n')
  const summary = await done
  t.is(summary.reason, 'abort')
  t.regex(out.text(), /^r1 set \d+ms\n$/)
  t.is(await peer.get('b'), undefined)
})

test('shell: interactive mode prompts, loads history and reports new history lines oldest first', async (t) => {
  const peer = await startPeer(t)
  const input = new PassThrough()
  const out = collect()
  const saved: string[][] = []
  const done = runShell({
    peer,
    input,
    output: out.stream,
    interactive: true,
    history: ['get old'],
    onHistory: (history) => saved.push(history)
  })
  input.end('set a 1\r')
  const summary = await done
  t.is(summary.reason, 'end')
  t.true(out.text().includes(PROMPT))
  t.regex(out.text(), /r1 set \d+ms/)
  t.deepEqual(saved.at(-1), ['get old', 'set a 1'])
})

test('shell: members on a standalone peer says there are no members, and is not a failure', async (t) => {
  const { lines, summary } = await run(t, 'members\n')
  t.deepEqual(lines, ['no members: this peer is standalone (no networking)'])
  t.is(summary.failed, 0)
})

test('shell: in a script, notices go to the notice stream as they come and stop when the loop ends', async (t) => {
  const peer = await startPeer(t)
  const input = new PassThrough()
  const out = collect()
  const notes = collect()
  let notify: ((line: string) => void) | undefined
  let unsubscribed = false
  const done = runShell({
    peer,
    input,
    output: out.stream,
    noticeOutput: notes.stream,
    notices: (n) => {
      notify = n
      return () => { unsubscribed = true }
    }
  })
  input.write('set a 1\n')
  await waitFor(() => out.text().includes('\n'), 'the first command\'s output')
  notify?.('kvgrid: now secondary in term 2, primary X')
  input.end('get a\n')
  await done
  t.is(notes.text(), 'kvgrid: now secondary in term 2, primary X\n')
  t.regex(out.text(), /^r1 set \d+ms\nr1 1 \d+ms\n$/)
  t.true(unsubscribed)
})

test('shell: in interactive mode a notice at the prompt is printed on its own line and the prompt comes back', async (t) => {
  const peer = await startPeer(t)
  const input = new PassThrough()
  const out = collect()
  let notify: ((line: string) => void) | undefined
  const done = runShell({ peer, input, output: out.stream, interactive: true, notices: (n) => { notify = n; return () => {} } })
  await waitFor(() => out.text().includes(PROMPT), 'the prompt')
  input.write('get')
  await waitFor(() => out.text().endsWith('get'), 'the typed text to echo')
  const before = out.text().length
  notify?.('kvgrid: now primary in term 3')
  const after = out.text().slice(before)
  t.true(after.includes('kvgrid: now primary in term 3\n'), JSON.stringify(after))
  // The prompt is shown again with what was typed so far.
  t.true(after.slice(after.indexOf('term 3\n')).includes(PROMPT + 'get'), JSON.stringify(after))
  input.end(' a\r')
  t.is((await done).failed, 0)
})

/** `peer` with one method replaced (fault injection on a real peer). */
function withOverride (peer: KvPeer, name: keyof KvPeer, fn: (...args: any[]) => unknown): KvPeer {
  return new Proxy(peer, {
    get (target, prop) {
      if (prop === name) return fn
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}
