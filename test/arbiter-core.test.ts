/**
 * Rules of the arbiter core, one input at a time (no network): what it persists, what it
 * answers, and what it refuses. The simulated-network tests cover the same rules in motion.
 */
import test from 'ava'
import { ArbiterCore, EVICT_AFTER_MS, resolveArbiterOptions } from '../src/arbiter/index.js'
import type { ArbiterInit, ArbiterMessage, LogPosition, PersistedState, Ready } from '../src/arbiter/index.js'
import { InvalidArgumentError } from '../src/errors.js'
import { mulberry32 } from './helpers/simnet.js'

const CID = 'c1'
const MEMBERS = ['a', 'b', 'c']

function state (over: Partial<PersistedState> = {}): PersistedState {
  return { clusterId: CID, term: 5, members: MEMBERS, configVersion: 3, configTerm: 5, ...over }
}

function core (self: string, over: Partial<ArbiterInit> = {}): ArbiterCore {
  const c = new ArbiterCore({ self, state: state(), now: 0, random: mulberry32(7), ...over })
  c.takeReady()
  return c
}

function sent (r: Ready, type?: ArbiterMessage['type']): Array<{ to: string, msg: ArbiterMessage }> {
  return r.messages.filter(m => type === undefined || m.msg.type === type)
}

function vote (term: number, over: Partial<Extract<ArbiterMessage, { type: 'request-vote' }>> = {}): ArbiterMessage {
  return { type: 'request-vote', term, clusterId: CID, pre: false, log: { term: 5, index: 10 }, configTerm: 5, version: 3, ...over }
}

function heartbeat (term: number): ArbiterMessage {
  return { type: 'heartbeat', term, clusterId: CID, configTerm: 5, version: 3 }
}

/** Make `self` primary of term 6 in a three-member cluster (votes from b). */
function primary (self = 'a', log: LogPosition = { term: 5, index: 10 }): ArbiterCore {
  const c = core(self, { log })
  c.tick(3000) // election timeout (< 2000) has passed: pre-vote
  for (const m of sent(c.takeReady(), 'request-vote')) c.step(m.to, { type: 'vote-reply', term: 6, granted: true, pre: true }, 3001)
  c.takeReady()
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: false }, 3002)
  if (c.role !== 'primary') throw new Error('setup: not primary')
  c.takeReady()
  return c
}

test('a restarted member starts as secondary, a non-member as joining', t => {
  t.is(core('a').role, 'secondary')
  t.is(core('z').role, 'joining')
  t.is(new ArbiterCore({ self: 'a', now: 0, random: Math.random }).role, 'joining')
})

test('a real vote is granted once per term, and persisted in the same Ready as the reply', t => {
  const c = core('a')
  c.step('b', vote(6), 10)
  const r = c.takeReady()
  t.is(r.persist?.votedFor, 'b')
  t.is(r.persist?.term, 6)
  t.like(sent(r, 'vote-reply')[0], { to: 'b', msg: { type: 'vote-reply', term: 6, granted: true, pre: false } })
  c.step('c', vote(6), 11)
  const r2 = c.takeReady()
  t.like(sent(r2, 'vote-reply')[0], { to: 'c', msg: { granted: false, term: 6 } })
  // The same candidate asking again (a duplicate) is granted again.
  c.step('b', vote(6), 12)
  t.like(sent(c.takeReady(), 'vote-reply')[0], { to: 'b', msg: { granted: true } })
})

test('a vote is refused to a candidate whose log is behind, by term or by index', t => {
  for (const log of [{ term: 4, index: 99 }, { term: 5, index: 9 }]) {
    const c = core('a', { log: { term: 5, index: 10 } })
    c.step('b', vote(6, { log }), 10)
    const r = c.takeReady()
    t.like(sent(r, 'vote-reply')[0].msg, { granted: false, term: 6 })
    t.is(r.persist?.votedFor, undefined, 'the higher term is adopted, but no vote is cast')
    // Pre-votes follow the same rule.
    c.step('b', vote(8, { log, pre: true }), 5000)
    t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: false, pre: true })
  }
})

