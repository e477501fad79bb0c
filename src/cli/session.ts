/**
 * One peer's life under the CLI, shared by `kvgrid start` and `kvgrid demo`: create the peer,
 * wait until it is ready (a member that knows the primary), run the shell or wait as a daemon,
 * then stop it. Owns signals (SIGINT/SIGTERM stop cleanly; a second one exits at once), the
 * ready deadline, notices on stderr, and exit codes.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPeer } from '../index.js'
import type { PeerOptions } from '../options.js'
import type { PeerEvents } from '../types.js'
import { ClusterUnavailableError, InvalidArgumentError, KvgridError } from '../errors.js'
import { HISTORY_FILE, HISTORY_SIZE, runShell } from './shell.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './io.js'
import type { CliIo } from './io.js'
import { combineNotices, describeForced, describeRole, watchRole } from './notices.js'
import { watchProgress } from './progress.js'
import type { CliPeer, NoticeSource } from './notices.js'

/** Extra steps around the peer's life (the demo uses them for its other peers). */
export interface SessionHooks {
  /** After the peer started, before the wait for readiness. */
  started?: (peer: CliPeer, signal: AbortSignal) => Promise<void>
  /** A further readiness condition, awaited after `peer.ready()` within the same deadline. */
  ready?: (peer: CliPeer, signal: AbortSignal) => Promise<void>
  /** Notices printed while the shell or daemon runs. */
  notices?: NoticeSource
  /** At the end, concurrently with `peer.stop()`; also when the peer failed to start. Never rejects. */
  cleanup?: () => Promise<void>
}

/** Inputs of {@link runSession}. */
export interface SessionOptions {
  peer: PeerOptions
  /** Run the shell (interactive on a terminal, else a script); false: run as a daemon. */
  shell: boolean
  /** How long to wait for readiness; 0: no limit. */
  readyTimeoutMs: number
  io: CliIo
  /**
   * Print the "joining", ready and role-change lines (and the hooks' notices) on stderr even
   * when the shell reads a script; they are always printed interactively and in daemon mode.
   * @default false
   */
  announce?: boolean
  /** Printed after an unexpected failure to start (not a kvgrid error such as DATA_DIR_LOCKED). */
  startHint?: string
  /** Added to the ready-timeout error message (e.g. how to start afresh). */
  readyHint?: (peer: CliPeer) => string
  hooks?: SessionHooks
}

