/**
 * Several peers leaving at once (docs/protocol.md §5.8). A leaving primary hands over only to a
 * member that is not itself leaving; when every other member is leaving it removes them (they
 * asked) and leaves last. Without that rule two leaving peers handed leadership back and forth,
 * one term per round trip, until their leave deadline ended it.
 *
 * Pure core (one input at a time) and the simulated network (fixed seeds, virtual time). Every
 * check is an outcome: everybody who left reported `left` within a deadline, terms stayed
 * bounded, and the peers that stay agree on one primary and the expected membership.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { ArbiterCore, ELECTION_TIMEOUT_MS } from '../src/arbiter/index.js'
import type { ArbiterInit, ArbiterMessage, PersistedState, Ready } from '../src/arbiter/index.js'
import { describeRun, safetyViolations } from './helpers/sim-check.js'
import { formCluster, primaryOf } from './helpers/sim-cluster.js'
import type { SimNet } from './helpers/simnet.js'
import { mulberry32 } from './helpers/simnet.js'

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
/** Virtual time within which every leave must complete (the default leave deadline is 2 s). */
const LEAVE_WITHIN_MS = 1000
/** A few terms at most: a handover or two (one per leaver that became primary), never a storm. */
const MAX_EXTRA_TERMS = 3

const LOSSY = { drop: 0.1, dup: 0.05, minDelayMs: 1, maxDelayMs: 20 }

function maxTerm (net: SimNet, ids: string[]): number {
  return Math.max(...ids.map(id => net.node(id).persisted?.term ?? 0))
}

/** Call leave() on every id in the same virtual instant, in the given order. */
function leaveAll (net: SimNet, ids: string[]): void {
  for (const id of ids) net.leave(id)
}

/** Every id left: it reported `left` (and was then stopped, see {@link runLeaving}). */
function allLeft (net: SimNet, ids: string[]): boolean {
  return ids.every(id => net.node(id).events.some(e => e.type === 'left'))
}

/**
 * Run (1 ms steps) until `pred` holds, at most `maxMs`, stopping every peer the moment it
 * reports `left`, as the shell does (its connections close). Returns the time taken.
 */
function runLeaving (net: SimNet, pred: () => boolean, maxMs: number): number | undefined {
  return net.runUntil(() => {
    for (const n of net.nodes.values()) if (n.up && n.core?.hasLeft === true) net.crash(n.id)
    return pred()
  }, maxMs, 1)
}

function roles (net: SimNet): string {
  return [...net.nodes.values()].map(n => n.up
    ? `${n.id}=${String(n.core?.role)}@${String(n.core?.term)}${n.core?.status(net.now).leaving === true ? '(leaving)' : ''}`
    : `${n.id}=${allLeft(net, [n.id]) ? 'left' : 'down'}`).join(' ')
}

/** The single live primary, if any. */
function soloPrimary (net: SimNet): string | undefined {
  const p = net.primaries()
  return p.length === 1 ? p[0].id : undefined
}

// ---------------------------------------------------------------------------------------------
// Simulated network

for (const order of ['primary first', 'secondary first'] as const) {
  test(`two peers leaving at once (${order}): both leave promptly, no term storm`, t => {
    for (const seed of SEEDS) {
      const { net, ids } = formCluster({ seed, n: 2 })
      const p = primaryOf(net)
      const s = ids.find(id => id !== p) as string
      const term = maxTerm(net, ids)
      leaveAll(net, order === 'primary first' ? [p, s] : [s, p])
      const took = runLeaving(net, () => allLeft(net, ids), LEAVE_WITHIN_MS)
      t.not(took, undefined, `seed ${seed}: ${roles(net)}`)
      t.true(maxTerm(net, ids) - term <= MAX_EXTRA_TERMS, `seed ${seed}: terms ${term} -> ${maxTerm(net, ids)}`)
      t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
    }
  })
}