test('a vote is refused to a candidate with an older membership, and the reply carries the newer one', t => {
  const c = core('a', { state: state({ configVersion: 4, members: ['a', 'b'] }) })
  c.step('c', vote(6, { version: 3 }), 10)
  const reply = sent(c.takeReady(), 'vote-reply')[0].msg
  t.like(reply, { granted: false })
  t.deepEqual(reply.type === 'vote-reply' ? reply.config : undefined, { configTerm: 5, version: 4, members: ['a', 'b'] })
})

test('a candidate that learns from a voter it was removed stops campaigning and becomes joining', t => {
  const c = core('c', { state: state({ term: 6, configTerm: 6 }) })
  c.tick(3000)
  t.true(sent(c.takeReady(), 'request-vote').length > 0)
  c.step('a', { type: 'vote-reply', term: 6, granted: false, pre: true, config: { configTerm: 6, version: 4, members: ['a', 'b'] } }, 3001)
  t.is(c.role, 'joining')
  t.deepEqual(c.membership.members, ['a', 'b'])
})

test('pre-votes are refused while the voter hears from a live primary (leader stickiness), granted after electionTimeoutMs of silence', t => {
  const c = core('a')
  c.step('c', heartbeat(5), 100)
  c.takeReady()
  c.step('b', vote(6, { pre: true }), 500)
  t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: false, pre: true, term: 5 })
  c.step('b', vote(6, { pre: true }), 100 + 1000)
  const r = c.takeReady()
  t.like(sent(r, 'vote-reply')[0].msg, { granted: true, pre: true, term: 6 })
  t.is(c.term, 5, 'a pre-vote changes no term')
  t.is(r.persist, undefined, 'a pre-vote persists nothing')
})

test('a pre-vote round does not bump the term; a majority of pre-votes starts the real election', t => {
  const c = core('a')
  c.tick(2500)
  const r = c.takeReady()
  t.is(c.term, 5)
  t.is(r.persist, undefined)
  t.deepEqual(sent(r, 'request-vote').map(m => m.to).sort(), ['b', 'c'])
  t.true(sent(r, 'request-vote').every(m => m.msg.type === 'request-vote' && m.msg.pre && m.msg.term === 6))
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: true }, 2501)
  const r2 = c.takeReady()
  t.is(c.role, 'candidate')
  t.is(r2.persist?.term, 6)
  t.is(r2.persist?.votedFor, 'a')
  t.true(sent(r2, 'request-vote').every(m => m.msg.type === 'request-vote' && !m.msg.pre))
})

test('a peer whose store is mid snapshot install reports an empty log, becomes no candidate (pre-votes still go out) nor takes office on votes gathered before, and stands again once it is done', t => {
  const c = core('a', { log: { term: 5, index: 10 } })
  c.tick(2500) // pre-vote with its log
  t.true(sent(c.takeReady(), 'request-vote').every(m => m.msg.type === 'request-vote' && m.msg.log.index === 10))
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: true }, 2501)
  c.takeReady()
  t.is(c.role, 'candidate')
  // The install begins (the store is cleared) before the real votes arrive.
  c.setInstalling(true)
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: false }, 2502)
  c.step('c', { type: 'vote-reply', term: 6, granted: true, pre: false }, 2503)
  t.not(c.role, 'primary', 'a majority of votes, but no data: no office')
  c.takeReady()
  // Pre-votes still go out (how a peer removed while away learns it), with the empty log; even
  // granted, they start no candidacy.
  c.tick(10_000)
  const pre = sent(c.takeReady(), 'request-vote')
  t.true(pre.length > 0 && pre.every(m => m.msg.type === 'request-vote' && m.msg.pre && m.msg.log.index === 0 && m.msg.log.term === 0))
  c.step('b', { type: 'vote-reply', term: 7, granted: true, pre: true }, 10_001)
  t.deepEqual(sent(c.takeReady(), 'request-vote').filter(m => m.msg.type === 'request-vote' && !m.msg.pre), [], 'no candidacy while installing')
  t.is(c.term, 6)
  c.step('b', { type: 'timeout-now', term: 6 }, 10_002)
  t.is(c.term, 6, 'not even when handed the role')
  // As a voter it compares an empty log: any candidate is at least as up to date.
  c.step('b', vote(7, { log: { term: 1, index: 1 } }), 10_003)
  t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: true, term: 7 })
  // Installed: it reports the new position and may stand again.
  c.setInstalling(false)
  c.setLogPosition({ term: 6, index: 20 })
  c.tick(20_000)
  const r = c.takeReady()
  t.true(sent(r, 'request-vote').length > 0)
  t.true(sent(r, 'request-vote').every(m => m.msg.type === 'request-vote' && m.msg.log.index === 20 && m.msg.log.term === 6))
})

