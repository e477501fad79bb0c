/**
 * History checker of the whole-system fault simulation (fault-sim.ts). Run it after every fault
 * was healed, every crashed peer restarted and the cluster settled ({@link settledProblem} is
 * undefined). It returns the violated properties, empty when the run was correct:
 *
 * 1. No two primaries share a term: per cluster and term at most one peer became primary (arbiter
 *    role events), at most one replication took office with an AckTracker, and no two durable log
 *    entries with the same (index, term) differ anywhere, ever.
 * 2. Convergence: every member holds the same store state (index, term, revision, key count), the
 *    same data (every record, byte for byte) and the same log; and its data is exactly what
 *    replaying that log gives (the store applied what it logged).
 * 3. Every acknowledged write is in that log at the revision it was acknowledged with: the entry of
 *    that revision is this write (a set: a put of its unique value; a delete: a delete of its key).
 *    It is therefore present on every member, or superseded there by later entries of that log.
 * 4. A write refused before sequencing, or answered `ok: false`, was never written anywhere. A
 *    write sent more than once may have had an earlier attempt land in a deposed primary's suffix
 *    (discarded since): for those, a refused one is exempt (an earlier attempt may have been
 *    applied; property 5 covers it), and one whose last answer was `ok: false` must not be in
 *    the final log. (That held only once primaries answer `ok: false` behind a read barrier: a
 *    primary cut off from the others, not yet stepped down, answered a repeat from its stale
 *    state while a new primary applied the first attempt.) Property 9 holds for all.
 * 5. A failed (OperationFailedError) or unanswered (peer crashed) set is applied on every member
 *    or on none; so is a repeatable set whose last attempt was refused after earlier attempts.
 * 9. No write is applied twice: no value (unique per set) is put by two entries of the final log,
 *    however often a repeatable write was sent.
 * 6. No key goes backwards on any peer: over time, the entries a peer's data reflects for a key,
 *    counting only entries of the final log (a deposed primary's discarded suffix may vanish, by
 *    design), have non-decreasing revisions — including across crashes, restarts and snapshot
 *    installs.
 * 7. Real-time order: a write acknowledged before another was submitted has a lower revision.
 * 8. No write hangs: every write on a peer that stayed up got an answer.
 * Plus anything the world noticed while running (codec refusals, a persisted term going back,
 * a vote changed within a term, a cluster id changed).
 */
import type { StoredRecord } from '../../src/store/types.js'
import type { FaultWorld, SimMachine } from './fault-sim.js'
import { fingerprint, sameLog } from './fault-sim.js'

const dec = new TextDecoder()

function recordText (r: StoredRecord): string {
  return JSON.stringify([dec.decode(r.value), r.revision, r.createRevision, r.version, r.expiresAt ?? null])
}

/** Live machines (every machine is expected up after healing). */
function live (world: FaultWorld): SimMachine[] {
  return [...world.machines.values()].filter(m => m.peer?.alive === true)
}

async function dataOfAsync (m: SimMachine): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const [k, r] of m.device.store.range({})) out.set(k, recordText(r))
  return out
}

/** Data obtained by replaying a shadow log from index 1. */
function replay (m: SimMachine): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of m.device.shadow) {
    if (e === undefined) continue
    for (const x of e.mutations) {
      if (x.type === 'put') out.set(x.key, recordText(x.record))
      else out.delete(x.key)
    }
  }
  return out
}

function sameMap (a: Map<string, string>, b: Map<string, string>): string | undefined {
  for (const [k, v] of a) if (b.get(k) !== v) return `key ${k}: ${v} vs ${String(b.get(k))}`
  for (const [k, v] of b) if (!a.has(k)) return `key ${k}: absent vs ${v}`
  return undefined
}

/**
 * Why the world has not settled yet, or undefined: every machine up, exactly one primary, every
 * peer a member agreeing on term, primary and members (all machines), no write or disk operation
 * in flight, and every store at the primary's position.
 */
