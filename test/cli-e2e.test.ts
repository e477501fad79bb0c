/**
 * End to end: `bin/kvgrid` as a child process, as a user or a script runs it. Peers are
 * standalone unless the network is the point; networked ones listen and dial on 127.0.0.1 only.
 * Serial: each test starts node processes, and many at once overload a small machine.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { readFile } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../src/node/index.js'
import { spawnKvgrid } from './helpers/bin.js'
import type { KvgridChild } from './helpers/bin.js'
import { closedPort } from './helpers/nodes.js'
import { tempDir } from './helpers/tmp.js'
import { waitFor as waitUntil } from './helpers/wait.js'

/** How long one child process may take (it starts node and tsx; slow on a loaded machine). */
const CHILD_TIMEOUT_MS = 20_000

type Child = KvgridChild

/** Spawn `bin/kvgrid args…` from a neutral cwd; `input` is written to stdin, which is then closed. */
function kvgrid (t: ExecutionContext, args: string[], input?: string): Child {
  return spawnKvgrid(t, args, input)
}

const lines = (text: string): string[] => text.split('\n').slice(0, -1).map((line) => line.replace(/ \d+ms$/, ' Tms'))

test.serial('a piped script runs every command in order, prints one line each and exits 0', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const dir = await tempDir(t)
  const child = kvgrid(t, ['start', '--data', dir, '--standalone'], 'set a 1\nget a\n# comment\n\nset k "a b"\nget k\nscan ""\ndel a\nget a\n')
  t.is(await child.exited, 0)
  t.deepEqual(lines(child.stdout()), [
    'r1 set Tms',
    'r1 1 Tms',
    'r2 set Tms',
    'r2 "a b" Tms',
    'r1 a 1',
    'r2 k "a b"',
    'r3 deleted Tms',
    'r-1 not found Tms'
  ])
  t.is(child.stderr(), '')
})

test.serial('a piped script with an invalid command exits 2 after running the rest', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const dir = await tempDir(t)
  const child = kvgrid(t, ['start', '--data', dir, '--standalone'], 'set a 1 ex 1.5\nfrob\nset a 1\nget b\n')
  t.is(await child.exited, 2)
  t.deepEqual(lines(child.stdout()), [
    'ERR INVALID_ARGUMENT ex MS must be a non-negative decimal integer, got "1.5"',
    'ERR INVALID_ARGUMENT unknown command "frob"; try help',
    'r1 set Tms',
    'r-1 not found Tms'
  ])
})

/** Start `kvgrid start --no-shell` on `dir` and wait for its ready line. */
async function daemon (t: ExecutionContext, dir: string): Promise<Child> {
  const child = kvgrid(t, ['start', '--data', dir, '--no-shell', '--standalone'])
  await waitFor(() => child.stderr().includes(`kvgrid: peer running (data ${dir})`) || child.process.exitCode !== null, 'the daemon\'s ready line')
  t.is(child.process.exitCode, null, `daemon exited early: ${child.stderr()}`)
  return child
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test.serial(`--no-shell runs until ${signal}, then stops the peer cleanly and exits 0`, async (t) => {
    t.timeout(CHILD_TIMEOUT_MS * 2)
    const dir = await tempDir(t)
    const child = await daemon(t, dir)
    child.process.kill(signal)
    t.is(await child.exited, 0)
    t.regex(child.stderr(), /kvgrid: peer stopped\n$/)
    // The store was closed cleanly: it opens again and is usable.
    const next = kvgrid(t, ['start', '--data', dir, '--standalone'], 'set a 1\n')
    t.is(await next.exited, 0)
  })
}

test.serial('a networked daemon says it is joining, then stops cleanly on SIGTERM while it waits for its cluster', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS * 2)
  const dir = await tempDir(t)
  // A seed that never answers: the peer waits for it rather than founding a cluster alone.
  const seed = await tempDir(t)
  const seedId = peerIdFromPrivateKey(await loadOrCreateIdentity(seed)).toString()
  const child = kvgrid(t, [
    'start', '--data', dir, '--no-shell', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--cluster', 'e2e',
    '--bootstrap', `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${seedId}`, '--ready-timeout', '0'
  ])
  await waitFor(() => child.stderr().includes('kvgrid: joining cluster e2e…\n') || child.process.exitCode !== null, 'the joining line')
  child.process.kill('SIGTERM')
  t.is(await child.exited, 0)
  t.is(child.stderr(), 'kvgrid: joining cluster e2e…\nkvgrid: peer stopped\n')
})

test.serial('a networked daemon prints who it is once it founded its cluster', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS * 2)
  const dir = await tempDir(t)
  const child = kvgrid(t, ['start', '--data', dir, '--no-shell', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'])
  await waitFor(() => child.stderr().includes('kvgrid: peer running') || child.process.exitCode !== null, 'the running line')
  child.process.kill('SIGTERM')
  t.is(await child.exited, 0)
  t.regex(child.stderr(), new RegExp([
    'kvgrid: joining cluster kvgrid…',
    'kvgrid: peer (12D3\\w+) is primary in term 1; listening on /ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/\\1',
    `kvgrid: peer running \\(data ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`,
    'kvgrid: peer stopped',
    ''
  ].join('\n') + '$'))
})

test.serial('a second kvgrid start on a data directory in use exits 1 naming the directory', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS * 3)
  const dir = await tempDir(t)
  const first = await daemon(t, dir)
  const second = kvgrid(t, ['start', '--data', dir, '--standalone'], 'set a 1\n')
  t.is(await second.exited, 1)
  t.is(second.stdout(), '')
  t.regex(second.stderr(), /^error: DATA_DIR_LOCKED .+\n$/)
  t.true(second.stderr().includes(dir))
  first.process.kill('SIGTERM')
  t.is(await first.exited, 0)
})

test.serial('kvgrid --help and kvgrid start --help list every option', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const top = kvgrid(t, ['--help'])
  const start = kvgrid(t, ['start', '--help'])
  t.is(await top.exited, 0)
  t.is(await start.exited, 0)
  for (const option of [
    '--data', '--fsync', '--no-fsync', '--max-value-bytes', '--no-shell', '--help', '--listen', '--bootstrap', '--mdns',
    '--no-mdns', '--cluster', '--standalone', '--ready-timeout'
  ]) {
    t.true(top.stdout().includes(option), `kvgrid --help: ${option}`)
    t.true(start.stdout().includes(option), `kvgrid start --help: ${option}`)
  }
  t.true(top.stdout().includes('--version'))
  for (const command of ['set', 'get', 'del', 'exists', 'extend', 'scan', 'status', 'members', 'help', 'exit']) {
    t.regex(start.stdout(), new RegExp(`^  ${command}\\b`, 'm'), command)
  }
})

test.serial('kvgrid --version prints the package version', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  const child = kvgrid(t, ['--version'])
  t.is(await child.exited, 0)
  t.is(child.stdout(), `${pkg.version}\n`)
})

test.serial('an unknown option or subcommand prints a one-line error with a hint and exits 2', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const option = kvgrid(t, ['start', '--data', 'x', '--frob'])
  const command = kvgrid(t, ['frob'])
  t.is(await option.exited, 2)
  t.is(await command.exited, 2)
  t.is(option.stderr(), 'error: unknown option \'--frob\'; see kvgrid start --help\n')
  t.is(command.stderr(), 'error: unknown command "frob"; see kvgrid --help\n')
})

/** Wait until `condition()` holds (a child process: allow for a slow start). */
async function waitFor (condition: () => boolean, what: string): Promise<void> {
  await waitUntil(condition, what, CHILD_TIMEOUT_MS, 20)
}
