/**
 * Catch-up progress rendering: a bar on a terminal, a line per quarter in logs.
 */
import test from 'ava'
import { PassThrough } from 'node:stream'
import { renderProgress, watchProgress } from '../src/cli/progress.js'
import type { CliPeer } from '../src/cli/notices.js'

test('the progress bar shows phase, fill, percentage and counts', t => {
  t.is(renderProgress({ phase: 'snapshot', done: 40_000, total: 100_000 }), 'kvgrid: catching up (snapshot) [########------------] 40% 40000/100000 keys')
  t.is(renderProgress({ phase: 'delta', done: 10, total: 10 }, 4), 'kvgrid: catching up (delta) [####] 100% 10/10 entries')
  t.is(renderProgress({ phase: 'delta', done: 0, total: 0 }, 4), 'kvgrid: catching up (delta) [####] 100% 0/0 entries')
})

test('without a terminal, progress prints one line per quarter', t => {
  const target = new EventTarget()
  const peer = target as unknown as CliPeer
  const out = new PassThrough()
  let text = ''
  out.on('data', (b: Buffer) => { text += b.toString() })
  const stop = watchProgress(peer, out)
  for (let done = 0; done <= 100; done += 5) target.dispatchEvent(new CustomEvent('catchup', { detail: { phase: 'snapshot', done, total: 100 } }))
  stop()
  const lines = text.trim().split('\n')
  t.deepEqual(lines.map(l => l.match(/(\d+)%/)?.[1]), ['0', '25', '50', '75', '100'])
})
