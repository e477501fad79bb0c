/**
 * The client/forwarding protocol (`/kvgrid/client/1.0.0`): a secondary forwards a write to the
 * primary and returns the primary's answer — the same result or the same typed error. The wire
 * format is in ./codec.ts, the guarantees (timeouts, aborts, idempotent request ids, lifecycle)
 * in ./forwarder.ts, the error mapping in ./errors.ts.
 *
 * @example
 * ```ts
 * import { Forwarder } from './client/index.js'
 *
 * const forwarder = new Forwarder({
 *   node,
 *   logger,
 *   // Server side: a request from another peer, carried out on this peer's write path.
 *   execute: async (command, id, from) => await writeLocally(command, id)
 * })
 * await forwarder.start()
 * // Client side: this peer is a secondary and knows the primary.
 * const result = await forwarder.forward(primary, { op: 'set', key: 'k', value }, id, { timeoutMs: 5000, signal })
 * await forwarder.stop()
 * ```
 */
export { Forwarder } from './forwarder.js'
export type { Execute, ExecuteInfo, ForwarderInit, ForwardOptions } from './forwarder.js'
export { decodeFrame, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './codec.js'
export type { ClientCommand, DecodeFailure, DecodeVerdict, Frame, Request, Response, WireError } from './codec.js'
export { errorFromWire, errorToWire, INTERNAL_CODE } from './errors.js'
export * from './constants.js'
