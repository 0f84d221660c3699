package disruption

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

// ConsolidationRecheck is how long a cluster found to hold nothing to consolidate is
// trusted while nothing changes: what no fingerprint here covers (the disruption cost's
// remaining lifetime, which orders candidates and weighs Balanced moves) is looked at
// again at least that often. Upstream's consolidation state times out after five minutes;
// here everything else a decision reads is in the placement generation and the
// fingerprint, and at 2,000 nodes a sweep costs ~9 s of CPU: every five minutes that alone
// was 3 % of a core in a cluster where nothing changed.
const ConsolidationRecheck = 15 * time.Minute

// HealthRecheck is how long after a sweep that found nothing a node it saw unhealthy
// coming back makes consolidation look again (see consolidationSkipped): soon enough for a
// node that is a destination again, rare enough that nodes flapping by the hundred do not
// sweep every pass.
const HealthRecheck = time.Minute

// quietState is what the consolidation methods last found nothing in: the cluster state's
// placement generation, the fingerprint of what else they read, each pool's usable
// Underutilized budget and the nodes that were unhealthy.
type quietState struct {
	generation  uint64
	fingerprint passPrint
	at          time.Time
	// budgets are, per pool, how many of its candidates the Underutilized budget let
	// consolidation take when multi-node consolidation last searched: its allowed
	// disruptions, at most the pool's candidates.
	budgets map[string]int
	// swept are the budgets when single-node consolidation swept every candidate (it
	// tries a pool's candidates one at a time, whenever the budget allows one).
	swept map[string]int
	// unhealthy are the nodes not Ready or tainted by the node lifecycle controller.
	unhealthy map[string]bool
	// roomy caches, per node unhealthy at the sweep, whether it could take a pod
	// (see destination): the state, hence its pods and allocatable, is the sweep's.
	roomy map[string]bool
	// least is the smallest CPU, memory and pod-slot requests among the pods
	// consolidation moves and the pending pods, read once (see destination).
	least *corev1.ResourceList
}

// sweep gathers the candidates single-node consolidation tried, across passes (its time
// budget covers a few hundred candidates a pass), while the state stays the same, and why
// each did not consolidate. It is keyed on the placement generation and the part of the
// fingerprint that is not the candidates: whether one node's pods fit elsewhere or on a
// cheaper node depends on the nodes, pods, PDBs and offerings, not on which other nodes
// are candidates, so candidates joining (nodes whose consolidateAfter ends one after
// another after a scale-up) are tried on their own instead of starting the whole sweep
// again (at 2,000 nodes a sweep is ~8 s of CPU, restarted every pass while they joined).
type sweep struct {
	generation uint64
	world      uint64
	// started: a sweep is trusted for ConsolidationRecheck, as the quiet state it leads to.
	started time.Time
	tried   map[string]string
	// multi is the last search of multi-node consolidation in the sweep's state that found
	// nothing; nil when none.
	multi *multiSearch
}

// multiSearch is what multi-node consolidation searched: the candidates, the budgets that
// cut them, and when. Its search is a function of them and the sweep's state (up to its
// time budget), so while they stay the same, searching again finds nothing again: at
// 2,000 nodes it took its whole second every pass of a sweep, a second for nothing.
type multiSearch struct {
	candidates uint64
	budgets    map[string]int
	at         time.Time
}

// searched reports whether multi-node consolidation searched the same candidates within
// the same budgets less than ConsolidationRecheck ago in the sweep's state.
func (s *sweep) searched(p *pass, fingerprint passPrint) bool {
	m := s.multi
	return m != nil && m.candidates == fingerprint.candidates && p.now.Sub(m.at) < ConsolidationRecheck && maps.Equal(m.budgets, usableBudgets(p))
}

