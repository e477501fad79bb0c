/**
 * Write forwarding over the client protocol (`/kvgrid/client/1.0.0`): a secondary sends a write
 * to the primary and hands its caller the primary's answer — the same result, or the same typed
 * error. Frames travel through a {@link Messenger} (one outbound stream per remote peer, framed,
 * best-effort, in order); the wire format is in ./codec.ts.
 *
 * Protocol:
 * - The client sends `request { id, command, deadlineMs }`. `command` is a set, delete or
 *   extend; `deadlineMs` is the client's time budget (informational for the server).
 * - The server executes the command once and answers `result { id, ok, revision }` or
 *   `error { id, code, name, message, primary?, unconfirmed? }`. A request that does not decode
 *   but whose id does is answered with `INVALID_ARGUMENT`; one without a readable id is dropped.
 * - Answers are correlated by (server peer, request id). An answer nobody waits for (unknown
 *   id, a forward that already timed out or was aborted, another peer) is ignored.
 *
 * Guarantees:
 * - **Same errors.** A `KvgridError` thrown by the server's `execute` arrives as an instance of
 *   the same class with the same code, name, message and fields (`primary` of
 *   `NotPrimaryError`; `id` and `unconfirmed` of `OperationFailedError`); anything else arrives
 *   as a `KvgridError` with code `INTERNAL` (see ./errors.ts).
 * - **Timeout.** With no answer within `timeoutMs` (unreachable peer, lost frame, slow or stuck
 *   primary) a forward rejects with `ClusterUnavailableError`, no earlier than `timeoutMs`. The
 *   write may or may not have been applied — exactly like a local write that was not confirmed;
 *   retrying with the same id is safe (below). If the request cannot even be queued, the forward
 *   rejects at once and nothing was sent.
 * - **Abort.** The caller's signal rejects the forward with `AbortError`. If the request was
 *   already sent the primary may still apply it (the abort is not sent on); retry with the same
 *   id to learn the outcome.
 * - **Idempotent ids.** The server executes one (id, command) pair at most once while it runs,
 *   and answers a repeat of it from the first execution's result for {@link RESULT_CACHE_TTL_MS}
 *   (at most {@link RESULT_CACHE_SIZE} ids are remembered, oldest first out). Only results are
 *   remembered: a repeat after an error executes again, as a retry should. The same id with a
 *   different command is a different request. Beyond this server's memory, `execute` gets the
 *   request's fingerprint to record with the write (the peer's write path answers a repeat whose
 *   write is in its log from that entry: see core/sequencer.ts), which is what makes a repeat
 *   safe on another primary after a failover.
 * - **Lifecycle.** start()/stop() are idempotent. stop() rejects every in-flight forward with
 *   `PeerStoppedError`, clears their timers and abort listeners, forgets remembered results and
 *   closes the streams; answers to executions still running on the server side are dropped.
 */
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CommandResult } from '../core/evaluate.js'
import { requestFingerprint } from '../core/request.js'
import { requestKeyOf } from '../store/request-index.js'
import { AbortError, ClusterUnavailableError, InvalidArgumentError, PeerStoppedError } from '../errors.js'
import { Messenger } from '../net/messenger.js'
import type { KvNode } from '../node/node.js'
import { decodeFrame, encodeRequest, encodeResponse } from './codec.js'
import type { ClientCommand, Request, Response } from './codec.js'
import {
  CLIENT_PROTOCOL, DEFAULT_FORWARD_TIMEOUT_MS, MAX_FRAME_BYTES, MAX_QUEUED_FRAMES, MAX_TIMEOUT_MS,
  RESULT_CACHE_SIZE, RESULT_CACHE_TTL_MS
} from './constants.js'
import { errorFromWire, errorToWire } from './errors.js'

/** What the server knows about a request besides the command. */
export interface ExecuteInfo {
  /** The client's time budget in ms when it sent the request (relative). */
  deadlineMs: number
  /**
   * Fingerprint of (id, command) (core/request.ts): the executor records it with the write, so
   * a repeat reaching another primary later (after a failover) is answered, not applied again.
   */
  request: Uint8Array
}

/**
 * Carries out a forwarded command on this peer (normally the primary's write path) and returns
 * its result, or throws the typed error the caller should see.
 */
export type Execute = (command: ClientCommand, id: string, from: string, info: ExecuteInfo) => Promise<CommandResult>

/** Options of {@link Forwarder}. */
export interface ForwarderInit {
  node: KvNode
  /** Server side: executes each request received. */
  execute: Execute
  /** @default defaultLogger() from @libp2p/logger (components kvgrid:client, kvgrid:client:net) */
  logger?: ComponentLogger
  /** Results remembered for retried ids. @default RESULT_CACHE_SIZE (4096) */
  resultCacheSize?: number
  /** How long a remembered result answers retries, in ms. @default RESULT_CACHE_TTL_MS (60 s) */
  resultCacheTtlMs?: number
  /** Clock of the result cache (injected by tests). @default Date.now */
  now?: () => number
}

