/**
 * The arbiter core in a simulated network: founding, joining, leaving, failover, partitions,
 * eviction, vote restriction, cluster conflicts and seeds. Deterministic: every test runs on
 * fixed seeds in virtual time, so a failure replays exactly.
 */
import test from 'ava'
import { ELECTION_TIMEOUT_MS, EVICT_AFTER_MS, HEARTBEAT_MS, STEP_DOWN_AFTER_MS } from '../src/arbiter/index.js'
import type { ArbiterEvent, LogPosition } from '../src/arbiter/index.js'
import { convergenceProblem, describeRun, safetyViolations } from './helpers/sim-check.js'
import { formCluster, peerIds, primaryOf } from './helpers/sim-cluster.js'
import { SimNet } from './helpers/simnet.js'

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]

function termsOf (net: SimNet, ids: string[]): Set<number> {
  return new Set(ids.map(id => net.core(id).term))
}

function eventsOf<T extends ArbiterEvent['type']> (net: SimNet, id: string, type: T): Array<Extract<ArbiterEvent, { type: T }>> {
  return net.node(id).events.filter((e): e is Extract<ArbiterEvent, { type: T }> => e.type === type)
}

// ---------------------------------------------------------------------------------------------
// Founding

for (const n of [1, 3, 5]) {
  test(`${n} fresh peer(s) started together found exactly one cluster: one primary, the rest secondaries, same cluster id and members, within 5 s`, t => {
    for (const seed of SEEDS) {
      const { net, ids, tookMs } = formCluster({ seed, n, withinMs: 5000 })
      t.is(describeRun(net, `seed ${seed}`, ids), undefined)
      t.true(tookMs <= 5000, `seed ${seed}: took ${tookMs} ms`)
      t.is(new Set(ids.map(id => net.core(id).cluster)).size, 1, `seed ${seed}: one cluster id`)
      t.is(net.primaries().length, 1)
      t.is(ids.filter(id => net.core(id).role === 'secondary').length, n - 1)
      // The founder is the lowest id, in term 1.
      t.is(primaryOf(net), 'p0', `seed ${seed}`)
      t.is(net.core('p0').term, 1)
    }
  })
}

test('fresh peers that see each other only through a third never found two clusters; the far one joins once it can reach the primary', t => {
  for (const seed of SEEDS) {
    const net = new SimNet({ seed })
    const ids = peerIds(3)
    for (const id of ids) net.add(id)
    net.cut('p0', 'p2') // p0 - p1 - p2, not transitive
    net.startAll()
    net.runFor(10_000)
    t.is(net.core('p0').role, 'primary', `seed ${seed}`)
    t.is(net.core('p1').role, 'secondary', `seed ${seed}`)
    t.is(net.core('p2').role, 'joining', `seed ${seed}: p2 must wait, not found`)
    // p2 learnt of the cluster through p1 and is bound to it, though it cannot reach p0 yet.
    t.is(net.core('p2').cluster, net.core('p0').cluster)
    t.deepEqual(net.history.roles.filter(r => r.id === 'p2' && r.role === 'primary'), [])
    net.heal()
    net.runFor(3000)
    t.is(describeRun(net, `seed ${seed}`, ids), undefined)
  }
})

// ---------------------------------------------------------------------------------------------
// Joining and leaving

test('a fresh peer joining an existing cluster becomes a member', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    net.add('p9')
    net.start('p9')
    const took = net.runUntil(() => convergenceProblem(net, [...ids, 'p9']) === undefined, 5000)
    t.not(took, undefined, `seed ${seed}: ${String(convergenceProblem(net, [...ids, 'p9']))}`)
    // It joined as soon as it heard of the primary: no discovery window needed.
    t.true((took ?? Infinity) < 1000, `seed ${seed}: joined after ${String(took)} ms`)
    t.is(net.core('p9').cluster, net.core('p0').cluster)
    t.deepEqual(safetyViolations(net), [])
  }
})

