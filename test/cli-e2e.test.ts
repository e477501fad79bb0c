/**
 * End to end: `bin/kvgrid` as a child process, as a user or a script runs it.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/kvgrid', import.meta.url))

/** How long one child process may take (it starts node and tsx; slow on a loaded machine). */
const CHILD_TIMEOUT_MS = 20_000

interface Child {
  process: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves to the exit code (or the signal name when killed by one). */
  exited: Promise<number | string>
}

/** Spawn `bin/kvgrid args…` from a neutral cwd; `input` is written to stdin, which is then closed. */
function kvgrid (t: ExecutionContext, args: string[], input?: string): Child {
  const child = spawn(BIN, args, { cwd: tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const exited = new Promise<number | string>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => { resolve(code ?? signal ?? -1) })
  })
  if (input !== undefined) child.stdin.end(input)
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Wait until `condition()` holds, polling; fail after `deadlineMs`. */
async function waitFor (condition: () => boolean, what: string, deadlineMs = CHILD_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kvgrid-cli-e2e-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const lines = (text: string): string[] => text.split('\n').slice(0, -1).map((line) => line.replace(/ \d+ms$/, ' Tms'))

test('a piped script runs every command in order, prints one line each and exits 0', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const dir = await tempDir(t)
  const child = kvgrid(t, ['start', '--data', dir], 'set a 1\nget a\n# comment\n\nset k "a b"\nget k\nscan ""\ndel a\nget a\n')
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

test('a piped script with an invalid command exits 2 after running the rest', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const dir = await tempDir(t)
  const child = kvgrid(t, ['start', '--data', dir], 'set a 1 ex 1.5\nfrob\nset a 1\nget b\n')
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
  const child = kvgrid(t, ['start', '--data', dir, '--no-shell'])
  await waitFor(() => child.stderr().includes(`kvgrid: peer running (data ${dir})`) || child.process.exitCode !== null, 'the daemon\'s ready line')
  t.is(child.process.exitCode, null, `daemon exited early: ${child.stderr()}`)
  return child
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`--no-shell runs until ${signal}, then stops the peer cleanly and exits 0`, async (t) => {
    t.timeout(CHILD_TIMEOUT_MS * 2)
    const dir = await tempDir(t)
    const child = await daemon(t, dir)
    child.process.kill(signal)
    t.is(await child.exited, 0)
    t.regex(child.stderr(), /kvgrid: peer stopped\n$/)
    // The store was closed cleanly: it opens again and is usable.
    const next = kvgrid(t, ['start', '--data', dir], 'set a 1\n')
    t.is(await next.exited, 0)
  })
}

test('a second kvgrid start on a data directory in use exits 1 naming the directory', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS * 3)
  const dir = await tempDir(t)
  const first = await daemon(t, dir)
  const second = kvgrid(t, ['start', '--data', dir], 'set a 1\n')
  t.is(await second.exited, 1)
  t.is(second.stdout(), '')
  t.regex(second.stderr(), /^error: DATA_DIR_LOCKED .+\n$/)
  t.true(second.stderr().includes(dir))
  first.process.kill('SIGTERM')
  t.is(await first.exited, 0)
})

test('kvgrid --help and kvgrid start --help list every option', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const top = kvgrid(t, ['--help'])
  const start = kvgrid(t, ['start', '--help'])
  t.is(await top.exited, 0)
  t.is(await start.exited, 0)
  for (const option of ['--data', '--fsync', '--no-fsync', '--max-value-bytes', '--no-shell', '--help']) {
    t.true(top.stdout().includes(option), `kvgrid --help: ${option}`)
    t.true(start.stdout().includes(option), `kvgrid start --help: ${option}`)
  }
  t.true(top.stdout().includes('--version'))
  for (const command of ['set', 'get', 'del', 'exists', 'extend', 'scan', 'status', 'help', 'exit']) {
    t.regex(start.stdout(), new RegExp(`^  ${command}\\b`, 'm'), command)
  }
})

test('kvgrid --version prints the package version', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  const child = kvgrid(t, ['--version'])
  t.is(await child.exited, 0)
  t.is(child.stdout(), `${pkg.version}\n`)
})

test('an unknown option or subcommand prints a one-line error with a hint and exits 2', async (t) => {
  t.timeout(CHILD_TIMEOUT_MS)
  const option = kvgrid(t, ['start', '--data', 'x', '--frob'])
  const command = kvgrid(t, ['frob'])
  t.is(await option.exited, 2)
  t.is(await command.exited, 2)
  t.is(option.stderr(), 'error: unknown option \'--frob\'; see kvgrid start --help\n')
  t.is(command.stderr(), 'error: unknown command "frob"; see kvgrid --help\n')
})
