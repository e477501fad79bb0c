/** Peers in separate processes (test/fixtures/peer-proc.ts), observed through their status lines. */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

const fixture = fileURLToPath(new URL('../fixtures/peer-proc.ts', import.meta.url))

/** The last status a peer process printed. */
export interface ProcStatus {
  peerId: string
  role: string
  term: number
  primary?: string
  clusterId?: string
  members: string[]
  multiaddrs: string[]
}

/** A peer process. */
export interface PeerProc {
  child: ChildProcess
  dataDir: string
  port: number
  status?: ProcStatus
  exited: Promise<number | null>
}

/** Start a peer process; it is SIGKILLed in teardown if still running. */
export function startProc (t: ExecutionContext, dataDir: string, port: number, bootstrap?: string): PeerProc {
  const args = ['--import=tsx', fixture, dataDir, String(port), ...(bootstrap === undefined ? [] : [bootstrap])]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KVGRID_MDNS: 'off' } })
  const proc: PeerProc = {
    child,
    dataDir,
    port,
    exited: new Promise(resolve => child.on('exit', code => { resolve(code) }))
  }
  void (async () => {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      try { proc.status = JSON.parse(line) } catch {}
    }
  })()
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return proc
}

