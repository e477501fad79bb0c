/**
 * `kvgrid demo` end to end: bin/kvgrid as a child process starting a local cluster on
 * 127.0.0.1 (mDNS off), with a piped script, and that no child peer outlives it however it
 * ends. Serial: each test runs several peers, and a loaded 2-core machine should not run two
 * demos at once.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { join } from 'node:path'
import { tempDir } from './helpers/tmp.js'
import { waitFor } from './helpers/wait.js'
import { spawnKvgrid } from './helpers/bin.js'
import type { KvgridChild } from './helpers/bin.js'

/** Deadline for one demo run: three node processes start, form a cluster and stop. */
const DEMO_TIMEOUT_MS = 40_000

type Demo = KvgridChild

/** Run `bin/kvgrid demo args…`; `input` is written to stdin and closed (undefined: stdin stays open). */
function demo (t: ExecutionContext, args: string[], input?: string): Demo {
  // A failed assertion must not leave the demo (or, through it, its children) running.
  return spawnKvgrid(t, ['demo', ...args], input, 'SIGTERM')
}

/** Whether a process with this pid exists. */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The child peers' pids, from the demo's `kvgrid: demo peer K (pid P) …` lines. Should a test
 * fail before they are gone, its teardown SIGKILLs them.
 */
function childPids (t: ExecutionContext, stderr: string): number[] {
  const pids = [...stderr.matchAll(/^kvgrid: demo peer [1-9] \(pid (\d+)\)/gm)].map((m) => Number(m[1]))
  t.teardown(() => { for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL') })
  return pids
}

/** A port that nothing on 127.0.0.1 listens on right now, for each of `count` consecutive ports. */
async function freeBasePort (count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (20000 - count))
    const servers: Server[] = []
    let free = true
    for (let k = 0; k < count && free; k++) {
      const server = createServer()
      free = await new Promise<boolean>((resolve) => {
        server.once('error', () => { resolve(false) })
        server.listen(base + k, '127.0.0.1', () => { servers.push(server); resolve(true) })
      })
    }
    await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
    if (free) return base
  }
  throw new Error('no free port range found in 20000-40000')
}

const lines = (text: string): string[] => text.split('\n').slice(0, -1).map((line) => line.replace(/ \d+ms$/, ' Tms'))

test.serial('kvgrid demo --peers 3 forms one cluster of 3, runs the script on peer 0, and leaves no child process', async (t) => {
  t.timeout(DEMO_TIMEOUT_MS)
  const dir = await tempDir(t, 'kvgrid-cli-demo-')
  const base = await freeBasePort(3)
  const run = demo(t, ['--peers', '3', '--base-port', String(base), '--data', dir], 'status\nmembers\nset a 1\nget a\n')
  const code = await run.exited
  const out = lines(run.stdout())
  const stderr = run.stderr()

  // status: name: value lines.
  const statusLines = out.filter((l) => /^\w+: /.test(l))
  const status = Object.fromEntries(statusLines.map((l) => l.split(': ')))
  t.like(status, { cluster: 'kvgrid-demo', members: '3', connections: '2' }, stderr)
  t.true(status.role === 'primary' || status.role === 'secondary', status.role)

  // members: a header and three rows, exactly one primary, this peer marked and on base port.
  const table = out.slice(statusLines.length, statusLines.length + 4)
  t.regex(table[0], /^ {2}peer id +role +last heard +addresses$/)
  const rows = table.slice(1).map((l) => /^([* ]) (\S+) +(primary|secondary) +(\d+ms|never) +(.+)$/.exec(l))
  t.true(rows.every((r) => r !== null), table.join('\n'))
  const parsed = rows.map((r) => ({ self: r?.[1] === '*', peerId: r?.[2], role: r?.[3] }))
  t.is(parsed.filter((r) => r.role === 'primary').length, 1, table.join('\n'))
  t.is(parsed.find((r) => r.role === 'primary')?.peerId, status.primary)
  const self = parsed.filter((r) => r.self)
  t.is(self.length, 1)
  t.is(self[0].peerId, status.peerId)
  t.is(self[0].role, status.role)
  t.true(table[1 + parsed.findIndex((r) => r.self)].endsWith(`/ip4/127.0.0.1/tcp/${base}`))

  // The write succeeds whichever peer the shell is on (a secondary forwards it to the primary).
  const rest = out.slice(statusLines.length + 4)
  t.deepEqual(rest, ['r1 set Tms', 'r1 1 Tms'])
  t.is(code, 0)

  // The ready line agrees, the children's output went to their logs, and no child is left.
  t.regex(stderr, new RegExp(`^kvgrid: peer ${status.peerId} is ${status.role} in term ${status.term}; listening on /ip4/127\\.0\\.0\\.1/tcp/${base}/p2p/`, 'm'))
  const pids = childPids(t, stderr)
  t.is(pids.length, 2, stderr)
  t.deepEqual(pids.filter(alive), [], 'child peers still running after the demo exited')
  t.false(stderr.includes('kvgrid: peer running'), 'a child wrote to the terminal')
  for (const k of [1, 2]) {
    const log = await readFile(join(dir, `peer${k}`, 'peer.log'), 'utf8')
    t.regex(log, /kvgrid: peer running \(data .*\)\n(.*\n)*kvgrid: peer stopped\n$/, `peer${k}/peer.log`)
  }
})

