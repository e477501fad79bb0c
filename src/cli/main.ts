/**
 * The `kvgrid` command: dispatch of the subcommands, help and version.
 *
 *   kvgrid start --data DIR [options]   one peer with a shell, a script, or as a daemon
 *   kvgrid demo [options]               a local cluster on 127.0.0.1 with a shell
 *   kvgrid --help | --version
 *
 * Exit codes: 0 success; 1 the peer failed to start, get ready or stop; 2 bad usage (also an
 * option the peer rejects), or (piped input) a command was invalid or failed.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { UsageError, parseArgsMessage, parseDemoArgs, parseStartArgs } from './args.js'
import type { DemoArgs, StartArgs } from './args.js'
import { DEMO_HELP, MAIN_HELP, START_HELP } from './help.js'
import { EXIT_OK, EXIT_USAGE } from './io.js'
import type { CliIo } from './io.js'

// The peer and libp2p take about a second to load: only `start` and `demo` load them, so help,
// version and usage errors answer at once.

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './io.js'
export type { CliIo } from './io.js'
export { HISTORY_FILE } from './shell.js'
export { parseDemoArgs, parseStartArgs } from './args.js'
export type { DemoArgs, StartArgs } from './args.js'

/** The package version, from package.json. */
export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** `kvgrid start`: run a peer with a shell or as a daemon; resolves to the exit code. */
async function start (args: StartArgs, io: CliIo): Promise<number> {
  const { runSession } = await import('./session.js')
  return await runSession({
    peer: {
      dataDir: args.dataDir,
      fsync: args.fsync,
      ...(args.maxValueBytes === undefined ? {} : { maxValueBytes: args.maxValueBytes }),
      ...(args.standalone
        ? { standalone: true }
        : {
            mdns: args.mdns,
            ...(args.forcePrimary === undefined ? {} : { forcePrimary: args.forcePrimary }),
            ...(args.cluster === undefined ? {} : { cluster: args.cluster }),
            ...(args.listen.length === 0 ? {} : { listen: args.listen }),
            ...(args.bootstrap.length === 0 ? {} : { bootstrap: args.bootstrap })
          })
    },
    shell: args.shell,
    readyTimeoutMs: args.readyTimeoutMs,
    io
  })
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
  if (command === 'start' || command === 'demo') {
    let args: StartArgs | DemoArgs
    try {
      args = command === 'start' ? parseStartArgs(rest) : parseDemoArgs(rest)
    } catch (err) {
      if (err instanceof UsageError) return usage(err)
      throw err
    }
    if (args.help) {
      io.stdout.write(command === 'start' ? START_HELP : DEMO_HELP)
      return EXIT_OK
    }
    if (command === 'start') return await start(args as StartArgs, io)
    const { runDemo } = await import('./demo.js')
    return await runDemo(args as DemoArgs, io)
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