test('a primary within a heartbeat of stepping down heartbeats on every tick, so an answer just before the deadline keeps it primary', t => {
  const { stepDownAfterMs: stepDown, heartbeatMs } = resolveArbiterOptions({})
  const ack = { type: 'heartbeat-ack' as const, term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }
  const c = primary()
  c.step('b', ack, 3010)
  c.step('c', ack, 3010)
  c.takeReady()
  // Then silence (a partition): heartbeats every heartbeatMs while a majority was heard recently…
  const rounds = (from: number, to: number): number => {
    let n = 0
    for (let now = from; now <= to; now += 50) {
      c.tick(now)
      if (sent(c.takeReady(), 'heartbeat').length > 0) n++
    }
    return n
  }
  const calm = rounds(3050, 3010 + stepDown - heartbeatMs - 50)
  t.true(calm <= Math.ceil((stepDown - heartbeatMs) / heartbeatMs), `${calm} rounds while calm`)
  // …and on every 50 ms tick in the last heartbeatMs before the deadline.
  t.is(rounds(3010 + stepDown - heartbeatMs + 10, 3010 + stepDown - 40), heartbeatMs / 50)
  // The partition heals: an answer arrives 30 ms before the deadline, and the primary stays.
  c.step('b', ack, 3010 + stepDown - 30)
  c.tick(3010 + stepDown + 10)
  t.is(c.role, 'primary')
  // Without any answer it steps down at the deadline, as before.
  c.tick(3010 + 2 * stepDown)
  t.not(c.role, 'primary')
})

test('a vote round asks again, every heartbeatMs, the members that have not answered: a lost request or reply costs no round', t => {
  const { heartbeatMs } = resolveArbiterOptions({})
  const c = core('a')
  c.tick(2500) // pre-vote round: b and c asked
  t.deepEqual(sent(c.takeReady(), 'request-vote').map(m => m.to).sort(), ['b', 'c'])
  c.tick(2500 + heartbeatMs / 2)
  t.deepEqual(sent(c.takeReady(), 'request-vote'), [], 'not before heartbeatMs')
  c.step('c', { type: 'vote-reply', term: 5, granted: false, pre: true }, 2510) // c refuses: answered
  c.tick(2500 + heartbeatMs)
  const again = sent(c.takeReady(), 'request-vote')
  t.deepEqual(again.map(m => m.to), ['b'], 'only the member that has not answered')
  t.true(again.every(m => m.msg.type === 'request-vote' && m.msg.pre && m.msg.term === 6))
  // b's pre-vote arrives: the real election; b's real vote is lost, c never answers.
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: true }, 2720)
  t.is(c.role, 'candidate')
  t.deepEqual(sent(c.takeReady(), 'request-vote').map(m => m.to).sort(), ['b', 'c'])
  // A late duplicate of b's pre-vote reply (it answered the resent pre-vote too) answers nothing
  // of the election: b is still asked again.
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: true }, 2725)
  c.tick(2720 + heartbeatMs)
  const real = sent(c.takeReady(), 'request-vote')
  t.deepEqual(real.map(m => m.to).sort(), ['b', 'c'])
  t.true(real.every(m => m.msg.type === 'request-vote' && !m.msg.pre && m.msg.term === 6), 'the same term: no new round')
  c.step('b', { type: 'vote-reply', term: 6, granted: true, pre: false }, 2930)
  t.is(c.role, 'primary')
  t.is(c.term, 6)
})

test('a voter grants a repeated RequestVote again to the candidate it voted for, and to no other', t => {
  const c = core('b')
  c.step('a', vote(6), 2000)
  t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: true, term: 6 })
  c.step('a', vote(6), 2200)
  t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: true, term: 6 })
  c.step('c', vote(6), 2300)
  t.like(sent(c.takeReady(), 'vote-reply')[0].msg, { granted: false, term: 6 })
})

test('forcePrimary is refused while the store is installing a snapshot (a primary without its data)', t => {
  const c = core('a')
  c.setInstalling(true)
  t.like(c.forcePrimary(100_000), { ok: false, reason: 'this peer is installing a snapshot: its store is partial' })
  t.not(c.role, 'primary')
  c.setInstalling(false)
  t.like(c.forcePrimary(100_000), { ok: true })
})