export function settledProblem (world: FaultWorld): string | undefined {
  const ms = [...world.machines.values()]
  const down = ms.filter(m => m.peer?.alive !== true)
  if (down.length > 0) return `down: ${down.map(m => m.id).join(', ')}`
  const views = ms.map(m => ({ m, v: m.peer?.view(), members: m.peer?.members() ?? [] }))
  const primaries = views.filter(x => x.v?.role === 'primary')
  if (primaries.length !== 1) return `${primaries.length} primaries; roles ${views.map(x => `${x.m.id}=${x.v?.role ?? '?'}@${x.v?.term ?? '?'}`).join(' ')}`
  const p = primaries[0]
  const all = ms.map(m => m.id).sort().join(',')
  for (const x of views) {
    if (x.v === undefined) return `${x.m.id} has no arbiter`
    if (x.v.role !== 'primary' && x.v.role !== 'secondary') return `${x.m.id} is ${x.v.role}`
    if (x.v.term !== p.v?.term || x.v.primary !== p.m.id) return `${x.m.id} follows ${String(x.v.primary)}@${x.v.term}, not ${p.m.id}@${String(p.v?.term)}`
    if ([...x.members].sort().join(',') !== all) return `${x.m.id} has members [${x.members.join(',')}], expected [${all}]`
  }
  const ps = p.m.device.store.state
  for (const m of ms) {
    if (m.peer?.idle !== true) return `${m.id} is busy (writes, disk or snapshot in flight)`
    const s = m.device.store.state
    if (s.index !== ps.index || s.term !== ps.term || s.revision !== ps.revision) return `${m.id} at (${s.index},${s.term},r${s.revision}), primary at (${ps.index},${ps.term},r${ps.revision})`
  }
  return undefined
}