test('two peers leaving at once over lossy, reordering links: both leave, terms stay bounded', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 2 })
    net.faults = LOSSY
    const term = maxTerm(net, ids)
    leaveAll(net, ids)
    // Lost messages are retried every helloIntervalMs (500 ms): allow a few retries.
    const took = runLeaving(net, () => allLeft(net, ids), 4 * LEAVE_WITHIN_MS)
    t.not(took, undefined, `seed ${seed}: ${roles(net)}`)
    t.true(maxTerm(net, ids) - term <= MAX_EXTRA_TERMS, `seed ${seed}: terms ${term} -> ${maxTerm(net, ids)}`)
    t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
  }
})

test('three peers, the primary and a secondary leave at once: the other secondary carries on alone, terms bounded', t => {
  for (const seed of SEEDS) {
    for (const primaryFirst of [true, false]) {
      const label = `seed ${seed} ${primaryFirst ? 'primary first' : 'secondary first'}`
      const { net, ids } = formCluster({ seed, n: 3 })
      const p = primaryOf(net)
      const [s1, s2] = ids.filter(id => id !== p)
      const term = maxTerm(net, ids)
      leaveAll(net, primaryFirst ? [p, s1] : [s1, p])
      const took = runLeaving(net, () => allLeft(net, [p, s1]) && soloPrimary(net) === s2 &&
        net.core(s2).membership.members.length === 1, LEAVE_WITHIN_MS)
      t.not(took, undefined, `${label}: ${roles(net)}`)
      // One handover to s2 — or two, when s1's Leave reached the primary only after it had
      // already handed over to s1: s1 then knows the primary is leaving and hands over to s2.
      const reached = maxTerm(net, ids)
      t.true(reached - term <= 2, `${label}: terms ${term} -> ${reached}`)
      net.runFor(3 * ELECTION_TIMEOUT_MS)
      t.is(describeRun(net, label, [s2]), undefined)
      t.is(net.core(s2).term, reached, `${label}: no election afterwards`)
    }
  }
})

test('three peers, both secondaries leave at once: the primary stays, alone, in the same term', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    const p = primaryOf(net)
    const leavers = ids.filter(id => id !== p)
    const term = net.core(p).term
    leaveAll(net, leavers)
    const took = runLeaving(net, () => allLeft(net, leavers) && net.core(p).membership.members.length === 1, LEAVE_WITHIN_MS)
    t.not(took, undefined, `seed ${seed}: ${roles(net)}`)
    net.runFor(3 * ELECTION_TIMEOUT_MS)
    t.is(describeRun(net, `seed ${seed}`, [p]), undefined)
    t.is(net.core(p).term, term, `seed ${seed}: no new term`)
  }
})

test('three peers all leaving at once: all leave promptly, terms stay bounded', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    const term = maxTerm(net, ids)
    leaveAll(net, ids)
    const took = runLeaving(net, () => allLeft(net, ids), LEAVE_WITHIN_MS)
    t.not(took, undefined, `seed ${seed}: ${roles(net)}`)
    t.true(maxTerm(net, ids) - term <= MAX_EXTRA_TERMS, `seed ${seed}: terms ${term} -> ${maxTerm(net, ids)}`)
    t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
  }
})

test('five peers, the primary and two secondaries leave at once: the two others carry on, terms bounded', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 5 })
    const p = primaryOf(net)
    const rest = ids.filter(id => id !== p)
    const leavers = [p, rest[0], rest[1]]
    const stay = rest.slice(2)
    const term = maxTerm(net, ids)
    leaveAll(net, leavers)
    const took = runLeaving(net, () => {
      const q = soloPrimary(net)
      return allLeft(net, leavers) && q !== undefined && stay.includes(q) && net.core(q).membership.members.length === 2
    }, LEAVE_WITHIN_MS)
    t.not(took, undefined, `seed ${seed}: ${roles(net)}`)
    t.true(maxTerm(net, ids) - term <= MAX_EXTRA_TERMS, `seed ${seed}: terms ${term} -> ${maxTerm(net, ids)}`)
    net.runFor(3 * ELECTION_TIMEOUT_MS)
    t.is(describeRun(net, `seed ${seed}`, stay), undefined)
  }
})