test('a confirmation round (read barrier) counts only echoes of that round or a later one, of this term, from a majority', t => {
  const ack = (probe?: number, term = 6): ArbiterMessage => ({ type: 'heartbeat-ack', term, configTerm: 6, version: 4, log: { term: 5, index: 10 }, ...(probe !== undefined ? { probe } : {}) })
  const c = primary()
  const r1 = c.startConfirmation(4000) as number
  const hb = sent(c.takeReady(), 'heartbeat')
  t.deepEqual(hb.map(m => m.to).sort(), ['b', 'c'])
  t.true(hb.every(m => m.msg.type === 'heartbeat' && m.msg.probe === r1))
  t.true(c.confirmedRound() < r1, 'itself alone is no majority')
  c.step('b', ack(), 4001)
  t.true(c.confirmedRound() < r1, 'an ack without the echo (an earlier heartbeat) does not count')
  c.step('b', ack(r1), 4002)
  t.is(c.confirmedRound(), r1, 'b and itself: 2 of 3')
  const r2 = c.startConfirmation(4010) as number
  t.true(r2 > r1)
  c.step('c', ack(r1), 4011)
  t.is(c.confirmedRound(), r1, 'an echo of an older round confirms only that one')
  c.step('c', ack(r2), 4012)
  t.is(c.confirmedRound(), r2)
  // A member of a newer term does not echo ours: the primary adopts it and no longer leads.
  const r3 = c.startConfirmation(4020) as number
  c.step('b', ack(r3, 7), 4021)
  t.not(c.role, 'primary')
  t.is(c.confirmedRound(), 0)
  t.is(c.startConfirmation(4022), undefined, 'only a primary confirms')
})

test('a member echoes a confirmation round in its heartbeat ack only when it accepts the sender in its term', t => {
  const c = core('b')
  c.step('a', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 3, probe: 42 }, 100)
  t.like(sent(c.takeReady(), 'heartbeat-ack')[0].msg, { type: 'heartbeat-ack', term: 5, probe: 42 })
  c.step('a', heartbeat(5), 200)
  t.is((sent(c.takeReady(), 'heartbeat-ack')[0].msg as { probe?: number }).probe, undefined)
  // A heartbeat of an older term (say, of the sender's run before a restart) is answered with
  // the member's newer term, and vouches for no round.
  c.step('c', vote(6), 300)
  c.takeReady()
  c.step('a', { type: 'heartbeat', term: 5, clusterId: CID, configTerm: 5, version: 3, probe: 50 }, 400)
  const stale = sent(c.takeReady(), 'heartbeat-ack')[0].msg as { term: number, probe?: number }
  t.is(stale.term, 6)
  t.is(stale.probe, undefined)
})

test('a primary ignores an echo of a round it has not started (a restarted primary\'s rounds start again at 1)', t => {
  const c = primary()
  const r1 = c.startConfirmation(4000) as number
  c.takeReady()
  c.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 }, probe: r1 + 50 }, 4001)
  t.true(c.confirmedRound() < r1)
  const r2 = c.startConfirmation(4002) as number
  t.true(c.confirmedRound() < r2, 'the bogus echo confirms no later round either')
})

test('a non-member never starts an election', t => {
  const c = core('z', { state: state() })
  c.tick(100_000)
  t.deepEqual(sent(c.takeReady(), 'request-vote'), [])
})

test('a heartbeat of a lower term is answered with the current term and not acted on; the stale primary steps down on that answer', t => {
  const c = core('b', { state: state({ term: 7 }) })
  c.step('a', heartbeat(5), 10)
  const r = c.takeReady()
  t.like(sent(r, 'heartbeat-ack')[0], { to: 'a', msg: { term: 7 } })
  t.is(c.primary, undefined)
  const p = primary('a')
  p.step('b', { type: 'heartbeat-ack', term: 7, configTerm: 5, version: 3, log: { term: 5, index: 10 } }, 4000)
  const r2 = p.takeReady()
  t.is(p.role, 'secondary')
  t.is(r2.persist?.term, 7)
  t.true(r2.events.some(e => e.type === 'role' && e.role === 'secondary'))
})