/** Options of {@link Forwarder.forward}. */
export interface ForwardOptions {
  /** How long to wait for the answer. @default DEFAULT_FORWARD_TIMEOUT_MS (5000) */
  timeoutMs?: number
  signal?: AbortSignal
}

interface Waiter {
  key: string
  resolve: (r: CommandResult) => void
  reject: (err: Error) => void
  timer?: ReturnType<typeof setTimeout>
  signal?: AbortSignal
  onAbort?: () => void
}

interface Remembered {
  result: CommandResult
  at: number
}


function positiveInt (n: number | undefined, what: string, fallback: number): number {
  if (n === undefined) return fallback
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(n)}`)
  return n
}

/** Client and server of write forwarding on {@link CLIENT_PROTOCOL}. start()/stop() lifecycle. */
export class Forwarder {
  private readonly execute: Execute
  private readonly log: Logger
  private readonly messenger: Messenger
  private readonly cacheSize: number
  private readonly cacheTtlMs: number
  private readonly now: () => number
  /** In-flight forwards by `${to}\n${id}`. */
  private readonly waiting = new Map<string, Set<Waiter>>()
  /** Executions running, by fingerprint. */
  private readonly executing = new Map<string, Promise<CommandResult>>()
  /** Recent results by fingerprint, oldest first. */
  private readonly results = new Map<string, Remembered>()
  private running = false

  constructor (init: ForwarderInit) {
    if (typeof init.execute !== 'function') throw new InvalidArgumentError('execute must be a function')
    const logger = init.logger ?? defaultLogger()
    this.execute = init.execute
    this.log = logger.forComponent('kvgrid:client')
    this.cacheSize = positiveInt(init.resultCacheSize, 'resultCacheSize', RESULT_CACHE_SIZE)
    this.cacheTtlMs = positiveInt(init.resultCacheTtlMs, 'resultCacheTtlMs', RESULT_CACHE_TTL_MS)
    this.now = init.now ?? Date.now
    this.messenger = new Messenger({
      node: init.node,
      protocol: CLIENT_PROTOCOL,
      maxFrameBytes: MAX_FRAME_BYTES,
      maxQueuedFrames: MAX_QUEUED_FRAMES,
      onMessage: (from, frame) => { this.receive(from, frame) },
      log: logger.forComponent('kvgrid:client:net')
    })
  }

  /** Whether the forwarder is started. */
  get started (): boolean {
    return this.running
  }

  /** Forwards waiting for an answer (for status and tests). */
  get inFlight (): number {
    let n = 0
    for (const set of this.waiting.values()) n += set.size
    return n
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true // before the handler is registered, so no early request is dropped
    try {
      await this.messenger.start()
    } catch (err) {
      this.running = false
      throw err
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    const waiters = [...this.waiting.values()].flatMap(set => [...set])
    this.waiting.clear()
    for (const w of waiters) {
      this.release(w)
      w.reject(new PeerStoppedError())
    }
    this.executing.clear()
    this.results.clear()
    await this.messenger.stop()
  }

  /**
   * Send `command` to peer `to` (the primary) and resolve with its result, or reject with the
   * typed error it raised. Rejects with `ClusterUnavailableError` when no answer arrives within
   * `timeoutMs` (the write may or may not have been applied), `AbortError` when `signal`
   * fires, `PeerStoppedError` when this forwarder is stopped, and `InvalidArgumentError` (or
   * `KeyTooLargeError`/`ValueTooLargeError`) for a command that cannot be sent.
   */
  async forward (to: string, command: ClientCommand, id: string, options: ForwardOptions = {}): Promise<CommandResult> {
    if (!this.running) throw new PeerStoppedError()
    const { signal } = options
    const timeoutMs = options.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > MAX_TIMEOUT_MS) {
      throw new InvalidArgumentError(`timeoutMs must be a number in (0, ${MAX_TIMEOUT_MS}], got ${String(timeoutMs)}`)
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal')
    try {
      peerIdFromString(to)
    } catch {
      throw new InvalidArgumentError(`not a peer id: ${String(to)}`)
    }
    if (signal?.aborted === true) throw new AbortError()
    const request: Request = { id, command, deadlineMs: Math.ceil(timeoutMs) }
    const frame = encodeRequest(request) // throws the typed error for a bad command or id

    return await new Promise<CommandResult>((resolve, reject) => {
      const key = `${to}\n${id}`
      const w: Waiter = { key, resolve, reject }
      let set = this.waiting.get(key)
      if (set === undefined) this.waiting.set(key, set = new Set())
      set.add(w)

      const started = performance.now()
      const arm = (ms: number): void => {
        w.timer = setTimeout(() => {
          // Timers may fire a fraction of a millisecond early: never give up before timeoutMs.
          const left = timeoutMs - (performance.now() - started)
          if (left > 0) { arm(Math.ceil(left)); return }
          this.drop(w)
          reject(new ClusterUnavailableError(`no answer from the primary ${to} within ${timeoutMs} ms; the write may or may not have been applied (request id ${id})`))
        }, ms)
      }
      arm(Math.ceil(timeoutMs))

      if (signal !== undefined) {
        w.signal = signal
        w.onAbort = () => {
          this.drop(w)
          reject(new AbortError())
        }
        signal.addEventListener('abort', w.onAbort, { once: true })
      }

      if (!this.messenger.send(to, frame)) {
        this.drop(w)
        reject(new ClusterUnavailableError(`cannot queue the request for ${to} (send queue full); nothing was sent (request id ${id})`))
        return
      }
      this.log.trace('forwarded %s %s to %s (id %s)', command.op, command.key, to, id)
    })
  }

  // -------------------------------------------------------------------------------------------
  // Client side

  /** Clear a waiter's timer and abort listener. */
  private release (w: Waiter): void {
    if (w.timer !== undefined) clearTimeout(w.timer)
    w.timer = undefined
    if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort)
    w.onAbort = undefined
  }

  /** Release a waiter and forget it (it settles on its own). */
  private drop (w: Waiter): void {
    this.release(w)
    const set = this.waiting.get(w.key)
    if (set === undefined) return
    set.delete(w)
    if (set.size === 0) this.waiting.delete(w.key)
  }

  /** Settle every forward waiting on (`from`, `id`). */
  private settle (from: string, id: string, settle: (w: Waiter) => void): void {
    const key = `${from}\n${id}`
    const set = this.waiting.get(key)
    if (set === undefined) {
      this.log.trace('ignored an answer from %s for unknown request id %s', from, id)
      return
    }
    this.waiting.delete(key)
    for (const w of set) {
      this.release(w)
      settle(w)
    }
  }

  private answered (from: string, res: Response): void {
    if (res.ok) {
      const result = { ok: res.result.ok, revision: res.result.revision }
      this.settle(from, res.id, w => { w.resolve({ ...result }) })
    } else {
      const error = res.error
      this.settle(from, res.id, w => { w.reject(errorFromWire(error, res.id)) })
    }
  }

  // -------------------------------------------------------------------------------------------
  // Server side

  private receive (from: string, frame: Uint8Array): void {
    if (!this.running) return
    const v = decodeFrame(frame)
    if (!v.ok) {
      this.log('dropped a malformed client frame from %s: %s (%s)', from, v.reason, v.detail)
      if (v.id === undefined) return
      if (v.kind === 'request') {
        this.reply(from, { id: v.id, ok: false, error: errorToWire(new InvalidArgumentError(`malformed request: ${v.detail}`)) })
      } else if (v.kind === 'response') {
        const detail = v.detail
        this.settle(from, v.id, w => { w.reject(new ClusterUnavailableError(`malformed answer from ${from}: ${detail}; the write may or may not have been applied`)) })
      }
      return
    }
    if (v.value.kind === 'response') this.answered(from, v.value.response)
    else this.serve(from, v.value.request)
  }

  private remembered (key: string): CommandResult | undefined {
    const now = this.now()
    // Oldest first: drop what expired.
    for (const [k, r] of this.results) {
      if (now - r.at < this.cacheTtlMs) break
      this.results.delete(k)
    }
    return this.results.get(key)?.result
  }

  private remember (key: string, result: CommandResult): void {
    this.results.delete(key)
    this.results.set(key, { result: { ok: result.ok, revision: result.revision }, at: this.now() })
    while (this.results.size > this.cacheSize) {
      const oldest = this.results.keys().next().value as string
      this.results.delete(oldest)
    }
  }

  private serve (from: string, req: Request): void {
    const request = requestFingerprint(req.id, req.command)
    const key = requestKeyOf(request)
    const known = this.remembered(key)
    if (known !== undefined) {
      this.log.trace('answered repeated request %s from %s from memory', req.id, from)
      this.reply(from, { id: req.id, ok: true, result: known })
      return
    }
    let running = this.executing.get(key)
    if (running === undefined) {
      const command = req.command
      running = (async () => await this.execute(command, req.id, from, { deadlineMs: req.deadlineMs, request }))()
      this.executing.set(key, running)
      const mine = running
      running.then(
        result => { if (this.executing.get(key) === mine) this.remember(key, result) },
        () => {}
      ).finally(() => { if (this.executing.get(key) === mine) this.executing.delete(key) })
    } else {
      this.log.trace('request %s from %s joins the running execution', req.id, from)
    }
    running.then(
      result => { this.reply(from, { id: req.id, ok: true, result }) },
      err => { this.reply(from, { id: req.id, ok: false, error: errorToWire(err) }) }
    ).catch(err => { this.log.error('cannot answer request %s from %s: %e', req.id, from, err) })
  }

  private reply (to: string, res: Response): void {
    if (!this.running) return
    let frame: Uint8Array
    try {
      frame = encodeResponse(res)
    } catch (err) {
      this.log.error('cannot encode the answer to request %s: %e', res.id, err)
      frame = encodeResponse({ id: res.id, ok: false, error: errorToWire(new Error(`the primary produced an invalid answer: ${(err as Error).message}`)) })
    }
    if (!this.messenger.send(to, frame)) this.log('answer to request %s for %s dropped (queue full)', res.id, to)
  }
}