/** The violated properties of a settled run (see the file header); empty when correct. */
export async function checkHistory (world: FaultWorld): Promise<string[]> {
  const h = world.history
  const out: string[] = [...h.problems]
  // 1. one primary per term
  for (const [key, ids] of h.primaries) if (ids.size > 1) out.push(`cluster:term ${key} had primaries ${[...ids].join(', ')}`)
  for (const [term, ids] of h.trackers) if (ids.size > 1) out.push(`term ${term}: replication took office on ${[...ids].join(', ')}`)

  // 2. convergence
  const ms = live(world)
  if (ms.length === 0) return [...out, 'no live peer to check']
  const ref = ms[0]
  const refState = ref.device.store.state
  const refData = await dataOfAsync(ref)
  const canon = ref.device.shadow
  for (const m of ms) {
    const s = m.device.store.state
    if (s.index !== refState.index || s.term !== refState.term || s.revision !== refState.revision || s.keys !== refState.keys) {
      out.push(`${m.id} ended at ${JSON.stringify(s)}, ${ref.id} at ${JSON.stringify(refState)}`)
    }
    const data = await dataOfAsync(m)
    const diff = sameMap(refData, data)
    if (diff !== undefined) out.push(`${m.id}'s data differs from ${ref.id}'s: ${diff}`)
    if (!sameLog(canon, m.device.shadow)) out.push(`${m.id}'s log differs from ${ref.id}'s`)
    for (let i = 1; i <= s.index; i++) {
      if (m.device.shadow[i] === undefined) { out.push(`${m.id}'s log lacks index ${i}`); break }
    }
    const replayed = sameMap(replay(m), data)
    if (replayed !== undefined) out.push(`${m.id}'s data is not what its log gives: ${replayed}`)
  }

  // The final log, by revision and by entry identity.
  const byRevision = new Map<number, NonNullable<typeof canon[number]>>()
  const canonical = new Set<string>()
  /** Put value → revision of the first entry of the final log that put it (for 9). */
  const puts = new Map<string, number>()
  const twice: string[] = []
  for (const e of canon) {
    if (e === undefined) continue
    canonical.add(`${e.index}:${e.term}`)
    if (e.mutations.length > 0) byRevision.set(e.revision, e)
    for (const x of e.mutations) {
      if (x.type !== 'put') continue
      const v = dec.decode(x.record.value)
      const at = puts.get(v)
      if (at !== undefined && at !== x.record.revision) twice.push(`value ${v} was put twice: at revision ${at} and ${x.record.revision}`)
      else puts.set(v, x.record.revision)
    }
  }

  // 3. acked writes present at their revision; 4. refused / rejected never written
  const ackedRevisions = new Map<number, number>()
  for (const w of h.writes) {
    if (w.status === 'acked') {
      const r = w.revision as number
      const other = ackedRevisions.get(r)
      if (other !== undefined) out.push(`writes ${other} and ${w.id} were both acknowledged at revision ${r}`)
      ackedRevisions.set(r, w.id)
      const e = byRevision.get(r)
      const m = e?.mutations[0]
      const ok = m !== undefined && m.key === w.command.key &&
        (w.command.op === 'set' ? m.type === 'put' && dec.decode(m.record.value) === w.value : w.command.op === 'delete' ? m.type === 'del' : true)
      if (!ok) out.push(`acknowledged write ${w.id} (${describe(w)}) at revision ${r} on ${w.node} is not in the final log (there: ${e === undefined ? 'nothing' : fingerprint(e)})`)
    } else if (w.attempts <= 1 && (w.status === 'rejected' || w.status === 'refused') && w.value !== undefined && h.valuesWritten.has(w.value)) {
      out.push(`write ${w.id} (${describe(w)}) was ${w.status} (${w.error ?? 'ok: false'}) but was written`)
    } else if (w.attempts > 1 && w.status === 'rejected' && w.value !== undefined && puts.has(w.value)) {
      out.push(`repeated write ${w.id} (${describe(w)}) was last answered ok: false but is in the final log`)
    }
  }

  // 5. failed / unanswered sets: all members or none
  for (const w of h.writes) {
    const unsure = w.status === 'failed' || w.status === 'pending' || (w.status === 'refused' && w.attempts > 1)
    if (!unsure || w.value === undefined) continue
    const holders = ms.filter(m => m.device.shadow.some(e => e?.mutations.some(x => x.type === 'put' && dec.decode(x.record.value) === w.value)))
    if (holders.length !== 0 && holders.length !== ms.length) out.push(`${w.status} write ${w.id} (${describe(w)}) is applied on ${holders.map(m => m.id).join(', ')} only`)
  }

  // 6. no key goes backwards on any peer
  const last = new Map<string, { rev: number, at: number, what: string }>()
  for (const o of h.observations) {
    const counted = o.entry === undefined || canonical.has(`${o.entry.index}:${o.entry.term}`)
    if (!counted) continue
    const rev = o.entry?.revision ?? 0
    const k = `${o.node}|${o.key}`
    const prev = last.get(k)
    const what = o.entry === undefined ? 'absent' : `${o.entry.del ? 'deleted' : 'set'} at revision ${rev} (entry ${o.entry.index}:${o.entry.term})`
    if (prev !== undefined && rev < prev.rev) out.push(`${o.node}: key ${o.key} went back from ${prev.what} (t=${prev.at}) to ${what} (t=${o.at})`)
    last.set(k, { rev, at: o.at, what })
  }

  // 7. real-time order of acknowledged writes
  const acked = h.writes.filter(w => w.status === 'acked').sort((a, b) => (a.settledAt ?? 0) - (b.settledAt ?? 0))
  const bySubmit = [...acked].sort((a, b) => a.submittedAt - b.submittedAt)
  let i = 0
  let maxRev = 0
  let maxId = 0
  for (const b of bySubmit) {
    while (i < acked.length && (acked[i].settledAt ?? 0) < b.submittedAt) {
      if ((acked[i].revision ?? 0) > maxRev) { maxRev = acked[i].revision ?? 0; maxId = acked[i].id }
      i++
    }
    if ((b.revision ?? 0) <= maxRev) out.push(`write ${b.id} submitted at t=${b.submittedAt} got revision ${String(b.revision)}, not above write ${maxId}'s ${maxRev} acknowledged before`)
  }

  // 9. no write applied twice (collected with the final log above)
  out.push(...twice)

  // 8. no hung writes
  for (const w of h.writes) {
    if (w.status !== 'pending') continue
    const m = world.machine(w.node)
    if (m.incarnation === w.incarnation && m.peer?.alive === true) out.push(`write ${w.id} (${describe(w)}) on ${w.node} submitted at t=${w.submittedAt} never got an answer`)
  }
  return [...new Set(out)]
}

function describe (w: { command: { op: string, key: string }, value?: string, revision?: number }): string {
  const c = w.command as Record<string, unknown>
  const cond = ['ifNotExists', 'ifExists', 'ifRevision'].filter(k => c[k] !== undefined).map(k => `${k}=${String(c[k])}`).join(' ')
  return `${w.command.op} ${w.command.key}${w.value !== undefined ? `=${w.value}` : ''}${cond !== '' ? ` ${cond}` : ''}`
}
