/**
 * Expiry: one timer, set for the earliest indexed expiry. When it fires, the due keys are
 * deleted through the sequencer as ordinary logged deletes (`expire` commands), so a replica
 * applies exactly the same deletes. Reads never return a key past its expiry even before the
 * delete commits (see core/evaluate.ts `isLive`).
 */
import type { Logger } from '@libp2p/logger'
import { EXPIRY_SWEEP_BATCH } from '../constants.js'
import type { ExpireCommand } from '../core/evaluate.js'
import type { Store } from '../store/types.js'

/** Longest delay a Node timer accepts. */
const MAX_DELAY = 2 ** 31 - 1
/** Back-off when a sweep made no progress (never expected; guards against a hot loop). */
const STALL_DELAY = 1000

/** Options of {@link ExpirySweeper}. */
export interface ExpirySweeperInit {
  store: Store
  /** Submit an expire command (to the sequencer). */
  expire: (command: ExpireCommand) => Promise<{ ok: boolean }>
  now?: () => number
  log?: Logger
}

/** Deletes expired keys at their expiry time. start()/stop() lifecycle. */
export class ExpirySweeper {
  private readonly store: Store
  private readonly expire: ExpirySweeperInit['expire']
  private readonly now: () => number
  private readonly log?: Logger
  private timer: ReturnType<typeof setTimeout> | undefined
  private scheduledAt = Infinity
  private sweeping: Promise<void> | undefined
  private running = false

  constructor (init: ExpirySweeperInit) {
    this.store = init.store
    this.expire = init.expire
    this.now = init.now ?? Date.now
    this.log = init.log
  }

  /** Schedule the first sweep from the stored expiry index. */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    const next = await this.store.nextExpiry()
    if (next !== undefined) this.notify(next)
  }

  /** Sweep again from the stored index (e.g. after becoming primary). */
  rescan (): void {
    if (this.running) this.schedule(this.now())
  }

  /** A key now expires at `expiresAt`: make sure the timer fires no later. */
  notify (expiresAt: number): void {
    if (!this.running || expiresAt >= this.scheduledAt) return
    this.schedule(expiresAt)
  }

  private schedule (at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.scheduledAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.scheduledAt = Infinity
      this.sweeping ??= this.sweep().finally(() => { this.sweeping = undefined })
    }, Math.min(MAX_DELAY, Math.max(0, at - this.now())))
  }

  private async sweep (): Promise<void> {
    try {
      for (;;) {
        if (!this.running) return
        const due = await this.store.expiring(this.now(), EXPIRY_SWEEP_BATCH)
        if (due.length === 0) break
        const results = await Promise.allSettled(due.map(async d => this.expire({ op: 'expire', key: d.key, expiresAt: d.expiresAt })))
        const progress = results.some(r => r.status === 'fulfilled' && r.value.ok)
        this.log?.trace('expired %d of %d due keys', results.filter(r => r.status === 'fulfilled' && r.value.ok).length, due.length)
        if (!progress) {
          if (this.running) this.schedule(this.now() + STALL_DELAY)
          return
        }
      }
      if (!this.running) return
      const next = await this.store.nextExpiry()
      if (next !== undefined) this.notify(next)
    } catch (err) {
      this.log?.error('expiry sweep failed: %e', err)
      if (this.running) this.schedule(this.now() + STALL_DELAY)
    }
  }

  /** Clear the timer and wait for a running sweep. */
  async stop (): Promise<void> {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.scheduledAt = Infinity
    await this.sweeping
  }
}
