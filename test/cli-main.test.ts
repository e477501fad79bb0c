/**
 * `main(argv, io)` in-process: argument parsing, help, version, exit codes, and `start` with a
 * piped script (stdin is a stream without a TTY, so the shell runs in pipe mode).
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { main, parseStartArgs } from '../src/cli/main.js'
import type { CliIo } from '../src/cli/main.js'

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

const START_OPTIONS = ['--data DIR', '--fsync', '--no-fsync', '--max-value-bytes N', '--no-shell', '--help']
const SHELL_COMMANDS = ['set KEY VALUE [nx|xx] [ex MS] [cmp VALUE] [cmprev REV]', 'get KEY [at REV]', 'del KEY', 'exists KEY', 'extend KEY MS', 'scan PREFIX [limit N]', 'status', 'help', 'exit']

test('kvgrid --help lists every option and exits 0', async (t) => {
  const { code, stdout, stderr } = await runMain(['--help'])
  t.is(code, 0)
  t.is(stderr, '')
  for (const option of ['--help', '--version', 'start', ...START_OPTIONS]) t.true(stdout.includes(option), option)
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
  [['start', '--data', 'd', '--max-value-bytes', '0'], /^error: option --max-value-bytes must be at least 1; see kvgrid start --help\n$/]
]

for (const [argv, message] of usageErrors) {
  test(`kvgrid ${JSON.stringify(argv)} prints a one-line error with a hint and exits 2`, async (t) => {
    const { code, stdout, stderr } = await runMain(argv)
    t.is(code, 2)
    t.is(stdout, '')
    t.regex(stderr, message)
  })
}

test('parseStartArgs: fsync is on by default and the last of --fsync/--no-fsync wins', (t) => {
  t.true(parseStartArgs(['--data', 'd']).fsync)
  t.false(parseStartArgs(['--data', 'd', '--no-fsync']).fsync)
  t.true(parseStartArgs(['--data', 'd', '--no-fsync', '--fsync']).fsync)
  t.false(parseStartArgs(['--data', 'd', '--fsync', '--no-fsync']).fsync)
})

test('parseStartArgs reads every start option', (t) => {
  t.deepEqual(parseStartArgs(['--data=d', '--max-value-bytes', '64', '--no-shell']), { help: false, dataDir: 'd', fsync: true, maxValueBytes: 64, shell: false })
  t.deepEqual(parseStartArgs(['--data', 'd']), { help: false, dataDir: 'd', fsync: true, shell: true })
})

test('start runs a piped script, prints one line per command and exits 0', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(['start', '--data', dir], 'set a 1\nget a\nset k "a b"\nget k\n')
  t.is(stderr, '')
  t.deepEqual(normalise(stdout), ['r1 set Tms', 'r1 1 Tms', 'r2 set Tms', 'r2 "a b" Tms'])
  t.is(code, 0)
})

test('start exits 2 when a piped command is invalid or fails, after running the rest', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout } = await runMain(['start', '--data', dir], 'frob\nset a 1\n')
  t.deepEqual(normalise(stdout), ['ERR INVALID_ARGUMENT unknown command "frob"; try help', 'r1 set Tms'])
  t.is(code, 2)
})

test('start keeps data across runs on the same directory', async (t) => {
  const dir = await tempDir(t)
  t.is((await runMain(['start', '--data', dir], 'set a 1\n')).code, 0)
  const { code, stdout } = await runMain(['start', '--data', dir], 'get a\n')
  t.deepEqual(normalise(stdout), ['r1 1 Tms'])
  t.is(code, 0)
})

test('start --no-fsync and --max-value-bytes configure the peer', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout } = await runMain(['start', '--data', dir, '--no-fsync', '--max-value-bytes', '4'], 'set a 12345\nstatus\n')
  t.is(code, 2)
  const lines = normalise(stdout)
  t.is(lines[0], 'ERR VALUE_TOO_LARGE value is 5 bytes; the limit (maxValueBytes) is 4')
  t.true(lines.includes('fsync: false'))
})

test('start with fsync by default reports fsync: true', async (t) => {
  const dir = await tempDir(t)
  const { stdout } = await runMain(['start', '--data', dir], 'status\n')
  t.true(normalise(stdout).includes('fsync: true'))
})

test('start does not write shell history in pipe mode', async (t) => {
  const dir = await tempDir(t)
  await runMain(['start', '--data', dir], 'set a 1\n')
  await t.throwsAsync(access(join(dir, '.shell_history')))
})

test('start exits 1 with error: CODE message when the peer cannot start', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await runMain(['start', '--data', dir, '--max-value-bytes', '999999999999'], 'get a\n')
  t.is(code, 1)
  t.is(stdout, '')
  t.regex(stderr, /^error: INVALID_ARGUMENT .*maxValueBytes.*\n$/)
})
