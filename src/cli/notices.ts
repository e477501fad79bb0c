/**
 * Notices: one-line messages about the peer printed on stderr while the shell or daemon runs
 * (role changes, the demo's child peers). Each watcher subscribes to its source and returns the
 * function that unsubscribes it.
 */
import type { KvPeer, PeerEvents, PeerStatus } from '../types.js'

/** A peer as the CLI drives it: the API with its typed events (what `createPeer` returns). */
export type CliPeer = KvPeer

/** Prints one notice line (no trailing newline). */
export type Notify = (line: string) => void

/** Subscribes `notify` to a source of notices; returns the function that unsubscribes it. */
export type NoticeSource = (notify: Notify) => () => void

/** The role line: `now secondary in term 4, primary 12D3…` (also `now primary in term 4`). */
export function describeRole (status: Pick<PeerStatus, 'role' | 'term' | 'primary'>): string {
  const { role, term, primary } = status
  if (role === 'primary') return `now primary in term ${term}`
  return `now ${role} in term ${term}, ${primary === undefined ? 'no primary known' : `primary ${primary}`}`
}

/**
 * Watch the peer's `role` and `primary` events and notify `kvgrid: now …` whenever the role,
 * term or primary differs from what was last shown (starting from the state now). Events of one
 * arbiter step are coalesced, so an election that changes role and primary prints one line.
 */
export function watchRole (peer: CliPeer): NoticeSource {
  return (notify) => {
    const key = (s: PeerStatus): string => `${s.role} ${s.term} ${s.primary ?? ''}`
    let shown = key(peer.status())
    let scheduled = false
    let active = true
    const check = (): void => {
      scheduled = false
      if (!active) return
      const status = peer.status()
      if (key(status) === shown) return
      shown = key(status)
      notify(`kvgrid: ${describeRole(status)}`)
    }
    const onEvent = (): void => {
      if (scheduled) return
      scheduled = true
      queueMicrotask(check)
    }
    peer.addEventListener('role', onEvent)
    peer.addEventListener('primary', onEvent)
    return () => {
      active = false
      peer.removeEventListener('role', onEvent)
      peer.removeEventListener('primary', onEvent)
    }
  }
}

/** The line printed when an operator forced the peer to be primary (always, on stderr). */
export function describeForced (detail: PeerEvents['forced']['detail']): string {
  const dropped = detail.dropped.length === 0 ? 'none' : detail.dropped.join(', ')
  return `kvgrid: FORCED PRIMARY: this peer is now sole member and primary of new cluster ${detail.clusterId} (term ${detail.term}), ` +
    `leaving cluster ${detail.previousClusterId}; dropped members: ${dropped}. Acknowledged writes this peer never received are lost; ` +
    'remove the dropped peers\' data directories before they rejoin (see docs/operations.md)'
}

/** All of `sources` as one. */
export function combineNotices (...sources: Array<NoticeSource | undefined>): NoticeSource {
  return (notify) => {
    const stops = sources.flatMap((source) => source === undefined ? [] : [source(notify)])
    return () => { for (const stop of stops) stop() }
  }
}
