/**
 * The `kvgrid` command: argv parsing, peer lifecycle, signals and exit codes.
 *
 *   kvgrid start --data DIR [--fsync|--no-fsync] [--max-value-bytes N] [--no-shell]
 *   kvgrid --help | --version
 *
 * Exit codes: 0 success; 1 the peer failed to start or stop; 2 bad usage, or (piped input) a
 * command was invalid or failed.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createPeer } from '../index.js'
import type { KvPeer } from '../types.js'
import { KvgridError } from '../errors.js'
import { SHELL_HELP, parseCount } from './commands.js'
import { HISTORY_SIZE, runShell } from './shell.js'

/** Exit code: success. */
export const EXIT_OK = 0
/** Exit code: the peer could not start (e.g. its data directory is in use) or stop. */
export const EXIT_FAILURE = 1
/** Exit code: bad command line, or a piped command was invalid or failed. */
export const EXIT_USAGE = 2

/** Name of the shell history file inside the data directory. */
export const HISTORY_FILE = '.shell_history'

/** The streams the CLI talks to (the process's own by default). */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream
}

/** Options of `kvgrid start`, after parsing. */
export interface StartArgs {
  help: boolean
  dataDir: string
  fsync: boolean
  maxValueBytes?: number
  shell: boolean
}

const MAIN_HELP = `kvgrid: a replicated key-value store.

Usage:
  kvgrid start --data DIR [options]   run a peer with an interactive shell (or a script on stdin)
  kvgrid -h, --help                   print this help (kvgrid start --help: the shell commands)
  kvgrid -v, --version                print the version

Options of kvgrid start:
  --data DIR              data directory (required; created when missing)
  --fsync, --no-fsync     fsync every commit before it is acknowledged (default: --fsync)
  --max-value-bytes N     largest value accepted, in bytes (default 1048576)
  --no-shell              run without a shell until SIGINT/SIGTERM
  -h, --help              print help for kvgrid start

Exit codes: 0 ok; 1 the peer failed to start or stop; 2 bad usage, or a piped command failed.
`

const START_HELP = `Usage: kvgrid start --data DIR [options]

Runs a peer on DIR. With a terminal on stdin it opens an interactive shell (prompt "kvgrid> ",
history in DIR/${HISTORY_FILE}); with a pipe or file on stdin it runs the commands one by one
and exits at end of input, without printing a prompt.

Options:
  --data DIR              data directory (required; created when missing)
  --fsync                 fsync every commit before it is acknowledged (default)
  --no-fsync              do not fsync: faster, but an OS crash or power loss can lose the
                          last acknowledged writes
  --max-value-bytes N     largest value accepted, in bytes (default 1048576)
  --no-shell              no shell: run until SIGINT or SIGTERM, then stop cleanly
  -h, --help              print this help

${SHELL_HELP.join('\n')}

Output: "rN set|not set|deleted|extended|exists Tms", "rN VALUE Tms" for get, "r-1 not found Tms",
"rN KEY VALUE" per scanned key, "ERR CODE message" on an error. Values print as text, as a
"quoted string" when they contain whitespace, quotes, backslashes or control characters, and
as 0x-hex when they are not valid UTF-8.

Exit codes: 0 ok (every piped command ran); 1 the peer failed to start or stop; 2 bad usage,
or a piped command was invalid or failed ("not found" and "not set" are not failures).
`

/** The package version, from package.json. */
export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** A command-line mistake: printed as one line with a hint, exit code 2. */
class UsageError extends Error {
  constructor (message: string, readonly hint: string) { super(message) }
}

/** Turn a node:util parseArgs error into a one-line message. */
function parseArgsMessage (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const first = message.split(/\.(\s|$)/)[0]
  return first.charAt(0).toLowerCase() + first.slice(1)
}

/** Parse the arguments of `kvgrid start` (after the word `start`). Throws {@link UsageError}. */
export function parseStartArgs (args: string[]): StartArgs {
  const hint = 'see kvgrid start --help'
  let parsed
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      tokens: true,
      options: {
        data: { type: 'string' },
        fsync: { type: 'boolean' },
        'no-fsync': { type: 'boolean' },
        'max-value-bytes': { type: 'string' },
        'no-shell': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), hint)
  }
  const { values, tokens } = parsed
  // The last of --fsync / --no-fsync wins.
  let fsync = true
  for (const token of tokens) {
    if (token.kind === 'option' && token.name === 'fsync') fsync = true
    if (token.kind === 'option' && token.name === 'no-fsync') fsync = false
  }
  const help = values.help === true
  const dataDir = values.data ?? ''
  if (!help && dataDir === '') {
    throw new UsageError(values.data === undefined ? 'missing required option --data DIR' : 'option --data needs a directory', hint)
  }
  let maxValueBytes: number | undefined
  if (values['max-value-bytes'] !== undefined) {
    const n = parseCount(values['max-value-bytes'], 'option --max-value-bytes')
    if (!n.ok) throw new UsageError(n.error.message, hint)
    if (n.value === 0) throw new UsageError('option --max-value-bytes must be at least 1', hint)
    maxValueBytes = n.value
  }
  return { help, dataDir, fsync, shell: values['no-shell'] !== true, ...(maxValueBytes === undefined ? {} : { maxValueBytes }) }
}

