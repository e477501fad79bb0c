/**
 * Lazy Yamux window updates for the streams kvgrid reads. `@chainsafe/libp2p-yamux` answers
 * every data frame it receives with a window-update frame — one more encrypted frame, and often
 * one more syscall, per replication message and per ack. Like go-yamux, a stream patched here
 * only sends the update once less than half of its receive window is left (or when the update
 * carries flags), which the Yamux spec allows: the sender still never runs out of window while
 * the receiver keeps reading.
 *
 * Applied per stream, only to streams kvgrid's own protocols accept; other streams (gossipsub,
 * identify, anything else on the node) keep the library's behaviour.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import type { Stream } from '@libp2p/interface'

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
}

/** Make `stream` send window updates only when half its receive window is used (no-op if it is not a Yamux stream). */
export function lazyWindowUpdates (stream: Stream): void {
  if (!(stream instanceof YamuxStream)) return
  const s = stream as unknown as WindowFields
  const eager = s.sendWindowUpdate
  if (typeof eager !== 'function' || typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number') return
  s.sendWindowUpdate = function (this: WindowFields) {
    if (this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return
    eager.call(this)
  }
}
