/** `bin/kvgrid` as a child process, as a user or a script runs it. */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

/** Path of the CLI. */
export const BIN = fileURLToPath(new URL('../../bin/kvgrid', import.meta.url))

/** A running `kvgrid` process with its captured output. */
export interface KvgridChild {
  process: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves to the exit code (or the signal name when killed by one). */
  exited: Promise<number | string>
}

/**
 * Spawn `bin/kvgrid args…` from a neutral cwd; `input` is written to stdin, which is then closed
 * (undefined: stdin stays open). A process still running at teardown gets `teardownSignal`.
 */
export function spawnKvgrid (t: ExecutionContext, args: string[], input?: string, teardownSignal: NodeJS.Signals = 'SIGKILL'): KvgridChild {
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
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill(teardownSignal) })
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited }
}