test('a joiner that crashes before it hears it was accepted still votes after a restart: the two-member cluster elects again', t => {
  for (const seed of SEEDS) {
    const { net } = formCluster({ seed, n: 1 })
    net.add('j0', { seeds: ['p0'] })
    net.start('j0')
    // Stop j0 the moment the primary added it, while JoinAccepted is still in flight.
    t.not(net.runUntil(() => net.core('p0').membership.members.includes('j0'), 5000, 1), undefined)
    net.crash('j0')
    t.deepEqual(net.node('j0').persisted?.members, [], `seed ${seed}: j0 must not have heard of its acceptance`)
    t.is(net.node('j0').persisted?.clusterId, net.core('p0').cluster, 'but it persisted the cluster it asked to join')
    net.crash('p0')
    net.restart('p0')
    net.restart('j0')
    net.runFor(10_000)
    t.is(describeRun(net, `seed ${seed}`, ['p0', 'j0']), undefined)
  }
})

test('leave() of a secondary removes it at once (well under one election timeout) and reports left', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    const primary = primaryOf(net)
    const leaver = ids.find(id => id !== primary) as string
    net.leave(leaver)
    const took = net.runUntil(() => net.core(leaver).hasLeft && !net.core(primary).membership.members.includes(leaver), 2000, 1)
    t.not(took, undefined, `seed ${seed}`)
    t.true((took ?? Infinity) <= 50, `seed ${seed}: removal took ${String(took)} ms`)
    t.deepEqual(eventsOf(net, leaver, 'left').length, 1)
    net.crash(leaver)
    net.runFor(3000)
    t.is(describeRun(net, `seed ${seed}`, ids.filter(id => id !== leaver)), undefined)
  }
})

test('leave() of the primary hands over: a secondary is primary of the next term far below the election timeout', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3, logs: [{ term: 0, index: 0 }, { term: 0, index: 0 }, { term: 0, index: 0 }] })
    net.runFor(500)
    const old = primaryOf(net)
    const term = net.core(old).term
    net.leave(old)
    const took = net.runUntil(() => {
      const p = net.primaries()
      return p.length === 1 && p[0].id !== old && net.core(old).hasLeft
    }, 5000, 1)
    t.not(took, undefined, `seed ${seed}`)
    t.true((took ?? Infinity) < ELECTION_TIMEOUT_MS / 4, `seed ${seed}: handover took ${String(took)} ms`)
    const next = primaryOf(net)
    t.is(net.core(next).term, term + 1, `seed ${seed}`)
    net.crash(old)
    net.runFor(3000)
    t.is(describeRun(net, `seed ${seed}`, ids.filter(id => id !== old)), undefined)
  }
})

test('leave() of the primary hands over to the most up-to-date live secondary', t => {
  const { net } = formCluster({ seed: 11, n: 4, replicate: false })
  const old = primaryOf(net)
  // Give one secondary a newer log than the others (as replication lag would).
  const others = ['p0', 'p1', 'p2', 'p3'].filter(id => id !== old)
  net.setLog(old, { term: 1, index: 50 })
  net.setLog(others[0], { term: 1, index: 40 })
  net.setLog(others[1], { term: 1, index: 50 })
  net.setLog(others[2], { term: 1, index: 45 })
  net.runFor(HEARTBEAT_MS * 2) // acks report the positions
  net.leave(old)
  net.runFor(300)
  t.is(primaryOf(net), others[1])
  t.deepEqual(safetyViolations(net), [])
})

test('leave() of the primary of a two-member cluster hands over and the survivor stays primary', t => {
  for (const seed of SEEDS) {
    const { net } = formCluster({ seed, n: 2 })
    const old = primaryOf(net)
    const other = old === 'p0' ? 'p1' : 'p0'
    net.leave(old)
    net.runFor(500)
    t.true(net.core(old).hasLeft, `seed ${seed}`)
    net.crash(old)
    net.runFor(5000)
    t.is(describeRun(net, `seed ${seed}`, [other]), undefined)
  }
})

// ---------------------------------------------------------------------------------------------
// Failover

test('after the primary crashes, exactly one new primary is elected among the rest (within 3 election timeouts)', t => {
  for (const n of [3, 5]) {
    for (const seed of SEEDS) {
      const { net, ids } = formCluster({ seed, n })
      net.runFor(1000)
      const old = primaryOf(net)
      net.crash(old)
      const took = net.runUntil(() => net.primaries().length === 1, 10_000)
      t.not(took, undefined, `n=${n} seed ${seed}`)
      t.true((took ?? Infinity) <= 3 * ELECTION_TIMEOUT_MS, `n=${n} seed ${seed}: failover took ${String(took)} ms`)
      net.runFor(500)
      const rest = ids.filter(id => id !== old)
      t.is(describeRun(net, `n=${n} seed ${seed}`), undefined)
      t.is(termsOf(net, rest).size, 1)
    }
  }
})