// ---------------------------------------------------------------------------------------------
// Pure core

const CID = 'c1'

function state (over: Partial<PersistedState> = {}): PersistedState {
  return { clusterId: CID, term: 5, members: ['a', 'b', 'c'], configVersion: 3, configTerm: 5, ...over }
}

function sent (r: Ready, type?: ArbiterMessage['type']): Array<{ to: string, msg: ArbiterMessage }> {
  return r.messages.filter(m => type === undefined || m.msg.type === type)
}

/** `self` primary of term 6 of `members` (votes from every other member), its no-op acked by all. */
function primary (self: string, members: string[], over: Partial<ArbiterInit> = {}): ArbiterCore {
  const c = new ArbiterCore({ self, state: state({ members }), now: 0, random: mulberry32(7), log: { term: 5, index: 10 }, ...over })
  c.takeReady()
  c.tick(3000)
  for (const m of sent(c.takeReady(), 'request-vote')) c.step(m.to, { type: 'vote-reply', term: 6, granted: true, pre: true }, 3001)
  c.takeReady()
  for (const id of members) if (id !== self) c.step(id, { type: 'vote-reply', term: 6, granted: true, pre: false }, 3002)
  if (c.role !== 'primary') throw new Error('setup: not primary')
  for (const id of members) if (id !== self) c.step(id, { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, 3003)
  c.takeReady()
  return c
}

test('core: a leaving primary drops a successor that turns out to be leaving and hands over to one that is not', t => {
  const p = primary('a', ['a', 'b', 'c'])
  p.leave(3010)
  p.takeReady()
  t.is(p.handingOverTo, 'b', 'equal logs: the lowest id')
  p.step('b', { type: 'leave', term: 6, clusterId: CID }, 3011)
  t.is(p.handingOverTo, 'c', 'b is leaving too: dropped at once')
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [])
  // b's (fresh, caught-up) ack changes nothing: the handover goes to c.
  p.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, 3012)
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [])
  p.step('c', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, 3013)
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [{ to: 'c', msg: { type: 'timeout-now', term: 6 } }])
  t.is(p.role, 'secondary')
  t.is(p.term, 6, 'stepping down starts no term')
})

test('core: a leaving primary sends TimeoutNow only after a fresh answer, even to a successor whose last ack was current', t => {
  const p = primary('a', ['a', 'b', 'c'])
  p.leave(3010)
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [], 'b acked the current log before, but not since the handover began')
  p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 4 }, 3011)
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [], 'a MembersAck carries no log position')
  p.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, 3012)
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [{ to: 'b', msg: { type: 'timeout-now', term: 6 } }])
})

for (const order of ['Leave first', 'leave() first'] as const) {
  test(`core: a leaving primary whose every other member is leaving removes them, leaves once they are gone, no new term (${order})`, t => {
    const p = primary('a', ['a', 'b'])
    p.peerConnected('b', 3003)
    p.takeReady()
    if (order === 'Leave first') {
      p.step('b', { type: 'leave', term: 6, clusterId: CID }, 3004)
      p.leave(3010)
    } else {
      p.leave(3004)
      t.is(p.handingOverTo, 'b')
      p.step('b', { type: 'leave', term: 6, clusterId: CID }, 3010)
    }
    t.is(p.role, 'primary')
    t.is(p.handingOverTo, undefined, 'no handover to a leaving peer')
    const r = p.takeReady()
    t.deepEqual(sent(r, 'timeout-now'), [])
    t.like(sent(r, 'members').find(m => m.to === 'b'), { msg: { members: ['a'], committed: false } })
    t.false(p.hasLeft, 'b must hold its removal first')
    p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 3020)
    const r2 = p.takeReady()
    t.like(sent(r2, 'members').find(m => m.to === 'b'), { msg: { members: ['a'], committed: true } }, 'b learns its removal is final')
    t.false(p.hasLeft, 'not before b is gone: it may have missed that')
    // b did miss it: its next Leave is answered with the committed removal again.
    p.step('b', { type: 'leave', term: 6, clusterId: CID }, 3500)
    t.like(sent(p.takeReady(), 'members').find(m => m.to === 'b'), { msg: { members: ['a'], committed: true } })
    p.tick(3550)
    t.false(p.hasLeft)
    // b stops: its connection closes.
    p.peerDisconnected('b', 3560)
    t.true(p.hasLeft)
    t.deepEqual(p.takeReady().events.filter(e => e.type === 'left'), [{ type: 'left' }])
    t.is(p.term, 6)
  })
}

