/**
 * `main(argv, io)` in-process: argument parsing, help, version, exit codes, and `start` with a
 * piped script (stdin is a stream without a TTY, so the shell runs in pipe mode). Peers are
 * standalone unless the network is the point; networked ones listen on 127.0.0.1 only.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { closedPort } from './helpers/nodes.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { main, parseDemoArgs, parseStartArgs } from '../src/cli/main.js'
import type { CliIo, DemoArgs, StartArgs } from '../src/cli/main.js'
import { createPeer } from '../src/index.js'
import { loadOrCreateIdentity } from '../src/node/index.js'

// Every in-process `start` listens for SIGINT and SIGTERM while it runs, and these tests run
// many at once.
process.setMaxListeners(64)

interface Run { code: number, stdout: string, stderr: string }

function sink (): { stream: NodeJS.WritableStream, text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  return { stream, text: () => text }
}

async function runMain (argv: string[], stdin = ''): Promise<Run> {
  const stdout = sink()
  const stderr = sink()
  const io: CliIo = { stdin: Readable.from([stdin]), stdout: stdout.stream, stderr: stderr.stream }
  const code = await main(argv, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kvgrid-cli-main-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const normalise = (stdout: string): string[] => stdout.split('\n').slice(0, -1).map((line) => line.replace(/ \d+ms$/, ' Tms'))

const START_OPTIONS = [
  '--data DIR', '--fsync', '--no-fsync', '--max-value-bytes N', '--no-shell', '--help', '--listen ADDR', '--bootstrap ADDR',
  '--mdns', '--no-mdns', '--cluster NAME', '--standalone', '--ready-timeout MS'
]
const DEMO_OPTIONS = ['--peers N', '--data DIR', '--base-port P', '--mdns', '--ready-timeout MS', '--help']
const SHELL_COMMANDS = ['set KEY VALUE [nx|xx] [ex MS] [cmp VALUE] [cmprev REV]', 'get KEY [at REV]', 'del KEY', 'exists KEY', 'extend KEY MS', 'scan PREFIX [limit N]', 'status', 'members', 'help', 'exit']

test('kvgrid --help lists every option and exits 0', async (t) => {
  const { code, stdout, stderr } = await runMain(['--help'])
  t.is(code, 0)
  t.is(stderr, '')
  for (const option of ['--help', '--version', 'start', 'demo', ...START_OPTIONS]) t.true(stdout.includes(option), option)
})

test('kvgrid demo --help lists every demo option', async (t) => {
  const { code, stdout } = await runMain(['demo', '--help'])
  t.is(code, 0)
  for (const option of DEMO_OPTIONS) t.true(stdout.includes(option), option)
})

test('kvgrid start --help lists every option and every shell command', async (t) => {
  for (const argv of [['start', '--help'], ['start', '-h'], ['start', '--data', 'x', '--help']]) {
    const { code, stdout } = await runMain(argv)
    t.is(code, 0)
    for (const text of [...START_OPTIONS, ...SHELL_COMMANDS]) t.true(stdout.includes(text), `${argv.join(' ')}: ${text}`)
  }
})

test('kvgrid --version prints the package version', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  t.deepEqual(await runMain(['--version']), { code: 0, stdout: `${pkg.version}\n`, stderr: '' })
  t.is((await runMain(['-v'])).stdout, `${pkg.version}\n`)
})

test('kvgrid without arguments prints the help to stderr and exits 2', async (t) => {
  const { code, stdout, stderr } = await runMain([])
  t.is(code, 2)
  t.is(stdout, '')
  t.true(stderr.includes('kvgrid start --data DIR'))
})

const hint = '; see kvgrid start --help\n$'
const demoHint = '; see kvgrid demo --help\n$'
const PEER_ID = '12D3KooWPRTncs848fnijKpjQ3WT5D1MqHFea9aaPjJERcmaZmoK'
const re = (text: string, end = hint): RegExp => new RegExp(`^error: ${text}${end}`)

const usageErrors: Array<[argv: string[], message: RegExp]> = [
  [['frob'], /^error: unknown command "frob"; see kvgrid --help\n$/],
  [['--frob'], /^error: unknown option '--frob'; see kvgrid --help\n$/],
  [['start'], /^error: missing required option --data DIR; see kvgrid start --help\n$/],
  [['start', '--data'], /^error: option '--data <value>' argument missing; see kvgrid start --help\n$/],
  [['start', '--data', ''], /^error: option --data needs a directory; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--frob'], /^error: unknown option '--frob'; see kvgrid start --help\n$/],
  [['start', '--data', 'd', 'extra'], /^error: unexpected argument 'extra'; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--fsync=no'], /^error: option '--fsync' does not take an argument; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--max-value-bytes', '1.5'], /^error: option --max-value-bytes must be a non-negative decimal integer, got "1.5"; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--max-value-bytes', '-1'], /^error: .*--max-value-bytes.*; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--max-value-bytes', '1e3'], /^error: option --max-value-bytes must be a non-negative decimal integer, got "1e3"; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--max-value-bytes', '0'], /^error: option --max-value-bytes must be at least 1; see kvgrid start --help\n$/],
  [['start', '--data', 'd', '--listen'], re("option '--listen <value>' argument missing")],
  [['start', '--data', 'd', '--listen', 'localhost:7401'], re('option --listen: "localhost:7401" is not a valid multiaddr \\(.*\\)')],
  [['start', '--data', 'd', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/999.0.0.1/tcp/1'], re('option --listen: "/ip4/999.0.0.1/tcp/1" is not a valid multiaddr .*')],
  [['start', '--data', 'd', '--bootstrap', '/ip4/127.0.0.1/tcp/7401'], re('option --bootstrap: "/ip4/127.0.0.1/tcp/7401" must end with /p2p/<peer id>')],
  [['start', '--data', 'd', '--bootstrap', 'nonsense'], re('option --bootstrap: "nonsense" is not a valid multiaddr .*')],
  [['start', '--data', 'd', '--mdns=yes'], re("option '--mdns' does not take an argument")],
  [['start', '--data', 'd', '--ready-timeout', '1.5'], re('option --ready-timeout must be a non-negative decimal integer, got "1.5"')],
  [['start', '--data', 'd', '--ready-timeout', '-1'], re('.*--ready-timeout.*')],
  [['start', '--data', 'd', '--standalone', '--listen', '/ip4/127.0.0.1/tcp/0'], re('option --listen cannot be used with --standalone \\(a standalone peer has no networking\\)')],
  [['start', '--data', 'd', '--bootstrap', `/ip4/127.0.0.1/tcp/1/p2p/${PEER_ID}`, '--standalone'], re('option --bootstrap cannot be used with --standalone .*')],
  [['start', '--data', 'd', '--standalone', '--mdns'], re('option --mdns cannot be used with --standalone .*')],
  [['start', '--data', 'd', '--standalone', '--force-primary', '0123456789abcdef0123456789abcdef'], re('option --force-primary cannot be used with --standalone .*')],
  [['start', '--data', 'd', '--force-primary', 'yes'], re('option --force-primary needs the cluster id to force out of .*')],
  [['start', '--data', 'd', '--force-primary'], re("option '--force-primary <value>' argument missing")],
  [['start', '--data', 'd', '--standalone', '--no-mdns'], re('option --no-mdns cannot be used with --standalone .*')],
  [['start', '--data', 'd', '--standalone', '--cluster', 'x'], re('option --cluster cannot be used with --standalone .*')],
  [['demo', 'extra'], re("unexpected argument 'extra'", demoHint)],
  [['demo', '--frob'], re("unknown option '--frob'", demoHint)],
  [['demo', '--peers', '0'], re('option --peers must be at least 1', demoHint)],
  [['demo', '--peers', '8'], re('option --peers must be from 1 to 7, got 8', demoHint)],
  [['demo', '--peers', 'three'], re('option --peers must be a non-negative decimal integer, got "three"', demoHint)],
  [['demo', '--base-port', '0'], re('option --base-port must be at least 1', demoHint)],
  [['demo', '--base-port', '65534'], re('option --base-port 65534 leaves no room for 3 peers \\(ports 65534-65536; the last port is 65535\\)', demoHint)],
  [['demo', '--data', ''], re('option --data needs a directory', demoHint)],
  [['demo', '--ready-timeout', 'soon'], re('option --ready-timeout must be a non-negative decimal integer, got "soon"', demoHint)]
]

for (const [argv, message] of usageErrors) {
  test(`kvgrid ${JSON.stringify(argv)} prints a one-line error with a hint and exits 2`, async (t) => {
    const { code, stdout, stderr } = await runMain(argv)
    t.is(code, 2)
    t.is(stdout, '')
    t.regex(stderr, message)
  })
}

const START_DEFAULTS: StartArgs = {
  help: false, dataDir: 'd', fsync: true, shell: true, standalone: false, listen: [], bootstrap: [], mdns: true, readyTimeoutMs: 30000
}

const startArgs: Array<[argv: string[], expected: Partial<StartArgs>]> = [
  [[], {}],
  [['--no-fsync'], { fsync: false }],
  [['--force-primary', '0123456789abcdef0123456789abcdef'], { forcePrimary: '0123456789abcdef0123456789abcdef' }],
  [['--no-fsync', '--fsync'], { fsync: true }],
  [['--fsync', '--no-fsync'], { fsync: false }],
  [['--max-value-bytes', '64', '--no-shell'], { maxValueBytes: 64, shell: false }],
  [['--listen', '/ip4/127.0.0.1/tcp/7401', '--listen=/ip6/::1/tcp/0'], { listen: ['/ip4/127.0.0.1/tcp/7401', '/ip6/::1/tcp/0'] }],
  [['--bootstrap', `/ip4/127.0.0.1/tcp/7401/p2p/${PEER_ID}`, '--bootstrap', `/dns4/peer.lan/tcp/7401/p2p/${PEER_ID}`],
    { bootstrap: [`/ip4/127.0.0.1/tcp/7401/p2p/${PEER_ID}`, `/dns4/peer.lan/tcp/7401/p2p/${PEER_ID}`] }],
  [['--no-mdns'], { mdns: false }],
  [['--no-mdns', '--mdns'], { mdns: true }],
  [['--mdns', '--no-mdns'], { mdns: false }],
  [['--cluster', 'office-2'], { cluster: 'office-2' }],
  [['--standalone'], { standalone: true }],
  [['--standalone', '--no-shell', '--no-fsync'], { standalone: true, shell: false, fsync: false }],
  [['--ready-timeout', '0'], { readyTimeoutMs: 0 }],
  [['--ready-timeout', '1500'], { readyTimeoutMs: 1500 }]
]

for (const [argv, expected] of startArgs) {
  test(`parseStartArgs reads ${JSON.stringify(argv)} (with --data d) as ${JSON.stringify(expected)} over the defaults`, (t) => {
    t.deepEqual(parseStartArgs(['--data', 'd', ...argv]), { ...START_DEFAULTS, ...expected })
  })
}

const DEMO_ARGS_DEFAULTS: DemoArgs = { help: false, peers: 3, dataDir: '.kvgrid/demo', mdns: false, basePort: 7401, readyTimeoutMs: 30000 }

const demoArgs: Array<[argv: string[], expected: Partial<DemoArgs>]> = [
  [[], {}],
  [['--peers', '1'], { peers: 1 }],
  [['--peers', '7', '--base-port', '65529'], { peers: 7, basePort: 65529 }],
  [['--data', '/tmp/x'], { dataDir: '/tmp/x' }],
  [['--mdns'], { mdns: true }],
  [['--mdns', '--no-mdns'], { mdns: false }],
  [['--ready-timeout', '5000'], { readyTimeoutMs: 5000 }],
  [['-h'], { help: true }]
]

for (const [argv, expected] of demoArgs) {
  test(`parseDemoArgs reads ${JSON.stringify(argv)} as ${JSON.stringify(expected)} over the defaults`, (t) => {
    t.deepEqual(parseDemoArgs(argv), { ...DEMO_ARGS_DEFAULTS, ...expected })
  })
}

test('start runs a piped script, prints one line per command and exits 0', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, '--standalone'], 'set a 1\nget a\nset k "a b"\nget k\n')
  t.is(stderr, '')
  t.deepEqual(normalise(stdout), ['r1 set Tms', 'r1 1 Tms', 'r2 set Tms', 'r2 "a b" Tms'])
  t.is(code, 0)
})

test('start exits 2 when a piped command is invalid or fails, after running the rest', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout } = await runMain(['start', '--data', dir, '--standalone'], 'frob\nset a 1\n')
  t.deepEqual(normalise(stdout), ['ERR INVALID_ARGUMENT unknown command "frob"; try help', 'r1 set Tms'])
  t.is(code, 2)
})

test('start keeps data across runs on the same directory', async (t) => {
  const dir = await tempDir(t)
  t.is((await runMain(['start', '--data', dir, '--standalone'], 'set a 1\n')).code, 0)
  const { code, stdout } = await runMain(['start', '--data', dir, '--standalone'], 'get a\n')
  t.deepEqual(normalise(stdout), ['r1 1 Tms'])
  t.is(code, 0)
})

test('start --no-fsync and --max-value-bytes configure the peer', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout } = await runMain(['start', '--data', dir, '--standalone', '--no-fsync', '--max-value-bytes', '4'], 'set a 12345\nstatus\n')
  t.is(code, 2)
  const lines = normalise(stdout)
  t.is(lines[0], 'ERR VALUE_TOO_LARGE value is 5 bytes; the limit (maxValueBytes) is 4')
  t.true(lines.includes('fsync: false'))
})

test('start with fsync by default reports fsync: true', async (t) => {
  const dir = await tempDir(t)
  const { stdout } = await runMain(['start', '--data', dir, '--standalone'], 'status\n')
  t.true(normalise(stdout).includes('fsync: true'))
})

test('start does not write shell history in pipe mode', async (t) => {
  const dir = await tempDir(t)
  await runMain(['start', '--data', dir, '--standalone'], 'set a 1\n')
  await t.throwsAsync(access(join(dir, '.shell_history')))
})

test('start exits 2 with error: INVALID_ARGUMENT message when the peer rejects an option', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, '--standalone', '--max-value-bytes', '999999999999'], 'get a\n')
  t.is(code, 2)
  t.is(stdout, '')
  t.regex(stderr, /^error: INVALID_ARGUMENT .*maxValueBytes.*\n$/)
})

const rejectedByPeer: Array<[argv: string[], message: RegExp]> = [
  [['--cluster', 'My_Cluster'], /^error: INVALID_ARGUMENT cluster must be 1-32 characters of a-z, 0-9 and "-", starting with a letter or digit; got "My_Cluster"\n$/],
  [['--cluster', ''], /^error: INVALID_ARGUMENT cluster must be .*; got ""\n$/],
  [['--cluster', 'a'.repeat(33)], /^error: INVALID_ARGUMENT cluster must be 1-32 characters/]
]

for (const [argv, message] of rejectedByPeer) {
  test(`start ${JSON.stringify(argv)}: the peer's INVALID_ARGUMENT prints one line and exits 2, before a port is opened`, async (t) => {
    const dir = await tempDir(t)
    const { code, stdout, stderr } = await runMain(['start', '--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', ...argv], 'status\n')
    t.is(code, 2)
    t.is(stdout, '')
    t.regex(stderr, message)
  })
}

test('start exits 1 with error: DATA_DIR_LOCKED message when another peer holds the directory', async (t) => {
  const dir = await tempDir(t)
  const holder = await createPeer({ dataDir: dir, standalone: true })
  t.teardown(async () => { await holder.stop() })
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, '--standalone'], 'get a\n')
  t.is(code, 1)
  t.is(stdout, '')
  t.regex(stderr, /^error: DATA_DIR_LOCKED .+\n$/)
})

const loopback = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

test('a networked start runs the script once it founded its cluster, and prints nothing on stderr', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, ...loopback, '--cluster', 'cli-main'], 'status\nmembers\nset a 1\nget a\n')
  t.is(stderr, '')
  const lines = normalise(stdout)
  const status = Object.fromEntries(lines.filter((l) => /^\w+: /.test(l)).map((l) => l.split(': ')))
  t.like(status, { role: 'primary', term: '1', cluster: 'cli-main', members: '1', connections: '0', revision: '0' })
  t.is(status.primary, status.peerId)
  t.regex(status.clusterId, /^[0-9a-f]{32}$/)
  const table = lines.slice(lines.indexOf('pendingWrites: 0') + 1, -2)
  t.regex(table[0], /^ {2}peer id +role +last heard +addresses$/)
  t.regex(table[1], new RegExp(`^\\* ${status.peerId} +primary +0ms +/ip4/127\\.0\\.0\\.1/tcp/\\d+$`))
  t.is(table.length, 2)
  t.deepEqual(lines.slice(-2), ['r1 set Tms', 'r1 1 Tms'])
  t.is(code, 0)
})

test('start exits 1 with CLUSTER_UNAVAILABLE, running no command, when the peer is not ready within --ready-timeout', async (t) => {
  const dir = await tempDir(t)
  const seedId = peerIdFromPrivateKey(await loadOrCreateIdentity(await tempDir(t))).toString()
  const unreachable = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${seedId}`
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, ...loopback, '--bootstrap', unreachable, '--ready-timeout', '300'], 'set a 1\n')
  t.is(stdout, '')
  t.regex(stderr, /^error: CLUSTER_UNAVAILABLE the peer was not ready within 300 ms: it is joining in term 0, no primary known, with 0 connections\n$/)
  t.is(code, 1)
  // The peer was stopped: the directory can be used again.
  t.is((await runMain(['start', '--data', dir, '--standalone'], 'set a 1\n')).code, 0)
})

test('a start bootstrapped to a primary joins as secondary: status and members show both peers, a write is forwarded to the primary', async (t) => {
  const primary = await createPeer({ dataDir: await tempDir(t), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, cluster: 'cli-pair' })
  t.teardown(async () => { await primary.stop() })
  await primary.ready()
  const primaryId = primary.status().peerId ?? ''
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(
    ['start', '--data', dir, ...loopback, '--cluster', 'cli-pair', '--bootstrap', primary.multiaddrs[0]],
    'status\nmembers\nset a 1\nget a\n'
  )
  t.is(stderr, '')
  const lines = normalise(stdout)
  const status = Object.fromEntries(lines.filter((l) => /^\w+: /.test(l)).map((l) => l.split(': ')))
  t.like(status, { role: 'secondary', term: '1', primary: primaryId, cluster: 'cli-pair', clusterId: primary.status().clusterId, members: '2', connections: '1' })
  const table = lines.slice(lines.indexOf('pendingWrites: 0') + 1, -2)
  t.is(table.length, 3)
  t.regex(table.find((l) => l.includes(primaryId)) ?? '', new RegExp(`^  ${primaryId} +primary +(\\d+ms|never) +/ip4/127\\.0\\.0\\.1/tcp/\\d+$`))
  t.regex(table.find((l) => l.startsWith('*')) ?? '', new RegExp(`^\\* ${status.peerId} +secondary +0ms +/ip4/127\\.0\\.0\\.1/tcp/\\d+$`))
  t.deepEqual(lines.slice(-2), ['r1 set Tms', 'r1 1 Tms'])
  t.is(code, 0)
  t.is(new TextDecoder().decode((await primary.get('a'))?.value), '1', 'the primary holds the forwarded write')
})