for (const downMs of [1000, EVICT_AFTER_MS + 3000]) {
  test(`a restarted ex-primary rejoins as a secondary (down ${downMs} ms${downMs > EVICT_AFTER_MS ? ', after being evicted' : ''})`, t => {
    for (const seed of SEEDS) {
      const { net, ids } = formCluster({ seed, n: 3 })
      const old = primaryOf(net)
      net.crash(old)
      net.runFor(downMs)
      net.restart(old)
      const took = net.runUntil(() => convergenceProblem(net, ids) === undefined, 10_000)
      t.not(took, undefined, `seed ${seed}: ${String(convergenceProblem(net, ids))}`)
      t.is(net.core(old).role, 'secondary', `seed ${seed}`)
      t.not(primaryOf(net), old)
      t.deepEqual(safetyViolations(net), [])
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Partitions

test('partition: the minority side never elects, the majority side does, the isolated primary steps down within stepDownAfterMs, and after healing one primary remains without disruption', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 5 })
    net.runFor(500)
    const old = primaryOf(net)
    const oldTerm = net.core(old).term
    const minority = [old, ids.find(id => id !== old) as string]
    const majority = ids.filter(id => !minority.includes(id))
    const cutAt = net.now
    net.partition(minority, majority)
    // The old primary steps down within stepDownAfterMs (plus a tick).
    const stepped = net.runUntil(() => net.core(old).role !== 'primary', STEP_DOWN_AFTER_MS + 200, 5)
    t.not(stepped, undefined, `seed ${seed}`)
    t.true((stepped ?? Infinity) <= STEP_DOWN_AFTER_MS + 50, `seed ${seed}: stepped down after ${String(stepped)} ms`)
    net.runFor(20_000)
    // The minority never had a primary after the cut; the majority has exactly one.
    const minorityPrimaries = net.history.roles.filter(r => r.at > cutAt && r.role === 'primary' && minority.includes(r.id))
    t.deepEqual(minorityPrimaries, [], `seed ${seed}`)
    for (const id of minority) t.is(net.core(id).term, oldTerm, `seed ${seed}: minority term must not grow`)
    const inMajority = net.primaries().filter(p => majority.includes(p.id))
    t.is(inMajority.length, 1, `seed ${seed}`)
    const winner = inMajority[0].id
    const winnerTerm = net.core(winner).term
    // Heal: the majority primary keeps its term (pre-vote keeps the minority from disrupting).
    net.heal()
    net.runFor(15_000)
    t.is(describeRun(net, `seed ${seed}`, ids), undefined)
    t.is(primaryOf(net), winner, `seed ${seed}`)
    t.is(net.core(winner).term, winnerTerm, `seed ${seed}: term changed after healing`)
    t.is(termsOf(net, ids).size, 1)
  }
})

test('partition: secondaries cut off in a minority do not elect, and do not disrupt the primary after healing', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 5 })
    const p = primaryOf(net)
    const term = net.core(p).term
    const minority = ids.filter(id => id !== p).slice(0, 2)
    net.partition(minority, ids.filter(id => !minority.includes(id)))
    net.runFor(3000) // long enough to time out, short of eviction
    t.is(primaryOf(net), p)
    for (const id of minority) t.not(net.core(id).role, 'primary')
    net.heal()
    net.runFor(3000)
    t.is(describeRun(net, `seed ${seed}`, ids), undefined)
    t.is(primaryOf(net), p)
    t.is(net.core(p).term, term, `seed ${seed}: primary's term was bumped by the healed minority`)
  }
})

