/**
 * The pure write core: turns a queue of commands into log entries. No I/O, no clock, no
 * randomness: the caller passes the current records, the time and the committed state, and gets
 * back the entries to persist and the answer for every command. The primary runs this once per
 * group commit; replicas never run it (they apply the resulting entries as they are).
 *
 * Rules:
 * - A key is *live* when it has a record whose `expiresAt` is unset or in the future. A record
 *   past its expiry reads as absent everywhere, until the expiry delete removes it.
 * - Every committed data change takes the next revision (+1 each) and is one log entry.
 * - A failed condition, a delete or extend of an absent key, or a stale expiry consumes no
 *   revision and answers `ok: false` with the revision current at that point of the queue.
 * - Commands in one group see the effects of the commands before them.
 * - A barrier makes an empty entry: the next index, the revision unchanged.
 */
import type { LogEntry, Mutation, StoreState, StoredRecord } from '../store/types.js'

/** `set` command. `ifRevision: 0` means "the key does not exist". */
export interface SetCommand {
  op: 'set'
  key: string
  value: Uint8Array
  ifNotExists?: boolean
  ifExists?: boolean
  ifValue?: Uint8Array
  ifRevision?: number
  ttlMs?: number
}

/** `delete` command. */
export interface DeleteCommand {
  op: 'delete'
  key: string
  ifRevision?: number
}

/** `extend` command: new TTL from now; 0 removes the expiry. */
export interface ExtendCommand {
  op: 'extend'
  key: string
  ttlMs: number
}

/** Internal: delete `key` if it still holds the record that expires at `expiresAt` and it is due. */
export interface ExpireCommand {
  op: 'expire'
  key: string
  expiresAt: number
}

/**
 * Internal: an empty log entry (no mutation, no revision): a primary's barrier. Once every member
 * acknowledged it, they hold every entry before it, including entries of earlier terms.
 */
export interface BarrierCommand {
  op: 'barrier'
}

/** Any write command. */
export type Command = SetCommand | DeleteCommand | ExtendCommand | ExpireCommand

/** What a group commit plans: write commands and barriers. */
export type PlanItem = Command | BarrierCommand

/** Answer to one command. */
export interface CommandResult {
  ok: boolean
  revision: number
}

/** What one group commit writes and answers. */
export interface Plan {
  entries: LogEntry[]
  /** One result per command, in order. */
  results: CommandResult[]
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether a record is live at `now`. */
export function isLive (r: StoredRecord | undefined, now: number): r is StoredRecord {
  return r !== undefined && (r.expiresAt === undefined || r.expiresAt > now)
}

function setConditionsHold (c: SetCommand, live: StoredRecord | undefined): boolean {
  if (c.ifNotExists === true && live !== undefined) return false
  if (c.ifExists === true && live === undefined) return false
  if (c.ifRevision !== undefined && (live?.revision ?? 0) !== c.ifRevision) return false
  if (c.ifValue !== undefined && (live === undefined || !equalBytes(live.value, c.ifValue))) return false
  return true
}

/** The mutation one command makes, or undefined when it changes nothing. Pure. */
export function mutationFor (c: Command, current: StoredRecord | undefined, now: number, revision: number): Mutation | undefined {
  const live = isLive(current, now) ? current : undefined
  switch (c.op) {
    case 'set': {
      if (!setConditionsHold(c, live)) return undefined
      const record: StoredRecord = {
        value: c.value,
        revision,
        createRevision: live?.createRevision ?? revision,
        version: (live?.version ?? 0) + 1
      }
      if (c.ttlMs !== undefined && c.ttlMs > 0) record.expiresAt = now + c.ttlMs
      return withPrev({ type: 'put', key: c.key, record, existed: current !== undefined }, current)
    }
    case 'delete': {
      if (live === undefined) return undefined
      if (c.ifRevision !== undefined && live.revision !== c.ifRevision) return undefined
      return withPrev({ type: 'del', key: c.key, expired: false }, current)
    }
    case 'extend': {
      if (live === undefined) return undefined
      const record: StoredRecord = { value: live.value, revision, createRevision: live.createRevision, version: live.version }
      if (c.ttlMs > 0) record.expiresAt = now + c.ttlMs
      return withPrev({ type: 'put', key: c.key, record, existed: true }, current)
    }
    case 'expire': {
      if (current === undefined || current.expiresAt !== c.expiresAt || c.expiresAt > now) return undefined
      return withPrev({ type: 'del', key: c.key, expired: true }, current)
    }
  }
}

/** `m` with what it replaces: the record's revision (0: none) and expiry. */
function withPrev<M extends Mutation> (m: M, current: StoredRecord | undefined): M {
  m.prevRevision = current?.revision ?? 0
  if (current?.expiresAt !== undefined) m.prevExpiresAt = current.expiresAt
  return m
}

/**
 * Plan one group commit: evaluate `commands` in order against `records` (the committed record
 * of every key they name) and return the log entries and results. `requests[i]`, when given, is
 * the fingerprint of command i's request, carried by the entry it makes. Pure.
 */
export function plan (commands: readonly PlanItem[], records: ReadonlyMap<string, StoredRecord | undefined>, state: Readonly<StoreState>, term: number, now: number, requests?: ReadonlyArray<Uint8Array | undefined>): Plan {
  const overlay = new Map(records)
  const entries: LogEntry[] = []
  const results: CommandResult[] = []
  let index = state.index
  let revision = state.revision
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i]
    if (c.op === 'barrier') {
      index++
      entries.push({ index, term, revision, mutations: [] })
      results.push({ ok: true, revision })
      continue
    }
    const m = mutationFor(c, overlay.get(c.key), now, revision + 1)
    if (m === undefined) {
      results.push({ ok: false, revision })
      continue
    }
    index++
    revision++
    const entry: LogEntry = { index, term, revision, mutations: [m] }
    const request = requests?.[i]
    if (request !== undefined) entry.request = request
    entries.push(entry)
    overlay.set(c.key, m.type === 'put' ? m.record : undefined)
    results.push({ ok: true, revision })
  }
  return { entries, results }
}