test('a new primary first re-issues its membership in its own term, then heartbeats every heartbeatMs', t => {
  const p = primary('a')
  t.deepEqual(p.membership, { configTerm: 6, version: 4, members: MEMBERS })
  p.tick(3002 + 200)
  t.deepEqual(sent(p.takeReady(), 'heartbeat').map(m => m.to).sort(), ['b', 'c'])
})

test('one membership change at a time: a second join waits until the first is committed by a majority of the old membership', t => {
  const p = primary('a')
  // Commit the no-op first.
  p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 4 }, 3010)
  p.takeReady()
  p.step('x', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }, 3020)
  const r = p.takeReady()
  t.like(sent(r, 'join-accepted')[0], { to: 'x', msg: { version: 5, members: [...MEMBERS, 'x'] } })
  p.step('y', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }, 3030)
  t.deepEqual(sent(p.takeReady(), 'join-accepted'), [], 'y waits: x is not committed yet')
  // x's ack does not count: x is not in the old membership.
  p.step('x', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 3040)
  t.deepEqual(sent(p.takeReady(), 'join-accepted'), [])
  p.step('c', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 3050)
  t.deepEqual(sent(p.takeReady(), 'join-accepted'), [], 'a majority holds it, but x has not shown it holds the primary\'s log')
  p.step('x', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 5, log: { term: 6, index: 10 } }, 3060)
  t.like(sent(p.takeReady(), 'join-accepted')[0], { to: 'y', msg: { version: 6, members: [...MEMBERS, 'x', 'y'] } })
})

test('an added member that never shows the primary\'s log position is committed once it is silent for evictAfterMs (then evicted), so changes never stall', t => {
  const p = primary('a')
  p.setLogPosition({ term: 6, index: 50 })
  p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 4 }, 3010)
  p.takeReady()
  p.step('x', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }, 3020)
  p.takeReady()
  p.step('b', { type: 'members-ack', term: 6, configTerm: 6, version: 5 }, 3030)
  p.step('x', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 5, log: { term: 6, index: 49 } }, 3040)
  p.step('y', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }, 3050)
  t.deepEqual(sent(p.takeReady(), 'join-accepted'), [], 'x is one entry short: not committed')
  // b and c keep acking; x falls silent.
  for (let now = 3100; now < 3100 + EVICT_AFTER_MS + 400; now += 100) {
    p.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 5, log: { term: 6, index: 50 } }, now)
    p.step('c', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 5, log: { term: 6, index: 50 } }, now)
    p.tick(now)
  }
  t.true(p.membership.version > 5, `x's addition was committed and the next change started (version ${p.membership.version})`)
})

test('a join sent to a secondary is redirected to the primary it knows', t => {
  const c = core('b')
  c.step('a', heartbeat(5), 10)
  c.takeReady()
  c.step('x', { type: 'join', cluster: 'kvgrid', log: { term: 0, index: 0 } }, 20)
  t.like(sent(c.takeReady(), 'join-rejected')[0], { to: 'x', msg: { reason: 'not-primary', primary: 'a' } })
})

test('a join naming another cluster id is rejected as other-cluster; the joiner reports the conflict', t => {
  const p = primary('a')
  p.step('x', { type: 'join', cluster: 'kvgrid', clusterId: 'other', log: { term: 0, index: 0 } }, 3100)
  t.like(sent(p.takeReady(), 'join-rejected')[0], { to: 'x', msg: { reason: 'other-cluster', clusterId: CID } })
})

test('TimeoutNow starts an election at once only when it comes from the current primary in the current term', t => {
  const c = core('b')
  c.step('a', heartbeat(5), 10)
  c.takeReady()
  c.step('c', { type: 'timeout-now', term: 5 }, 20)
  t.is(c.role, 'secondary', 'not from the primary: ignored')
  c.step('a', { type: 'timeout-now', term: 4 }, 20)
  t.is(c.role, 'secondary', 'old term: ignored')
  c.step('a', { type: 'timeout-now', term: 5 }, 30)
  t.is(c.role, 'candidate')
  t.is(c.term, 6)
  t.true(sent(c.takeReady(), 'request-vote').every(m => m.msg.type === 'request-vote' && !m.msg.pre))
})

