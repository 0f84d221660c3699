package scheduling

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// option is one priced, fitting instance type of a NodeClaim.
type option struct {
	pos int
	off offering
}

// finalize turns the solver's nodes into a Plan: every NodeClaim is shrunk to the types
// its pods fit, price-ordered, within what the pool's limits leave.
func (s *solver) finalize() *Plan {
	plan := &Plan{}
	for _, n := range s.nodes[:s.existing] {
		if len(n.pods) > 0 {
			plan.ExistingNodes = append(plan.ExistingNodes, ExistingPlacement{Name: n.name, Pods: n.pods})
		}
	}
	claims := s.nodes[s.existing:]
	opts := make([][]option, len(claims))
	used := map[*pool]vec{}
	for i, n := range claims {
		opts[i] = s.options(n)
		u := used[n.pool]
		u.add(&s.u.types[n.pool.types[opts[i][0].pos]].capacity)
		used[n.pool] = u
	}
	for i, n := range claims {
		budget := n.pool.budget
		u := used[n.pool]
		cheapest := &s.u.types[n.pool.types[opts[i][0].pos]].capacity
		kept := opts[i][:1]
		for _, o := range opts[i][1:] {
			if s.withinBudget(n.pool, &budget, &u, cheapest, &s.u.types[n.pool.types[o.pos]].capacity) {
				kept = append(kept, o)
			}
		}
		nc := s.newNodeClaim(n, kept)
		plan.Price += nc.Cheapest.Price
		plan.NewNodeClaims = append(plan.NewNodeClaims, nc)
	}
	for _, c := range s.classes {
		if c.next < len(c.pods) {
			reason := s.reason(c)
			for _, p := range c.pods[c.next:] {
				plan.Unschedulable = append(plan.Unschedulable, Unschedulable{Pod: p, Reason: reason})
			}
		}
	}
	return plan
}

// estimate counts the pods left unplaced and prices every NodeClaim at its cheapest fitting
// type, without building the plan.
func (s *solver) estimate() (int, float64) {
	unsched := 0
	for _, c := range s.classes {
		unsched += len(c.pods) - c.next
	}
	price := 0.0
	for _, n := range s.nodes[s.existing:] {
		need := n.used
		need.add(&n.pool.dsOverhead)
		best := -1.0
		for j := range n.pool.types {
			if !bitTest(n.bits, j) {
				continue
			}
			t := &s.u.types[n.pool.types[j]]
			if !t.alloc.fits(&need) {
				continue
			}
			if o, ok := t.cheapest(n.zm, n.cm); ok && (best < 0 || o.price < best) {
				best = o.price
			}
		}
		price += best
	}
	return unsched, price
}

// withinBudget reports whether swapping the cheapest type's capacity for another keeps the
// pool within its limits.
func (s *solver) withinBudget(p *pool, budget, used, cheapest, other *vec) bool {
	for d := range budget {
		if p.limited[d] && used[d]-cheapest[d]+other[d] > budget[d] {
			return false
		}
	}
	return true
}

// options lists the NodeClaim's compatible types that fit its pods and DaemonSets, cheapest
// available offering first. The target type always fits, so the list is never empty.
func (s *solver) options(n *node) []option {
	need := n.used
	need.add(&n.pool.dsOverhead)
	out := make([]option, 0, len(n.pool.types))
	for j := range n.pool.types {
		if !bitTest(n.bits, j) {
			continue
		}
		t := &s.u.types[n.pool.types[j]]
		if !t.alloc.fits(&need) {
			continue
		}
		if o, ok := t.cheapest(n.zm, n.cm); ok {
			out = append(out, option{pos: j, off: o})
		}
	}
	byPrice := func(a, b option) int {
		// Pool positions are in (price, name) order already.
		return cmp.Or(cmpFloat(a.off.price, b.off.price), cmp.Compare(a.pos, b.pos))
	}
	if !slices.IsSortedFunc(out, byPrice) {
		slices.SortStableFunc(out, byPrice)
	}
	return out
}