/** `CODE message` of an error, on one line; errors kvgrid did not raise are `INTERNAL`. */
export function describeError (err: unknown): string {
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

/** The line printed once a networked peer is ready. */
export function readyLine (peer: CliPeer): string {
  const s = peer.status()
  const addrs = peer.multiaddrs.length === 0 ? 'no addresses' : peer.multiaddrs.join(', ')
  return `kvgrid: peer ${s.peerId ?? '(standalone)'} is ${s.role} in term ${s.term}; listening on ${addrs}`
}

/**
 * Wait until the peer is ready and the hook's condition holds. Resolves true when ready, false
 * when `stopping` aborted first; rejects with {@link ClusterUnavailableError} at the deadline.
 */
async function waitReady (peer: CliPeer, options: SessionOptions, stopping: AbortSignal): Promise<boolean> {
  const deadline = new AbortController()
  const ms = options.readyTimeoutMs
  const timer = ms > 0 ? setTimeout(() => { deadline.abort() }, ms) : undefined
  const signal = AbortSignal.any([stopping, deadline.signal])
  try {
    await peer.ready({ signal })
    await options.hooks?.ready?.(peer, signal)
    return true
  } catch (err) {
    if (stopping.aborted) return false
    if (!deadline.signal.aborted) throw err
    const s = peer.status()
    const state = `${describeRole(s).replace(/^now /, 'it is ')}, with ${s.connections.length} connection${s.connections.length === 1 ? '' : 's'}` +
      (s.conflict === undefined ? '' : `; peer ${s.conflict.peer} belongs to another cluster id (${s.conflict.clusterId})`)
    throw new ClusterUnavailableError(`the peer was not ready within ${ms} ms: ${state}${options.readyHint === undefined ? '' : `; ${options.readyHint(peer)}`}`)
  } finally {
    clearTimeout(timer)
  }
}

/** Run one peer from start to stop; resolves to the exit code. Does not exit the process. */
export async function runSession (options: SessionOptions): Promise<number> {
  const { io, hooks = {} } = options
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
  // A daemon started with an IPC channel (by `kvgrid demo`) stops when its parent goes away,
  // however the parent ended: the channel closes even when the parent is SIGKILLed.
  const watchParent = !options.shell && process.connected === true
  const onParentGone = (): void => {
    io.stderr.write('kvgrid: the parent process went away; stopping\n')
    stopping.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  if (watchParent) process.once('disconnect', onParentGone)
  io.stdout.on('error', onOutputError)
  try {
    return await live(options, hooks, stopping.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (watchParent) process.off('disconnect', onParentGone)
    io.stdout.off('error', onOutputError)
  }
}

async function live (options: SessionOptions, hooks: SessionHooks, stopping: AbortSignal): Promise<number> {
  const { io } = options
  const cleanup = async (): Promise<void> => { await hooks.cleanup?.() }
  let peer: CliPeer
  try {
    peer = await createPeer(options.peer)
  } catch (err) {
    io.stderr.write(`error: ${describeError(err)}\n`)
    if (options.startHint !== undefined && !(err instanceof KvgridError)) io.stderr.write(`kvgrid: ${options.startHint}\n`)
    await cleanup()
    // An option the peer rejects is a usage mistake; anything else is a failure to start.
    return err instanceof InvalidArgumentError ? EXIT_USAGE : EXIT_FAILURE
  }

  const onForced = (evt: PeerEvents['forced']): void => { io.stderr.write(describeForced(evt.detail) + '\n') }
  peer.addEventListener('forced', onForced)
  const interactive = options.shell && io.stdin.isTTY === true && io.stdout.isTTY === true
  const announce = interactive || !options.shell || options.announce === true
  const standalone = options.peer.standalone === true
  const stopProgress = announce && !standalone ? watchProgress(peer, io.stderr) : undefined
  let code = EXIT_OK
  try {
    if (!stopping.aborted) await hooks.started?.(peer, stopping)
    if (announce && !standalone) io.stderr.write(`kvgrid: joining cluster ${peer.status().cluster ?? options.peer.cluster ?? 'kvgrid'}…\n`)
    if (await waitReady(peer, options, stopping)) {
      if (announce && !standalone) io.stderr.write(readyLine(peer) + '\n')
      const notices = announce ? combineNotices(standalone ? undefined : watchRole(peer), hooks.notices) : undefined
      code = options.shell ? await shell(peer, options, interactive, notices, stopping) : await daemon(peer, io, notices, stopping)
    }
  } catch (err) {
    io.stderr.write(`error: ${describeError(err)}\n`)
    code = EXIT_FAILURE
  }

  stopProgress?.()
  peer.removeEventListener('forced', onForced)
  const [stopped] = await Promise.allSettled([peer.stop(), cleanup()])
  if (stopped.status === 'rejected') {
    io.stderr.write(`error: ${describeError(stopped.reason)}\n`)
    return EXIT_FAILURE
  }
  if (!options.shell) io.stderr.write('kvgrid: peer stopped\n')
  return code
}

async function daemon (peer: CliPeer, io: CliIo, notices: NoticeSource | undefined, stopping: AbortSignal): Promise<number> {
  io.stderr.write(`kvgrid: peer running (data ${peer.status().dataDir})\n`)
  const unsubscribe = notices?.((line) => { io.stderr.write(line + '\n') })
  // Nothing else may hold the event loop open while the daemon waits for a signal.
  const keepAlive = setInterval(() => {}, 1 << 30)
  await new Promise<void>((resolve) => {
    if (stopping.aborted) resolve()
    else stopping.addEventListener('abort', () => { resolve() }, { once: true })
  })
  clearInterval(keepAlive)
  unsubscribe?.()
  return EXIT_OK
}

async function shell (peer: CliPeer, options: SessionOptions, interactive: boolean, notices: NoticeSource | undefined, stopping: AbortSignal): Promise<number> {
  const { io } = options
  const dataDir = peer.status().dataDir
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
    ...(notices === undefined ? {} : { notices, noticeOutput: io.stderr }),
    signal: stopping
  })
  return !interactive && summary.failed > 0 ? EXIT_USAGE : EXIT_OK
}
