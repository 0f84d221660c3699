package disruption

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

// ConsolidationRecheck is how long a cluster found to hold nothing to consolidate is
// trusted while nothing changes (upstream's consolidation state times out after the same
// five minutes): what no fingerprint here covers is looked at again at least that often.
const ConsolidationRecheck = 5 * time.Minute

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
	fingerprint uint64
	at          time.Time
	// budgets are, per pool, how many of its candidates the Underutilized budget let
	// consolidation take: its allowed disruptions, at most the pool's candidates.
	budgets map[string]int
	// unhealthy are the nodes not Ready or tainted by the node lifecycle controller.
	unhealthy map[string]bool
}

// sweep gathers the candidates single-node consolidation tried, across passes (its time
// budget covers a few hundred candidates a pass), while the state stays the same.
type sweep struct {
	generation  uint64
	fingerprint uint64
	tried       map[string]bool
}

// consolidationSkipped reports whether the methods that consolidate may be skipped this
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
//     than at the sweep (a NotReady node of it Ready again, a budget schedule opening, while
//     the budget was what bound the sweep) is a set never searched. Not skipped.
//   - a node unhealthy at the sweep healthy again is a destination the sweep did not have.
//     Not skipped once HealthRecheck has passed since the sweep (at once would be every
//     pass while nodes keep flapping).
func (c *Controller) consolidationSkipped(p *pass, generation, fingerprint uint64) bool {
	q := c.quiet
	if q == nil || q.generation != generation || q.fingerprint != fingerprint || p.now.Sub(q.at) >= ConsolidationRecheck {
		return false
	}
	for pool, n := range usableBudgets(p) {
		if was, ok := q.budgets[pool]; !ok || n > was {
			return false
		}
	}
	if p.now.Sub(q.at) >= HealthRecheck {
		for name := range q.unhealthy {
			if !p.unhealthy[name] {
				return false
			}
		}
	}
	return true
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
// of this state (a new sweep when the state changed), and once every consolidation
// candidate was tried in it with no command found, remembers the state as quiet.
func (c *Controller) recordSweep(p *pass, generation, fingerprint uint64, found bool) {
	if found {
		c.sweep, c.quiet = nil, nil
		return
	}
	if c.sweep == nil || c.sweep.generation != generation || c.sweep.fingerprint != fingerprint {
		c.sweep = &sweep{generation: generation, fingerprint: fingerprint, tried: map[string]bool{}}
	}
	for _, name := range p.tried {
		c.sweep.tried[name] = true
	}
	for _, cand := range consolidationCandidates(p) {
		if !c.sweep.tried[cand.Name()] {
			return
		}
	}
	c.quiet = &quietState{generation: generation, fingerprint: fingerprint, at: p.now, budgets: usableBudgets(p), unhealthy: p.unhealthy}
}

// isConsolidation reports whether m is one of the methods that simulate moving pods.
func isConsolidation(m Method) bool {
	t := m.ConsolidationType()
	return t == TypeMulti || t == TypeSingle
}

// fingerprint hashes what the consolidation methods read besides the cluster state: the
// candidates they may move, in order (eligibility, consolidateAfter and do-not-disrupt
// durations change with time alone; the budgets that cut them are usableBudgets), the
// PodDisruptionBudgets, and every offering's price and availability.
func (p *pass) fingerprint() uint64 {
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
	return h.Sum64()
}
