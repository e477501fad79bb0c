/**
 * The shell's pure output formatting: values, result lines, errors, status, the member table.
 */
import test from 'ava'
import { formatBytes, formatError, formatOutcome, formatText } from '../src/cli/format.js'
import type { Outcome } from '../src/cli/format.js'
import { tokenize } from '../src/cli/tokenize.js'
import { DataDirLockedError, InvalidArgumentError, ValueTooLargeError } from '../src/errors.js'
import type { Entry, PeerStatus } from '../src/types.js'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

const shown: Array<[name: string, bytes: Uint8Array, expected: string]> = [
  ['plain text as is', utf8('my-value'), 'my-value'],
  ['non-ASCII text as is', utf8('héllo✓'), 'héllo✓'],
  ['text with a space quoted', utf8('hello world'), '"hello world"'],
  ['text with a tab escaped', utf8('a\tb'), '"a\\tb"'],
  ['text with a newline escaped', utf8('a\nb'), '"a\\nb"'],
  ['text with a double quote escaped', utf8('say "hi"'), '"say \\"hi\\""'],
  ['text with a single quote quoted', utf8("it's"), '"it\'s"'],
  ['text with a backtick quoted', utf8('a`b'), '"a`b"'],
  ['text with a backslash escaped', utf8('a\\b'), '"a\\\\b"'],
  ['a control character as \\u', utf8('a\u0001b'), '"a\\u0001b"'],
  ['DEL as \\u', utf8('a\u007fb'), '"a\\u007fb"'],
  ['a byte-order mark as \\u', utf8('\ufeffx'), '"\\ufeffx"'],
  ['a no-break space as \\u', utf8('a\u00a0b'), '"a\\u00a0b"'],
  ['a line separator as \\u', utf8('a\u2028b'), '"a\\u2028b"'],
  ['the empty value as ""', new Uint8Array(0), '""'],
  ['invalid UTF-8 as hex', new Uint8Array([0xff, 0x00, 0x41]), '0xff0041'],
  ['a truncated UTF-8 sequence as hex', new Uint8Array([0xe2, 0x9c]), '0xe29c'],
  ['an encoded surrogate as hex', new Uint8Array([0xed, 0xa0, 0x80]), '0xeda080']
]

for (const [name, bytes, expected] of shown) {
  test(`formatBytes shows ${name}`, (t) => {
    t.is(formatBytes(bytes), expected)
  })
}

test('formatBytes honours the byte offset of a view into a larger buffer', (t) => {
  const buffer = new Uint8Array([0x41, 0xff, 0xfe, 0x42])
  t.is(formatBytes(buffer.subarray(1, 3)), '0xfffe')
})

for (const text of ['hello world', 'a"b\\c', 'line1\nline2\r\t', '', 'x\u0001\u007f\u00a0\u2028\ufeff', 'emoji 😀 ok']) {
  test(`formatText output of ${JSON.stringify(text)} reads back as the same word`, (t) => {
    const printed = formatText(text)
    t.false(printed.includes('\n'))
    t.deepEqual(tokenize(printed), { ok: true, value: [text] })
  })
}

const entry = (key: string, value: string, revision: number): Entry =>
  ({ key, value: utf8(value), revision, createRevision: revision, version: 1 })

const lines: Array<[name: string, outcome: Outcome, expected: string[]]> = [
  ['a successful set', { kind: 'set', result: { ok: true, revision: 3 }, ms: 11 }, ['r3 set 11ms']],
  ['a set whose condition failed', { kind: 'set', result: { ok: false, revision: 3 }, ms: 2 }, ['r3 not set 2ms']],
  ['a found get', { kind: 'get', entry: entry('k', 'my-value', 5), ms: 0.2 }, ['r5 my-value 0ms']],
  ['a get of a value with spaces', { kind: 'get', entry: entry('k', 'a b', 1), ms: 0 }, ['r1 "a b" 0ms']],
  ['an absent get', { kind: 'get', entry: undefined, ms: 0 }, ['r-1 not found 0ms']],
  ['a delete', { kind: 'del', result: { ok: true, revision: 6 }, ms: 1 }, ['r6 deleted 1ms']],
  ['a delete of an absent key', { kind: 'del', result: { ok: false, revision: 6 }, ms: 0 }, ['r-1 not found 0ms']],
  ['an existing key', { kind: 'exists', entry: entry('k', 'v', 5), ms: 0 }, ['r5 exists 0ms']],
  ['an absent key for exists', { kind: 'exists', entry: undefined, ms: 0 }, ['r-1 not found 0ms']],
  ['an extend', { kind: 'extend', result: { ok: true, revision: 7 }, ms: 1.4 }, ['r7 extended 1ms']],
  ['an extend of an absent key', { kind: 'extend', result: { ok: false, revision: 7 }, ms: 0 }, ['r-1 not found 0ms']],
  ['a scan, one line per entry', { kind: 'scan', entries: [entry('a', '1', 1), entry('b c', 'x y', 2)] }, ['r1 a 1', 'r2 "b c" "x y"']],
  ['an empty scan as nothing', { kind: 'scan', entries: [] }, []],
  ['a kvgrid error with its code', { kind: 'error', error: new ValueTooLargeError(10, 4) }, ['ERR VALUE_TOO_LARGE value is 10 bytes; the limit (maxValueBytes) is 4']]
]