test('a three-way split with no majority anywhere elects nobody; healing restores one primary', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 5 })
    const cutAt = net.now
    net.partition(['p0', 'p1'], ['p2', 'p3'], ['p4'])
    net.runFor(STEP_DOWN_AFTER_MS + 200)
    t.deepEqual(net.primaries().map(n => n.id), [], `seed ${seed}`)
    net.runFor(10_000)
    t.deepEqual(net.history.roles.filter(r => r.at > cutAt && r.role === 'primary'), [], `seed ${seed}`)
    net.heal()
    net.runFor(10_000)
    t.is(describeRun(net, `seed ${seed}`, ids), undefined)
  }
})

// ---------------------------------------------------------------------------------------------
// Eviction and step-down

test('a silent secondary is evicted after evictAfterMs when a majority remains', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    const p = primaryOf(net)
    const silent = ids.find(id => id !== p) as string
    net.crash(silent)
    const crashedAt = net.now
    const took = net.runUntil(() => !net.core(p).membership.members.includes(silent), EVICT_AFTER_MS + 1000, 5)
    t.not(took, undefined, `seed ${seed}`)
    t.true((took ?? 0) >= EVICT_AFTER_MS - HEARTBEAT_MS, `seed ${seed}: evicted after ${String(took)} ms`)
    t.true(net.now - crashedAt <= EVICT_AFTER_MS + 500)
    net.runFor(1000)
    t.is(describeRun(net, `seed ${seed}`, ids.filter(id => id !== silent)), undefined)
  }
})

test('a primary without a majority cannot evict: it steps down and the membership is unchanged', t => {
  for (const seed of SEEDS) {
    const { net, ids } = formCluster({ seed, n: 3 })
    const p = primaryOf(net)
    for (const id of ids) if (id !== p) net.crash(id)
    net.runFor(EVICT_AFTER_MS * 3)
    t.not(net.core(p).role, 'primary', `seed ${seed}`)
    t.deepEqual([...net.core(p).membership.members].sort(), ids, `seed ${seed}`)
    t.deepEqual([...(net.node(p).persisted?.members ?? [])].sort(), ids)
    t.deepEqual(safetyViolations(net), [])
  }
})

test('two-member cluster: the survivor of a crash cannot elect itself (documented limit)', t => {
  const { net } = formCluster({ seed: 3, n: 2 })
  const p = primaryOf(net)
  const other = p === 'p0' ? 'p1' : 'p0'
  net.crash(p)
  net.runFor(20_000)
  t.is(net.core(other).role, 'secondary')
  net.restart(p)
  net.runFor(5000)
  t.is(describeRun(net, 'restart', ['p0', 'p1']), undefined)
})

// ---------------------------------------------------------------------------------------------
// Vote restriction

const LOG_TABLE: Array<{ name: string, logs: LogPosition[] }> = [
  { name: 'one secondary ahead by index', logs: [{ term: 1, index: 9 }, { term: 1, index: 7 }, { term: 1, index: 9 }, { term: 1, index: 8 }, { term: 1, index: 7 }] },
  { name: 'one secondary ahead by term', logs: [{ term: 1, index: 9 }, { term: 1, index: 20 }, { term: 1, index: 20 }, { term: 1, index: 3 }, { term: 1, index: 1 }] },
  { name: 'all equal', logs: [{ term: 1, index: 5 }, { term: 1, index: 5 }, { term: 1, index: 5 }, { term: 1, index: 5 }, { term: 1, index: 5 }] },
  { name: 'spread', logs: [{ term: 1, index: 30 }, { term: 1, index: 12 }, { term: 1, index: 30 }, { term: 1, index: 29 }, { term: 1, index: 11 }] }
]

