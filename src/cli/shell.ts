/**
 * The command loop: reads lines from an input stream, runs each command on a peer and writes the
 * output lines. Commands run strictly one after another: each finishes before the next line is
 * taken. Interactive mode adds a prompt, line editing and history (node:readline); otherwise
 * (a pipe or file) nothing but command output is written and the loop ends at end of input.
 *
 * The loop never stops the peer: its caller owns the peer's lifecycle.
 */
import { clearLine, createInterface, cursorTo } from 'node:readline'
import { parseLine } from './commands.js'
import { execute } from './execute.js'
import type { Clock } from './execute.js'
import { formatError, formatOutcome } from './format.js'
import type { NoticeSource } from './notices.js'
import type { KvPeer } from '../types.js'

/** Name of the shell history file inside the data directory. */
export const HISTORY_FILE = '.shell_history'

/** Largest number of history lines kept. */
export const HISTORY_SIZE = 1000

/** The prompt shown in interactive mode. */
export const PROMPT = 'kvgrid> '

/** Inputs of {@link runShell}. */
export interface ShellOptions {
  peer: KvPeer
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
  /**
   * Terminal mode: prompt, line editing, history, Ctrl-C/Ctrl-D quit.
   * @default false
   */
  interactive?: boolean
  /** Earlier history lines, oldest first (interactive mode only). */
  history?: readonly string[]
  /** Called with the whole history, oldest first, each time a line is added to it. */
  onHistory?: (history: string[]) => void
  /** Ends the loop: the running command finishes, no further line is read. */
  signal?: AbortSignal
  /**
   * Notices to print while the loop runs (e.g. role changes), subscribed when the loop starts and
   * unsubscribed when it ends. In interactive mode a notice that arrives at the prompt is printed
   * above it and the prompt (with what was typed so far) is shown again.
   */
  notices?: NoticeSource
  /** Where notices go. @default output */
  noticeOutput?: NodeJS.WritableStream
  /** Clock used to time commands. @default performance.now */
  now?: Clock
}

/** How a {@link runShell} loop went. */
export interface ShellSummary {
  /** Commands run or rejected (blank lines and comments are not commands). */
  commands: number
  /** Commands that printed `ERR …`: invalid, or failed with an error. */
  failed: number
  /** Why the loop ended: end of input (or Ctrl-C/Ctrl-D), the `exit` command, or the signal. */
  reason: 'end' | 'exit' | 'abort'
}

/** Run the command loop until end of input, `exit`, or `signal` aborts. */
export async function runShell (options: ShellOptions): Promise<ShellSummary> {
  const { peer, input, output, signal } = options
  const interactive = options.interactive ?? false
  const now = options.now ?? (() => performance.now())
  const summary: ShellSummary = { commands: 0, failed: 0, reason: 'end' }
  const aborted = (): boolean => signal?.aborted === true
  if (aborted()) return { ...summary, reason: 'abort' }

  const rl = createInterface({
    input,
    crlfDelay: Infinity,
    ...(interactive
      ? {
          output,
          terminal: true,
          prompt: PROMPT,
          history: [...(options.history ?? [])].reverse().slice(0, HISTORY_SIZE),
          historySize: HISTORY_SIZE,
          removeHistoryDuplicates: true
        }
      : { terminal: false })
  })
  const write = (lines: string[]): void => {
    if (lines.length > 0) output.write(lines.join('\n') + '\n')
  }
  let closed = false
  rl.once('close', () => { closed = true })
  const onAbort = (): void => { rl.close() }
  signal?.addEventListener('abort', onAbort, { once: true })
  let busy = false
  const noticeOutput = options.noticeOutput ?? output
  const unsubscribe = options.notices?.((line) => {
    if (closed) return
    if (!interactive || busy) {
      noticeOutput.write(line + '\n')
      return
    }
    clearLine(output, 0)
    cursorTo(output, 0)
    noticeOutput.write(line + '\n')
    rl.prompt(true)
  })
  if (interactive) {
    rl.on('history', (history: string[]) => options.onHistory?.([...history].reverse()))
    // Ctrl-C quits like Ctrl-D.
    rl.on('SIGINT', () => { rl.close() })
    rl.prompt()
  }

  try {
    for await (const line of rl) {
      if (aborted()) {
        summary.reason = 'abort'
        break
      }
      const parsed = parseLine(line)
      if (!parsed.ok) {
        summary.commands++
        summary.failed++
        write([formatError(parsed.error)])
      } else if (parsed.value !== undefined) {
        summary.commands++
        if (parsed.value.name === 'exit') {
          summary.reason = 'exit'
          break
        }
        busy = true
        const outcome = await execute(peer, parsed.value, now)
        busy = false
        if (outcome.kind === 'error') summary.failed++
        write(formatOutcome(outcome))
      }
      if (interactive && !closed) rl.prompt()
    }
    if (aborted()) summary.reason = 'abort'
    // Ctrl-D/Ctrl-C leave the cursor after the prompt: end that line.
    if (interactive && summary.reason !== 'exit') output.write('\n')
  } finally {
    unsubscribe?.()
    signal?.removeEventListener('abort', onAbort)
    rl.close()
  }
  return summary
}