test('Hellos of another cluster name are ignored', t => {
  const c = new ArbiterCore({ self: 'a', now: 0, random: mulberry32(1), cluster: 'blue' })
  c.peerConnected('b', 0)
  c.takeReady()
  c.step('b', { type: 'hello', cluster: 'red', clusterId: 'r1', term: 3, role: 'primary', log: { term: 3, index: 1 } }, 10)
  t.deepEqual(c.takeReady().messages, [], 'no Join to a primary of another cluster name')
  c.tick(5000)
  t.is(c.role, 'primary', 'founds its own cluster after discovery')
})

test('a fresh peer founds only after the discovery window, and only if it has the lowest id among the fresh peers it sees', t => {
  const a = new ArbiterCore({ self: 'a', now: 0, random: mulberry32(1) })
  const b = new ArbiterCore({ self: 'b', now: 0, random: mulberry32(2) })
  for (const [x, y] of [[a, b], [b, a]] as const) x.peerConnected(y.self, 0)
  a.step('b', sent(b.takeReady(), 'hello')[0].msg, 1)
  b.step('a', sent(a.takeReady(), 'hello')[0].msg, 1)
  a.tick(1000)
  b.tick(1000)
  t.is(a.role, 'joining')
  a.tick(1500)
  b.tick(1500)
  t.is(a.role, 'primary')
  t.is(b.role, 'joining')
  const r = a.takeReady()
  t.like(r.persist, { term: 1, members: ['a'], configVersion: 1, configTerm: 1, votedFor: 'a' })
  t.is(r.persist?.clusterId?.length, 32)
})

test('a fresh peer does not found while a lower id it heard of through another peer may still say Hello (at most discoveryMs)', t => {
  // b and c each reached only the seed z (fresh, highest id); z's peer list told each of the other.
  const z = new ArbiterCore({ self: 'z', now: 0, random: mulberry32(4) })
  const c = new ArbiterCore({ self: 'c', now: 0, random: mulberry32(3) })
  const b = new ArbiterCore({ self: 'b', now: 0, random: mulberry32(2) })
  for (const x of [b, c]) {
    x.peerConnected('z', 0)
    z.peerConnected(x.self, 0)
    x.step('z', sent(z.takeReady(), 'hello')[0].msg, 1)
  }
  c.peerHeardOf('b', 200)
  b.peerHeardOf('c', 200)
  c.tick(1500)
  b.tick(1500)
  t.is(b.role, 'primary', 'b is the lowest id it knows of: it founds when its window ends')
  t.is(c.role, 'joining', 'c waits for b, which it heard of but has not heard from')
  c.tick(1699)
  t.is(c.role, 'joining')
  // b never connects to c: c stops waiting discoveryMs after it heard of b.
  c.tick(1700)
  t.is(c.role, 'primary')
})

test('leave() of a sole member completes at once; of a non-member too', t => {
  const solo = core('a', { state: state({ members: ['a'] }) })
  solo.leave(0)
  t.true(solo.hasLeft)
  t.deepEqual(solo.takeReady().events, [{ type: 'left' }])
  const fresh = new ArbiterCore({ self: 'q', now: 0, random: mulberry32(1) })
  fresh.leave(0)
  t.true(fresh.hasLeft)
})

test('a leaving peer takes only a committed removal as final', t => {
  const c = core('b')
  c.step('a', heartbeat(5), 10)
  c.takeReady()
  c.leave(20)
  t.like(sent(c.takeReady(), 'leave')[0], { to: 'a', msg: { term: 5, clusterId: CID } })
  c.step('a', { type: 'members', term: 5, clusterId: CID, configTerm: 5, version: 4, members: ['a', 'c'], committed: false }, 30)
  t.false(c.hasLeft)
  c.step('a', { type: 'members', term: 5, clusterId: CID, configTerm: 5, version: 4, members: ['a', 'c'], committed: true }, 40)
  t.true(c.hasLeft)
})

test('a leaving primary hands over only once its successor caught up, and stays primary meanwhile', t => {
  const p = primary('a', { term: 5, index: 10 })
  const ack = (from: string, index: number, now: number): void => {
    p.step(from, { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index } }, now)
  }
  ack('b', 8, 3010)
  ack('c', 7, 3010)
  p.takeReady()
  p.leave(3020)
  const r = p.takeReady()
  t.is(p.role, 'primary')
  t.is(p.status(3020).handover, 'b', 'the most up-to-date secondary')
  t.deepEqual(sent(r, 'timeout-now'), [])
  t.true(sent(r, 'heartbeat').length === 2, 'a heartbeat round asks for fresh positions')
  ack('b', 10, 3030)
  const r2 = p.takeReady()
  t.deepEqual(sent(r2, 'timeout-now'), [{ to: 'b', msg: { type: 'timeout-now', term: 6 } }])
  t.is(p.role, 'secondary')
  t.is(p.term, 6, 'stepping down for a handover starts no term')
})