// consolidationSkipped reports which of the methods that consolidate may be skipped this
// pass: an earlier sweep of every candidate found nothing less than ConsolidationRecheck
// ago, in a state that offered at least what this one does. A quiet cluster of thousands of
// nodes then costs a pass no simulation at all instead of the methods' whole time budgets
// every ten seconds.
//
// "At least what this one offers": the same placement generation (the same pods, where
// they run, NodeClaims, NodePools, node specs apart from health; state.PlacementGeneration)
// and the same fingerprint (candidates, PodDisruptionBudgets, offerings). Node health is
// left out of both, as nodes whose leases lapse flap by the hundred, and judged here
// against the sweep:
//   - a node turning NotReady or tainted not-ready/unreachable only takes away: it is no
//     longer a destination, and it counts against its pool's budgets, which only shrinks
//     the sets the methods search. Skipped.
//   - a pool's Underutilized budget now letting consolidation take more of its candidates
//     than at the last search (a NotReady node of it Ready again, a budget schedule
//     opening, while the budget was what bound the search) is a set never searched:
//     multi-node consolidation searches again. Single-node consolidation tries one
//     candidate at a time, so only a pool whose budget allowed none at its sweep and now
//     allows one brings it back. (Both searching again was a whole sweep of thousands of
//     nodes each time a flapping node came back: most of a quiet 2,000-node cluster's CPU.)
//   - a node unhealthy at the sweep healthy again is a destination the sweep did not have,
//     if it has room for one of the pods consolidation moves or the pending pods (see
//     destination): nodes whose leases lapse are mostly full ones. Not skipped once
//     HealthRecheck has passed since the sweep (at once would be every pass while nodes
//     keep flapping).
func (c *Controller) consolidationSkipped(p *pass, generation uint64, fingerprint passPrint) (skipMulti, skipSingle bool) {
	q := c.quiet
	if q == nil || q.generation != generation || q.fingerprint != fingerprint || p.now.Sub(q.at) >= ConsolidationRecheck {
		return false, false
	}
	skipMulti, skipSingle = true, true
	for pool, n := range usableBudgets(p) {
		if was, ok := q.budgets[pool]; !ok || n > was {
			skipMulti = false
		}
		if was, ok := q.swept[pool]; !ok || (was < 1 && n >= 1) {
			skipSingle = false
		}
	}
	if p.now.Sub(q.at) >= HealthRecheck {
		for name := range q.unhealthy {
			if !p.unhealthy[name] && q.destination(p, name) {
				return false, false
			}
		}
	}
	return skipMulti, skipSingle
}

// destination reports whether the node, unhealthy at the sweep, could take one of the pods
// consolidation moves or one of the pending pods: whether what its pods leave of its
// allocatable CPU, memory and pod slots holds the smallest request for each among those
// pods. Only a node that can is a destination the sweep lacked. The answer is the sweep's
// for as long as the quiet state lasts.
func (q *quietState) destination(p *pass, name string) bool {
	if roomy, ok := q.roomy[name]; ok {
		return roomy
	}
	if q.roomy == nil {
		q.roomy = map[string]bool{}
	}
	if q.least == nil {
		least := leastRequests(p)
		q.least = &least
	}
	roomy := true // a node the state no longer holds: look again, to be safe
	if n := p.node(name); n != nil {
		free := n.Status.Allocatable.DeepCopy()
		if free == nil {
			free = corev1.ResourceList{}
		}
		for _, pod := range p.lookAtPods(name) {
			if pods.IsTerminal(pod) {
				continue
			}
			for res, qty := range pods.Requests(pod) {
				have := free[res]
				have.Sub(qty)
				free[res] = have
			}
		}
		for res, want := range *q.least {
			if have, ok := free[res]; ok && have.Cmp(want) < 0 {
				roomy = false
			}
		}
	}
	q.roomy[name] = roomy
	return roomy
}

// leastRequests is, for CPU, memory and pod slots, the smallest request among the pods of
// the consolidation candidates and the pending pods (no entry when there are none).
func leastRequests(p *pass) corev1.ResourceList {
	least := corev1.ResourceList{}
	take := func(pod *corev1.Pod) {
		req := pods.Requests(pod)
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
			qty := req[res] // zero when not asked for
			if cur, ok := least[res]; !ok || qty.Cmp(cur) < 0 {
				least[res] = qty
			}
		}
	}
	for _, c := range movable(p) {
		for _, pod := range c.Pods() {
			take(pod)
		}
	}
	for _, pod := range p.pending {
		take(pod)
	}
	for _, pod := range p.moving {
		take(pod)
	}
	return least
}