for (const [name, outcome, expected] of lines) {
  test(`formatOutcome prints ${name}`, (t) => {
    t.deepEqual(formatOutcome(outcome), expected)
  })
}

test('formatOutcome rounds the elapsed time to whole milliseconds', (t) => {
  t.deepEqual(formatOutcome({ kind: 'set', result: { ok: true, revision: 1 }, ms: 10.5 }), ['r1 set 11ms'])
  t.deepEqual(formatOutcome({ kind: 'set', result: { ok: true, revision: 1 }, ms: 10.49 }), ['r1 set 10ms'])
})

const standalone: PeerStatus = { role: 'primary', term: 0, members: [], connections: [], revision: 4, keys: 2, dataDir: '/d', compactedRevision: 0, fsync: true, pendingWrites: 0 }

test('formatOutcome prints a standalone status without network lines', (t) => {
  t.deepEqual(formatOutcome({ kind: 'status', status: standalone }), [
    'role: primary', 'term: 0', 'revision: 4', 'keys: 2', 'dataDir: /d', 'fsync: true', 'compactedRevision: 0', 'pendingWrites: 0'
  ])
})

const A = '12D3KooWA'
const B = '12D3KooWBbbb'
const networked: PeerStatus = {
  ...standalone,
  peerId: A,
  role: 'secondary',
  term: 3,
  primary: B,
  cluster: 'kvgrid',
  clusterId: 'c1',
  members: [
    { peerId: B, role: 'primary', addrs: [`/ip4/127.0.0.1/tcp/7402/p2p/${B}`, '/ip4/10.0.0.2/tcp/7402'], lastSeenMs: 120.4 },
    { peerId: A, role: 'secondary', addrs: [`/ip4/127.0.0.1/tcp/7401/p2p/${A}`], lastSeenMs: 0 },
    { peerId: 'X', role: 'secondary', addrs: [] }
  ],
  connections: [B]
}

test('formatOutcome prints every status field of a networked peer, in a fixed order', (t) => {
  t.deepEqual(formatOutcome({ kind: 'status', status: networked }), [
    `peerId: ${A}`, 'role: secondary', 'term: 3', `primary: ${B}`, 'cluster: kvgrid', 'clusterId: c1', 'members: 3',
    'connections: 1', 'revision: 4', 'keys: 2', 'dataDir: /d', 'fsync: true', 'compactedRevision: 0', 'pendingWrites: 0'
  ])
})

test('formatOutcome shows an unknown primary or cluster id as -, and a conflict on its own line', (t) => {
  const { primary, clusterId, ...joining } = networked
  const lines = formatOutcome({ kind: 'status', status: { ...joining, role: 'joining', conflict: { clusterId: 'c2', peer: 'Y' } } })
  t.true(lines.includes('primary: -'))
  t.true(lines.includes('clusterId: -'))
  t.is(lines.at(-1), 'conflict: peer Y belongs to cluster id c2')
})

test('formatOutcome prints members as an aligned table: * marks this peer, addresses lose their /p2p suffix', (t) => {
  t.deepEqual(formatOutcome({ kind: 'members', status: networked }), [
    '  peer id       role       last heard  addresses',
    `  ${B}  primary    120ms       /ip4/127.0.0.1/tcp/7402 /ip4/10.0.0.2/tcp/7402`,
    `* ${A.padEnd(B.length)}  secondary  0ms         /ip4/127.0.0.1/tcp/7401`,
    `  ${'X'.padEnd(B.length)}  secondary  never       -`
  ])
})

test('formatOutcome prints members of a standalone peer as one explanatory line', (t) => {
  t.deepEqual(formatOutcome({ kind: 'members', status: standalone }), ['no members: this peer is standalone (no networking)'])
})

test('formatOutcome prints the help as several lines naming every command', (t) => {
  const help = formatOutcome({ kind: 'help' }).join('\n')
  for (const name of ['set', 'get', 'del', 'exists', 'extend', 'scan', 'status', 'members', 'help', 'exit']) {
    t.regex(help, new RegExp(`^  ${name}\\b`, 'm'))
  }
})

test('formatError prints a kvgrid error as ERR with its code on one line', (t) => {
  t.is(formatError(new InvalidArgumentError('unknown command "frob"; try help')), 'ERR INVALID_ARGUMENT unknown command "frob"; try help')
  t.is(formatError(new DataDirLockedError('/x')), `ERR DATA_DIR_LOCKED ${new DataDirLockedError('/x').message}`)
})

test('formatError prints any other error as ERR INTERNAL on one line', (t) => {
  t.is(formatError(new Error('boom\nsecond line')), 'ERR INTERNAL boom second line')
  t.is(formatError('a string'), 'ERR INTERNAL a string')
  const coded = Object.assign(new Error('no such file'), { code: 'ENOENT' })
  t.is(formatError(coded), 'ERR INTERNAL no such file')
})