test('a leaving primary whose successor does not catch up stays primary and picks again after electionTimeoutMs', t => {
  const p = primary('a', { term: 5, index: 10 })
  p.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 9 } }, 3010)
  p.takeReady()
  p.leave(3020)
  p.takeReady()
  for (let now = 3020; now < 3020 + 1000; now += 50) {
    p.tick(now)
    p.step('b', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 9 } }, now)
    p.step('c', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, now)
  }
  t.is(p.role, 'primary')
  p.tick(3020 + 1000)
  // Picked again: c has caught up by now, so the handover goes to c, once c answers the
  // heartbeat round that the new pick starts.
  t.is(p.status(3020 + 1000).handover, 'c')
  t.deepEqual(sent(p.takeReady(), 'timeout-now'), [])
  p.step('c', { type: 'heartbeat-ack', term: 6, configTerm: 6, version: 4, log: { term: 5, index: 10 } }, 3020 + 1010)
  t.deepEqual(sent(p.takeReady(), 'timeout-now').map(m => m.to), ['c'])
})

test('the core is deterministic: the same inputs give the same outputs', t => {
  const run = (): string => {
    const out: Ready[] = []
    const c = core('a', { random: mulberry32(99) })
    for (let now = 0; now < 10_000; now += 50) {
      c.tick(now)
      out.push(c.takeReady())
    }
    return JSON.stringify(out)
  }
  t.is(run(), run())
})

test('bad options and malformed persisted state are refused with InvalidArgumentError', t => {
  t.throws(() => resolveArbiterOptions({ heartbeatMs: 0 }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveArbiterOptions({ heartbeatMs: 600, electionTimeoutMs: 1000 }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveArbiterOptions({ stepDownAfterMs: 6000 }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveArbiterOptions({ cluster: 'x'.repeat(65) }), { instanceOf: InvalidArgumentError })
  t.throws(() => resolveArbiterOptions({ requireSeed: 'yes' as unknown as boolean }), { instanceOf: InvalidArgumentError })
  t.throws(() => core('a', { state: { ...state(), members: ['a', 'a'] } }), { instanceOf: InvalidArgumentError })
  t.throws(() => core('a', { state: { ...state(), term: -1 } }), { instanceOf: InvalidArgumentError })
  t.throws(() => core(''), { instanceOf: InvalidArgumentError })
  t.deepEqual(resolveArbiterOptions(), {
    cluster: 'kvgrid', heartbeatMs: 200, electionTimeoutMs: 1000, stepDownAfterMs: 1500, evictAfterMs: 2000, discoveryMs: 1500, helloIntervalMs: 500, requireSeed: false
  })
})

test('retryJoin sends the held-back Join at once, only to the current join target of a joining peer, at most once per hello round', t => {
  const x = new ArbiterCore({ self: 'x', now: 0, random: mulberry32(3) })
  x.takeReady()
  x.peerConnected('a', 10)
  x.takeReady()
  x.step('a', { type: 'hello', cluster: 'kvgrid', clusterId: CID, term: 5, role: 'primary', primary: 'a', log: { term: 5, index: 10 } }, 20)
  t.is(x.joining, 'a')
  x.takeReady()
  x.retryJoin('z', 30)
  t.deepEqual(sent(x.takeReady(), 'join'), [], 'not its target')
  x.retryJoin('a', 40)
  t.like(sent(x.takeReady(), 'join')[0], { to: 'a', msg: { type: 'join', clusterId: CID } })
  // At most one nudge per hello round (500 ms): the round re-sends Join by itself.
  x.retryJoin('a', 90)
  t.deepEqual(sent(x.takeReady(), 'join'), [], 'a second nudge within the round')
  x.retryJoin('a', 540)
  t.is(sent(x.takeReady(), 'join').length, 1, 'the next round')
  // A member ignores it.
  const b = core('b')
  b.retryJoin('a', 50)
  t.deepEqual(sent(b.takeReady(), 'join'), [])
})