// usableBudgets are, per pool with consolidation candidates, how many of them the pool's
// Underutilized budget lets consolidation take (allowed disruptions, at most the number of
// candidates: a budget above it does not bind).
func usableBudgets(p *pass) map[string]int {
	out := map[string]int{}
	for _, cand := range movable(p) {
		out[cand.NodePool.Name]++
	}
	for pool, n := range out {
		if allowed := p.ledger.Allowed(pool, v1.DisruptionReasonUnderutilized); allowed != budget.Unlimited {
			out[pool] = min(n, allowed)
		}
	}
	return out
}

// unhealthy reports whether the node is not Ready or carries a node lifecycle taint.
func unhealthy(node *corev1.Node) bool {
	if !nodeReady(node) {
		return true
	}
	for i := range node.Spec.Taints {
		if predicates.IsHealthTaint(&node.Spec.Taints[i]) {
			return true
		}
	}
	return false
}

// recordSweep adds the candidates single-node consolidation tried in the pass to the sweep
// of this state (a new sweep when the state changed apart from the candidates), and once
// every consolidation candidate was tried in it with no command found, remembers the state
// as quiet. A pass in which only multi-node consolidation ran (single-node skipped: the
// state is quiet) only records the budgets it searched with. A multi-node search that
// found nothing is remembered in the sweep (see multiSearch).
func (c *Controller) recordSweep(p *pass, generation uint64, fingerprint passPrint, found bool, ran methodsRan) {
	if found {
		c.sweep, c.quiet = nil, nil
		return
	}
	budgets := usableBudgets(p)
	s := c.sweepFor(p, generation, fingerprint)
	if s == nil && ran.single {
		s = &sweep{generation: generation, world: fingerprint.world, started: p.now, tried: map[string]string{}}
		c.sweep = s
	}
	if s != nil && ran.multi {
		s.multi = &multiSearch{candidates: fingerprint.candidates, budgets: budgets, at: p.now}
	}
	if !ran.single {
		if q := c.quiet; q != nil && q.generation == generation && q.fingerprint == fingerprint {
			q.budgets = budgets
		}
		return
	}
	for name, why := range p.tried {
		s.tried[name] = why
	}
	for _, cand := range consolidationCandidates(p) {
		if _, ok := s.tried[cand.Name()]; !ok {
			return
		}
	}
	c.quiet = &quietState{generation: generation, fingerprint: fingerprint, at: p.now, budgets: budgets, swept: budgets, unhealthy: p.unhealthy}
}

// methodsRan says which consolidation methods a pass ran.
type methodsRan struct{ multi, single bool }

// sweepFor is the sweep single-node consolidation goes on with in a state, nil when none
// (or when it started ConsolidationRecheck ago or more: what no fingerprint covers is
// simulated again at least that often).
func (c *Controller) sweepFor(p *pass, generation uint64, fingerprint passPrint) *sweep {
	if s := c.sweep; s != nil && s.generation == generation && s.world == fingerprint.world && p.now.Sub(s.started) < ConsolidationRecheck {
		return s
	}
	return nil
}

// passPrint fingerprints what the consolidation methods read besides the cluster state:
// the candidates they may move, and the rest (world).
type passPrint struct{ candidates, world uint64 }

// fingerprint hashes what the consolidation methods read besides the cluster state: the
// candidates they may move, in order (eligibility, consolidateAfter and do-not-disrupt
// durations change with time alone; the budgets that cut them are usableBudgets), and
// apart from them the PodDisruptionBudgets and every offering's price and availability.
func (p *pass) fingerprint() passPrint {
	h := fnv.New64a()
	var buf [8]byte
	word := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		_, _ = h.Write(buf[:])
	}
	str := func(s string) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	for _, cand := range movable(p) {
		str(cand.Name())
	}
	var fp passPrint
	fp.candidates = h.Sum64()
	h.Reset()
	word(uint64(len(p.pdbList)))
	for _, pdb := range p.pdbList {
		str(pdb.Namespace)
		str(pdb.Name)
		str(pdb.ResourceVersion)
		word(uint64(pdb.Status.DisruptionsAllowed))
	}
	for _, it := range p.all {
		str(it.Name)
		for _, of := range it.Offerings {
			str(of.Zone)
			str(of.CapacityType)
			word(math.Float64bits(of.PricePerHour))
			if of.Available {
				word(1)
			} else {
				word(0)
			}
		}
	}
	fp.world = h.Sum64()
	return fp
}