test('core: a leaving primary whose removed leavers stay connected but silent leaves after two hello intervals', t => {
  const p = primary('a', ['a', 'b'])
  p.peerConnected('b', 3003)
  p.step('b', { type: 'leave', term: 6, clusterId: CID }, 3004)
  p.leave(3005)
  p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 3020)
  p.tick(3020 + 2 * 500 - 50)
  t.false(p.hasLeft)
  p.tick(3020 + 2 * 500)
  t.true(p.hasLeft)
})

test('core: TimeoutNow tells its receiver that the sender is leaving; the new primary, leaving too, hands nothing back', t => {
  const b = new ArbiterCore({ self: 'b', state: state({ members: ['a', 'b'] }), now: 0, random: mulberry32(7), log: { term: 5, index: 10 } })
  b.step('a', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 3 }, 10)
  b.takeReady()
  b.step('a', { type: 'timeout-now', term: 5 }, 20)
  t.is(b.role, 'candidate')
  b.leave(21)
  b.takeReady()
  b.step('a', { type: 'vote-reply', term: 6, granted: true, pre: false }, 30)
  t.is(b.role, 'primary')
  t.is(b.handingOverTo, undefined, 'a is leaving: no handover back to it')
  t.deepEqual(sent(b.takeReady(), 'timeout-now'), [])
  // b re-issues its membership (no-op), then removes a, then leaves once a is gone.
  b.step('a', { type: 'members-ack', term: 6, configTerm: 6, version: 4 }, 40)
  t.like(sent(b.takeReady(), 'members').find(m => m.to === 'a'), { msg: { members: ['b'], committed: false } })
  b.step('a', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 50)
  t.like(sent(b.takeReady(), 'members').find(m => m.to === 'a'), { msg: { members: ['b'], committed: true } })
  b.tick(50 + 2 * 500) // a was never reported connected: nothing to wait for but its silence
  t.true(b.hasLeft)
  t.is(b.term, 6)
})

test('core: a leaving secondary tells every member, not only the primary', t => {
  const c = new ArbiterCore({ self: 'c', state: state(), now: 0, random: mulberry32(7) })
  c.step('a', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 3 }, 10)
  c.takeReady()
  c.leave(20)
  t.deepEqual(sent(c.takeReady(), 'leave').map(m => m.to).sort(), ['a', 'b'])
})

/** Secondary `a` (term 5) wins the election of term 6 with c's vote at 3000 ms, then leaves at 3010. */
function electAndLeave (t: ExecutionContext, a: ArbiterCore): void {
  a.takeReady()
  a.tick(3000)
  for (const m of sent(a.takeReady(), 'request-vote')) a.step(m.to, { type: 'vote-reply', term: 6, granted: true, pre: true }, 3001)
  a.step('c', { type: 'vote-reply', term: 6, granted: true, pre: false }, 3002)
  t.is(a.role, 'primary')
  a.leave(3010)
}

test('core: a Leave heard as a secondary counts later; a leaver that disconnected is forgotten (it may come back, not leaving)', t => {
  for (const reconnected of [false, true]) {
    const a = new ArbiterCore({ self: 'a', state: state(), now: 0, random: mulberry32(7), log: { term: 5, index: 10 } })
    a.peerConnected('b', 1)
    a.step('b', { type: 'leave', term: 5, clusterId: CID }, 2)
    if (reconnected) {
      a.peerDisconnected('b', 3)
      a.peerConnected('b', 4)
    } else {
      // A leaver repeats its Leave every helloIntervalMs (500 ms) until it is removed.
      for (let at = 502; at < 3000; at += 500) a.step('b', { type: 'leave', term: 5, clusterId: CID }, at)
    }
    electAndLeave(t, a)
    t.is(a.handingOverTo, reconnected ? 'b' : 'c')
  }
})

