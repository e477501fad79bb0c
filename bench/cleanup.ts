/**
 * Everything the harness starts is registered here — child processes and temporary
 * directories — so that it is removed even when the run fails or is interrupted: on exit,
 * SIGINT, SIGTERM and SIGHUP every remaining child is SIGKILLed and every directory removed.
 * (Peer workers also exit by themselves when their stdin closes, i.e. when the harness dies.)
 */
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const children = new Set<ChildProcess>()
const dirs = new Set<string>()

/** Register a child process until it exits. */
export function track<C extends ChildProcess> (child: C): C {
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

/** A fresh temporary directory, removed at exit if not before. */
export async function tempDir (prefix = 'kvgrid-bench-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.add(dir)
  return dir
}

/** Remove a temporary directory now. */
export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  dirs.delete(dir)
}

/** SIGKILL every remaining child and remove every remaining directory (synchronous: runs on exit). */
export function cleanupNow (): void {
  for (const c of children) {
    try { c.kill('SIGKILL') } catch {}
  }
  children.clear()
  for (const d of dirs) {
    try { rmSync(d, { recursive: true, force: true }) } catch {}
  }
  dirs.clear()
}

process.once('exit', cleanupNow)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, cleaning up\n`)
    cleanupNow()
    process.exit(130)
  })
}