for (const row of LOG_TABLE) {
  test(`a peer never votes for a less up-to-date candidate (${row.name}): the winner's log is >= that of every voter that granted`, t => {
    for (const seed of SEEDS) {
      const { net, ids } = formCluster({ seed, n: 5 })
      const old = primaryOf(net)
      // Set positions after founding, with the primary's own term, then crash the primary.
      ids.forEach((id, i) => net.setLog(id, { term: net.core(old).term, index: row.logs[i].index }))
      net.crash(old)
      net.runFor(10_000)
      t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
      const winner = primaryOf(net)
      const survivors = ids.filter(id => id !== old)
      const best = Math.max(...survivors.map(id => row.logs[ids.indexOf(id)].index))
      // A majority of 5 is 3: the winner must be at least as up to date as 2 other survivors;
      // here that means it holds the highest index among the survivors or ties with it.
      const winnerIndex = row.logs[ids.indexOf(winner)].index
      const beaten = survivors.filter(id => row.logs[ids.indexOf(id)].index <= winnerIndex).length
      t.true(beaten >= 3, `seed ${seed}: winner ${winner} (index ${winnerIndex}) is not >= a majority; best ${best}`)
      const grants = net.history.grants.filter(g => g.candidate === winner && g.term === net.core(winner).term)
      for (const g of grants) t.true(g.voterLog.index <= winnerIndex, `seed ${seed}: ${g.voter} granted with a newer log`)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Cluster identity and seeds

test('a peer with cluster id X never joins cluster Y: the conflict is visible, both keep their own state', t => {
  for (const seed of SEEDS) {
    const net = new SimNet({ seed })
    for (const id of ['a0', 'a1', 'b0']) net.add(id)
    // Two groups found separately (they cannot see each other during discovery).
    net.partition(['a0', 'a1'], ['b0'])
    net.startAll()
    net.runFor(5000)
    const x = net.core('a0').cluster
    const y = net.core('b0').cluster
    t.truthy(x)
    t.truthy(y)
    t.not(x, y)
    net.heal()
    net.runFor(10_000)
    t.is(net.core('a0').cluster, x)
    t.is(net.core('a1').cluster, x)
    t.is(net.core('b0').cluster, y)
    t.deepEqual(net.core('b0').membership.members, ['b0'])
    t.deepEqual([...net.core('a0').membership.members].sort(), ['a0', 'a1'])
    t.is(net.core('b0').status(net.now).conflict?.clusterId, x, `seed ${seed}`)
    t.is(net.core('a0').status(net.now).conflict?.clusterId, y, `seed ${seed}`)
    t.is(eventsOf(net, 'b0', 'conflict').length, 1)
    t.deepEqual(safetyViolations(net), [])
  }
})

test('a restarted member whose cluster has a conflicting twin still rejoins only its own cluster', t => {
  const net = new SimNet({ seed: 5 })
  for (const id of ['a0', 'a1', 'a2', 'b0']) net.add(id)
  net.partition(['a0', 'a1', 'a2'], ['b0'])
  net.startAll()
  net.runFor(5000)
  const x = net.core('a1').cluster
  net.crash('a1')
  net.heal()
  net.runFor(EVICT_AFTER_MS + 2000) // a1 gets evicted
  net.restart('a1')
  net.runFor(10_000)
  t.is(net.core('a1').cluster, x)
  t.is(net.core('a1').role, 'secondary')
  t.true(net.core('a0').membership.members.includes('a1'))
  t.false(net.core('b0').membership.members.includes('a1'))
})

test('with seeds required and none reachable, a fresh peer never founds', t => {
  const net = new SimNet({ seed: 1, options: { requireSeed: true } })
  net.add('p0')
  net.start('p0')
  net.runFor(60_000)
  t.is(net.core('p0').role, 'joining')
  t.is(net.core('p0').cluster, undefined)
  t.is(net.node('p0').persisted, undefined)
})

test('with seeds required, fresh peers that reach each other found one cluster', t => {
  const net = new SimNet({ seed: 2, options: { requireSeed: true } })
  const ids = peerIds(3)
  for (const id of ids) net.add(id, { seeds: ids })
  net.start('p2')
  net.runFor(10_000) // alone: waits
  t.is(net.core('p2').role, 'joining')
  net.start('p0')
  net.start('p1')
  net.runFor(5000)
  t.is(describeRun(net, 'seeds', ids), undefined)
})

test('a fresh peer that sees a peer with cluster state waits for that cluster instead of founding', t => {
  // p1 has state of a cluster whose other members are gone (no majority: no primary).
  const net = new SimNet({ seed: 4 })
  net.add('p0')
  net.add('p1', { state: { clusterId: 'c1', term: 3, members: ['p1', 'p8', 'p9'], configVersion: 2, configTerm: 3 } })
  net.startAll()
  net.runFor(20_000)
  t.is(net.core('p0').role, 'joining')
  t.is(net.core('p0').cluster, undefined)
  t.deepEqual(net.history.roles.filter(r => r.role === 'primary'), [])
})