function describeError (err: unknown): string {
  const code = err instanceof KvgridError ? err.code : 'INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  return `${code} ${message.replace(/\s*[\r\n]+\s*/g, ' ')}`
}

function loadHistory (file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').slice(-HISTORY_SIZE)
  } catch {
    return []
  }
}

function saveHistory (file: string, history: string[], io: CliIo): void {
  try {
    writeFileSync(file, history.join('\n') + '\n', { mode: 0o600 })
  } catch (err) {
    io.stderr.write(`kvgrid: cannot save shell history to ${file}: ${err instanceof Error ? err.message : String(err)}\n`)
  }
}

/** `kvgrid start`: run a peer with a shell or as a daemon; resolves to the exit code. */
async function start (args: StartArgs, io: CliIo): Promise<number> {
  const stopping = new AbortController()
  const onSignal = (): void => {
    if (!stopping.signal.aborted) {
      stopping.abort()
      return
    }
    io.stderr.write('kvgrid: second signal; exiting without a clean stop\n')
    process.exit(EXIT_FAILURE)
  }
  // The reader of stdout went away (EPIPE): stop as if signalled rather than crash.
  const onOutputError = (): void => { stopping.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  io.stdout.on('error', onOutputError)
  try {
    let peer: KvPeer
    try {
      peer = await createPeer({
        dataDir: args.dataDir,
        fsync: args.fsync,
        ...(args.maxValueBytes === undefined ? {} : { maxValueBytes: args.maxValueBytes })
      })
    } catch (err) {
      io.stderr.write(`error: ${describeError(err)}\n`)
      return EXIT_FAILURE
    }

    let code = EXIT_OK
    const dataDir = peer.status().dataDir
    const interactive = args.shell && io.stdin.isTTY === true && io.stdout.isTTY === true
    if (!args.shell) {
      io.stderr.write(`kvgrid: peer running (data ${dataDir})\n`)
      // Nothing else may hold the event loop open while the daemon waits for a signal.
      const keepAlive = setInterval(() => {}, 1 << 30)
      await new Promise<void>((resolve) => {
        if (stopping.signal.aborted) resolve()
        else stopping.signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
      clearInterval(keepAlive)
    } else if (!stopping.signal.aborted) {
      const historyFile = join(dataDir, HISTORY_FILE)
      if (interactive) io.stderr.write(`kvgrid: peer running (data ${dataDir}); type help for commands\n`)
      const summary = await runShell({
        peer,
        input: io.stdin,
        output: io.stdout,
        interactive,
        ...(interactive
          ? { history: loadHistory(historyFile), onHistory: (history: string[]) => { saveHistory(historyFile, history, io) } }
          : {}),
        signal: stopping.signal
      })
      if (!interactive && summary.failed > 0) code = EXIT_USAGE
    }

    try {
      await peer.stop()
    } catch (err) {
      io.stderr.write(`error: ${describeError(err)}\n`)
      return EXIT_FAILURE
    }
    if (!args.shell) io.stderr.write('kvgrid: peer stopped\n')
    return code
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    io.stdout.off('error', onOutputError)
  }
}

/**
 * Run the CLI with `argv` (the arguments after the program name) and resolve to the exit code.
 * Does not exit the process: the caller does, once output is flushed.
 */
export async function main (argv: string[], io: CliIo = process): Promise<number> {
  const usage = (err: UsageError): number => {
    io.stderr.write(`error: ${err.message}; ${err.hint}\n`)
    return EXIT_USAGE
  }
  const [command, ...rest] = argv
  if (command === 'start') {
    let args: StartArgs
    try {
      args = parseStartArgs(rest)
    } catch (err) {
      if (err instanceof UsageError) return usage(err)
      throw err
    }
    if (args.help) {
      io.stdout.write(START_HELP)
      return EXIT_OK
    }
    return await start(args, io)
  }
  if (command === undefined) {
    io.stderr.write(MAIN_HELP)
    return EXIT_USAGE
  }
  if (!command.startsWith('-')) return usage(new UsageError(`unknown command ${JSON.stringify(command)}`, 'see kvgrid --help'))
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } }
    }))
  } catch (err) {
    return usage(new UsageError(parseArgsMessage(err), 'see kvgrid --help'))
  }
  if (values.help === true) {
    io.stdout.write(MAIN_HELP)
    return EXIT_OK
  }
  io.stdout.write(`${version()}\n`)
  return EXIT_OK
}
