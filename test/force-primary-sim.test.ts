/**
 * The operator override `forcePrimary` in the simulated network: when it is refused, what the
 * survivor of a two-member cluster becomes, what a returning old member sees, and that two
 * concurrent forces never produce two primaries of one cluster id and term.
 */
import test from 'ava'
import { ELECTION_TIMEOUT_MS, STEP_DOWN_AFTER_MS } from '../src/arbiter/index.js'
import type { ArbiterEvent } from '../src/arbiter/index.js'
import { safetyViolations } from './helpers/sim-check.js'
import { formCluster, primaryOf } from './helpers/sim-cluster.js'
import { SimNet } from './helpers/simnet.js'

const SEEDS = [1, 2, 3, 4, 5]

function eventsOf<T extends ArbiterEvent['type']> (net: SimNet, id: string, type: T): Array<Extract<ArbiterEvent, { type: T }>> {
  return net.node(id).events.filter((e): e is Extract<ArbiterEvent, { type: T }> => e.type === type)
}

/** A two-member cluster whose `dead` member crashed; returns the survivor's id. */
function survivorOfTwo (seed: number, dead: 'primary' | 'secondary'): { net: SimNet, survivor: string, gone: string } {
  const { net } = formCluster({ seed, n: 2 })
  const primary = primaryOf(net)
  const secondary = primary === 'p0' ? 'p1' : 'p0'
  const gone = dead === 'primary' ? primary : secondary
  const survivor = dead === 'primary' ? secondary : primary
  net.appendOnPrimary(5)
  net.runFor(500)
  net.crash(gone)
  // Past step-down (a primary survivor) and an election timeout (a secondary survivor).
  net.runFor(STEP_DOWN_AFTER_MS + 3 * ELECTION_TIMEOUT_MS)
  return { net, survivor, gone }
}

for (const dead of ['primary', 'secondary'] as const) {
  test(`two members, the ${dead} dies: the survivor cannot elect itself; forcePrimary makes it sole member and primary of a new cluster id in a higher term`, t => {
    for (const seed of SEEDS) {
      const { net, survivor, gone } = survivorOfTwo(seed, dead)
      const core = net.core(survivor)
      t.not(core.role, 'primary', `seed ${seed}: a lone survivor of two must not be primary`)
      t.is(core.primary, undefined)
      const before = { cluster: core.cluster, term: core.term, log: { ...net.node(survivor).log } }
      const r = net.forcePrimary(survivor)
      t.true(r.ok, `seed ${seed}: ${JSON.stringify(r)}`)
      t.is(core.role, 'primary')
      t.not(core.cluster, before.cluster)
      t.true(core.term > before.term)
      t.deepEqual(core.membership.members, [survivor])
      // Persisted before anything else happens: a crash right now keeps the new cluster.
      t.is(net.node(survivor).persisted?.clusterId, core.cluster)
      t.deepEqual(net.node(survivor).persisted?.members, [survivor])
      const forced = eventsOf(net, survivor, 'forced')
      t.is(forced.length, 1)
      t.deepEqual(forced[0], { type: 'forced', clusterId: core.cluster as string, previousClusterId: before.cluster as string, term: core.term, dropped: [gone] })
      // It stays primary (a majority of one) and keeps its log.
      net.runFor(10_000)
      t.is(core.role, 'primary')
      t.true(net.node(survivor).log.index >= before.log.index)
      // Restarted, it comes back as member of the new cluster and elects itself.
      net.crash(survivor)
      net.restart(survivor)
      net.runFor(3 * ELECTION_TIMEOUT_MS + 1000)
      t.is(net.core(survivor).role, 'primary', `seed ${seed}`)
      t.is(net.core(survivor).cluster, core.cluster)
      t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
    }
  })
}

test('forcePrimary is refused while a primary is live, on the primary itself, and on a peer that is not a member', t => {
  const { net, ids } = formCluster({ seed: 3, n: 3 })
  const primary = primaryOf(net)
  const secondary = ids.find(id => id !== primary) as string
  const cluster = net.core(secondary).cluster
  const term = net.core(secondary).term
  const live = net.forcePrimary(secondary)
  t.false(live.ok)
  t.regex(live.ok ? '' : live.reason, /live primary/)
  const self = net.forcePrimary(primary)
  t.false(self.ok)
  t.regex(self.ok ? '' : self.reason, /already the primary/)
  net.add('p9')
  net.start('p9')
  const fresh = net.forcePrimary('p9')
  t.false(fresh.ok)
  t.regex(fresh.ok ? '' : fresh.reason, /not a member/)
  // Nothing changed.
  t.is(net.core(secondary).cluster, cluster)
  t.is(net.core(secondary).term, term)
  t.is(primaryOf(net), primary)
  t.deepEqual(eventsOf(net, secondary, 'forced'), [])
})

test('the old member coming back after a force reports the conflict and never joins the new cluster or becomes primary', t => {
  for (const seed of SEEDS) {
    const { net, survivor, gone } = survivorOfTwo(seed, 'secondary')
    const oldCluster = net.core(survivor).cluster
    t.true(net.forcePrimary(survivor).ok)
    const newCluster = net.core(survivor).cluster
    net.runFor(1000)
    net.restart(gone)
    net.runFor(20_000)
    const back = net.core(gone)
    t.is(back.cluster, oldCluster, `seed ${seed}: keeps its own cluster id`)
    t.not(back.role, 'primary', `seed ${seed}`)
    t.is(back.status(net.now).conflict?.clusterId, newCluster)
    t.deepEqual(net.core(survivor).membership.members, [survivor])
    t.is(net.core(survivor).role, 'primary')
    t.is(net.core(survivor).status(net.now).conflict?.clusterId, oldCluster)
    t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
  }
})

test('a fresh peer joins the forced cluster like any other', t => {
  const { net, survivor } = survivorOfTwo(2, 'primary')
  t.true(net.forcePrimary(survivor).ok)
  net.add('p5')
  net.start('p5')
  net.runFor(10_000)
  t.is(net.core('p5').cluster, net.core(survivor).cluster)
  t.is(net.core('p5').role, 'secondary')
  t.deepEqual([...net.core(survivor).membership.members].sort(), [survivor, 'p5'].sort())
  t.deepEqual(safetyViolations(net), [])
})

test('both halves of a partitioned two-member cluster forced: two cluster ids, never two primaries of one cluster and term; after healing each keeps its own and reports the other', t => {
  for (const seed of SEEDS) {
    const { net } = formCluster({ seed, n: 2 })
    net.partition(['p0'], ['p1'])
    net.runFor(STEP_DOWN_AFTER_MS + 3 * ELECTION_TIMEOUT_MS)
    t.true(net.forcePrimary('p0').ok, `seed ${seed}`)
    t.true(net.forcePrimary('p1').ok, `seed ${seed}`)
    const a = net.core('p0').cluster
    const b = net.core('p1').cluster
    t.not(a, b)
    net.heal()
    net.runFor(20_000)
    t.is(net.core('p0').cluster, a)
    t.is(net.core('p1').cluster, b)
    t.is(net.core('p0').status(net.now).conflict?.clusterId, b)
    t.is(net.core('p1').status(net.now).conflict?.clusterId, a)
    t.deepEqual(safetyViolations(net), [], `seed ${seed}`)
  }
})