test('core: a leaving mark lapses two hello intervals after the last Leave: a peer restarted before its old connection was seen to close is not leaving', t => {
  for (const lastLeaveAt of [2, 2500]) {
    const a = new ArbiterCore({ self: 'a', state: state(), now: 0, random: mulberry32(7), log: { term: 5, index: 10 } })
    a.peerConnected('b', 1)
    // b's Leave, heard as a secondary. Then either b stops sending them — it restarted (and is a
    // member again) before its old connection was seen to close, so no disconnect — or it was
    // still leaving at 2500.
    a.step('b', { type: 'leave', term: 5, clusterId: CID }, 2)
    if (lastLeaveAt > 2) a.step('b', { type: 'leave', term: 5, clusterId: CID }, lastLeaveAt)
    electAndLeave(t, a)
    t.is(a.handingOverTo, lastLeaveAt === 2 ? 'b' : 'c', `last Leave at ${lastLeaveAt}`)
    t.false(sent(a.takeReady(), 'members').some(m => m.msg.type === 'members' && !m.msg.members.includes('b')) && lastLeaveAt === 2, 'a lapsed leaver is not removed')
  }
})

// ---------------------------------------------------------------------------------------------
// Random: any subset leaving at (nearly) the same time, over faulty links

test('random: 2–5 peers, any subset leaving within a few ms over lossy links: every leaver leaves, terms bounded, the rest converge', t => {
  let worst = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed * 7919)
    const n = 2 + Math.floor(rnd() * 4)
    const { net, ids } = formCluster({ seed, n })
    const leavers = ids.filter(() => rnd() < 0.6)
    if (leavers.length === 0) leavers.push(ids[Math.floor(rnd() * n)])
    const stay = ids.filter(id => !leavers.includes(id))
    net.faults = { drop: rnd() * 0.15, dup: rnd() * 0.05, minDelayMs: 1, maxDelayMs: 1 + Math.floor(rnd() * 40) }
    const term = maxTerm(net, ids)
    const elections = net.history.elections.length
    for (const id of leavers) net.at(Math.floor(rnd() * 20), () => { net.leave(id) })
    const label = `seed ${seed}: n=${n} leavers=${leavers.join(',')} faults=${JSON.stringify(net.faults)}`
    // Losses are retried every helloIntervalMs; a lost TimeoutNow or heartbeats may cost an
    // election timeout. The shell's default deadline is 2 s; allow more under heavy loss.
    const took = runLeaving(net, () => allLeft(net, leavers), 6000)
    t.not(took, undefined, `${label}: ${roles(net)}`)
    const extra = maxTerm(net, ids) - term
    const won = net.history.elections.length - elections
    worst = Math.max(worst, extra)
    // Elections won: one per handover, at most one per leaver, plus one when a leaver won an
    // election on its own (it keeps campaigning) and handed over again.
    t.true(won <= leavers.length + 1, `${label}: ${won} elections won`)
    // Terms: those, plus elections lost to dropped votes (one term each, up to a few even with a
    // single leaver over these links). A storm is hundreds.
    t.true(extra <= 2 * leavers.length + 4, `${label}: terms ${term} -> ${maxTerm(net, ids)}`)
    net.faults = { drop: 0, dup: 0, minDelayMs: 1, maxDelayMs: 5 }
    if (stay.length > 0) {
      const settled = net.runUntil(() => describeRun(net, label, stay) === undefined, 10_000, 50)
      t.not(settled, undefined, String(describeRun(net, label, stay)))
    }
    t.deepEqual(safetyViolations(net), [], label)
    if (took === undefined) return
  }
  t.log(`most terms added by one run: ${worst}`)
})
