/**
 * Catch-up progress on stderr: a bar redrawn in place on a terminal, and a line per quarter
 * otherwise (daemon logs). Driven by the peer's `catchup` events.
 */
import type { CliPeer } from './notices.js'

/** One progress report, as the peer's `catchup` event carries it. */
export interface Progress {
  phase: 'snapshot' | 'delta'
  done: number
  total: number
}

/** `kvgrid: catching up (snapshot) [########------------] 40% 40000/100000`. Pure. */
export function renderProgress (p: Progress, width = 20): string {
  const ratio = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 1
  const filled = Math.round(ratio * width)
  const unit = p.phase === 'snapshot' ? 'keys' : 'entries'
  return `kvgrid: catching up (${p.phase}) [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${p.done}/${p.total} ${unit}`
}

/** Show catch-up progress of `peer` on `out`; returns the function that stops showing it. */
export function watchProgress (peer: CliPeer, out: NodeJS.WritableStream & { isTTY?: boolean }): () => void {
  const tty = out.isTTY === true
  let lastQuarter = -1
  let open = false
  const onEvent = (e: CustomEvent<Progress>): void => {
    const p = e.detail
    const complete = p.done >= p.total
    if (tty) {
      out.write(`\r${renderProgress(p)}${complete ? '\n' : ''}`)
      open = !complete
      return
    }
    const quarter = p.total > 0 ? Math.floor(4 * Math.min(1, p.done / p.total)) : 4
    if (quarter === lastQuarter) return
    lastQuarter = complete ? -1 : quarter
    out.write(renderProgress(p) + '\n')
  }
  peer.addEventListener('catchup', onEvent)
  return () => {
    peer.removeEventListener('catchup', onEvent)
    if (open) out.write('\n')
  }
}