test.serial('SIGTERM to the demo while its shell waits for input stops every peer and exits 0', async (t) => {
  t.timeout(DEMO_TIMEOUT_MS)
  const dir = await tempDir(t, 'kvgrid-cli-demo-')
  const base = await freeBasePort(2)
  const run = demo(t, ['--peers', '2', '--base-port', String(base), '--data', dir])
  await waitFor(() => / is (primary|secondary) in term /.test(run.stderr()) || run.process.exitCode !== null, 'the demo to be ready', DEMO_TIMEOUT_MS / 2)
  const pids = childPids(t, run.stderr())
  t.is(pids.length, 1)
  run.process.kill('SIGTERM')
  t.is(await run.exited, 0, run.stderr())
  t.deepEqual(pids.filter(alive), [])
})

test.serial('when a child peer cannot start, the demo exits 1 naming its log, and leaves no child process', async (t) => {
  t.timeout(DEMO_TIMEOUT_MS)
  const dir = await tempDir(t, 'kvgrid-cli-demo-')
  const base = await freeBasePort(3)
  // Peer 2's port is taken.
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(base + 2, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise<void>((resolve) => { blocker.close(() => { resolve() }) }) })
  const run = demo(t, ['--peers', '3', '--base-port', String(base), '--data', dir], 'status\n')
  t.is(await run.exited, 1)
  t.is(run.stdout(), '', 'no command ran')
  const log = join(dir, 'peer2', 'peer.log')
  t.regex(run.stderr(), new RegExp(`^error: CLUSTER_UNAVAILABLE demo peer 2 \\(pid \\d+\\) ended \\(code 1\\) before it joined; see ${log.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'))
  t.regex(await readFile(log, 'utf8'), /^error: /m)
  const pids = childPids(t, run.stderr())
  t.is(pids.length, 2)
  t.deepEqual(pids.filter(alive), [])
})

test.serial('child peers stop by themselves when the demo process is SIGKILLed', async (t) => {
  t.timeout(DEMO_TIMEOUT_MS)
  const dir = await tempDir(t, 'kvgrid-cli-demo-')
  const base = await freeBasePort(3)
  const run = demo(t, ['--peers', '3', '--base-port', String(base), '--data', dir])
  await waitFor(() => / is (primary|secondary) in term /.test(run.stderr()) || run.process.exitCode !== null, 'the demo to be ready', DEMO_TIMEOUT_MS / 2)
  const pids = childPids(t, run.stderr())
  t.is(pids.length, 2)
  run.process.kill('SIGKILL')
  await run.exited
  // Each child sees its IPC channel close and stops cleanly (a leave takes at most 2 s).
  await waitFor(() => pids.every((pid) => !alive(pid)), 'the children to exit', 15_000, 50)
  for (const k of [1, 2]) t.regex(await readFile(join(dir, `peer${k}`, 'peer.log'), 'utf8'), /the parent process went away; stopping\n(.*\n)*kvgrid: peer stopped\n$/)
})
