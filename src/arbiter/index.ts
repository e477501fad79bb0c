/**
 * The arbiter: elects one primary per term and keeps the membership of a kvgrid cluster.
 *
 * This folder holds the pure core and its wire codec; the libp2p shell (streams on
 * {@link ARBITER_PROTOCOL}, LevelDB meta for the persisted state, a tick timer) wraps them.
 * The protocol reference is docs/protocol.md.
 *
 * @example
 * ```ts
 * import { ArbiterCore, decodeMessage, encodeMessage, TICK_INTERVAL_MS } from './arbiter/index.js'
 *
 * const core = new ArbiterCore({ self: peerId, state: await loadState(), now: Date.now(), random: Math.random })
 * // Take the Ready right after every input; apply Readys strictly in order, and within one
 * // write the state durably before sending its messages.
 * let chain = Promise.resolve()
 * const flush = (): void => {
 *   const ready = core.takeReady()
 *   chain = chain.then(async () => {
 *     if (ready.persist !== undefined) await saveState(ready.persist)
 *     for (const { to, msg } of ready.messages) send(to, encodeMessage(msg))
 *     for (const e of ready.events) emit(e)
 *   })
 * }
 * setInterval(() => { core.tick(Date.now()); flush() }, TICK_INTERVAL_MS)
 * onFrame((from, bytes) => {
 *   const v = decodeMessage(bytes)
 *   if (v.ok) core.step(from, v.msg, Date.now()) // else: log v.reason and drop the frame
 *   flush()
 * })
 * ```
 */
export { ArbiterCore } from './core.js'
export { encodeMessage, decodeMessage } from './codec.js'
export type { DecodeVerdict, DecodeFailure } from './codec.js'
export { ARBITER_DEFAULTS, resolveArbiterOptions } from './options.js'
export { compareConfig, compareLog, majority, upToDate } from './rules.js'
export * from './constants.js'
export type * from './types.js'