func (s *solver) newNodeClaim(n *node, opts []option) NewNodeClaim {
	p := n.pool
	reqs := n.reqs
	reqs = s.maskRequirement(reqs, labelZone, s.u.zones, n.zm)
	reqs = s.maskRequirement(reqs, labelCapacityType, s.u.cts, uint64(n.cm))
	types := make([]*cloudprovider.InstanceType, len(opts))
	names := make([]string, len(opts))
	for i, o := range opts {
		types[i] = s.u.types[p.types[o.pos]].src
		names[i] = types[i].Name
	}
	out := reqs.toRequirements()
	out = slices.DeleteFunc(out, func(r Requirement) bool { return r.Key == labelInstanceType })
	it := Requirement{Key: labelInstanceType, Operator: "In", Values: names}
	if r, ok := reqs.get(labelInstanceType); ok && r.minValues > 0 {
		mv := r.minValues
		it.MinValues = &mv
	}
	out = append(out, it)
	need := n.used
	need.add(&p.dsOverhead)
	o := opts[0].off
	return NewNodeClaim{
		NodePool: p.spec.Name, Requirements: out, Labels: p.spec.Labels, Taints: p.spec.Taints,
		InstanceTypes: types, Requests: s.u.res.toList(need), Pods: n.pods,
		Cheapest: Option{InstanceType: names[0], Zone: s.u.zones[o.zone], CapacityType: s.u.cts[o.ct], Price: o.price},
	}
}

// maskRequirement adds key In [names allowed by mask] when the mask excludes some value.
func (s *solver) maskRequirement(reqs reqSet, key string, names []string, mask uint64) reqSet {
	var vals []string
	for i, n := range names {
		if mask&(1<<i) != 0 {
			vals = append(vals, n)
		}
	}
	if len(vals) == len(names) {
		return reqs
	}
	kr, _ := newKeyReq(key, "In", vals)
	return reqs.with(kr)
}

// reason explains, per NodePool, why a class's pods could not be placed.
func (s *solver) reason(c *class) string {
	if c.err != nil {
		return c.err.Error()
	}
	if len(s.pools) == 0 {
		return "no NodePool can launch capacity and no existing node fits"
	}
	var parts []string
	v := c.variants[len(c.variants)-1]
	for _, p := range s.pools {
		parts = append(parts, s.poolReason(c, v, p))
	}
	return strings.Join(parts, "; ")
}

func (s *solver) poolReason(c *class, v *variant, p *pool) string {
	if p.err != nil {
		return p.err.Error()
	}
	for i := range p.spec.Taints {
		if t := p.spec.Taints[i]; !tolerates(c.tols, p.spec.Taints[i:i+1]) {
			return fmt.Sprintf("incompatible with NodePool %q: does not tolerate taint %s=%s:%s", p.spec.Name, t.Key, t.Value, t.Effect)
		}
	}
	cs := s.compatFor(p, v.alts[0])
	if cs.reason != "" {
		return cs.reason
	}
	need := c.req
	need.add(&p.dsOverhead)
	var biggest vec
	fits, inLimits := false, false
	for j := range p.types {
		if !bitTest(cs.bits, j) {
			continue
		}
		t := &s.u.types[p.types[j]]
		for d := range biggest {
			biggest[d] = max(biggest[d], t.alloc[d])
		}
		if t.alloc.fits(&need) {
			fits = true
			inLimits = inLimits || p.withinLimits(&t.capacity)
		}
	}
	switch {
	case !fits:
		for d := range need {
			if need[d] > biggest[d] {
				var one vec
				one[d] = need[d]
				q := s.u.res.toList(one)[s.u.res.name(d)]
				return fmt.Sprintf("incompatible with NodePool %q: no instance type has %s %s after overhead",
					p.spec.Name, q.String(), s.u.res.name(d))
			}
		}
		return fmt.Sprintf("incompatible with NodePool %q: no instance type fits the pod's requests after overhead", p.spec.Name)
	case !inLimits:
		return fmt.Sprintf("exceeds NodePool %q limits", p.spec.Name)
	}
	return fmt.Sprintf("NodePool %q: topology spread, pod affinity or anti-affinity, or host ports cannot be satisfied", p.spec.Name)
}
