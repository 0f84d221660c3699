package scheduling

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
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
	// Pass 1: the first option of every claim (for the limits) and how many options there
	// are in all, so the plan's type and name lists share two exact-size arenas.
	first, total := s.firstOptions(claims)
	used := make([]vec, len(s.pools))
	for i, n := range claims {
		used[n.pool.idx].add(&s.u.types[n.pool.types[first[i]]].capacity)
	}
	var scratch []option
	types, names := make([]*cloudprovider.InstanceType, total), make([]string, total)
	plan.NewNodeClaims = make([]NewNodeClaim, 0, len(claims))
	off := 0
	for i, n := range claims {
		scratch = s.appendOptions(scratch[:0], n)
		kept := scratch
		if n.pool.limitedAny() {
			// The first option, then the dearer ones that stay within the pool's limits.
			u := &used[n.pool.idx]
			at := slices.IndexFunc(scratch, func(o option) bool { return o.pos == first[i] })
			chosen := &s.u.types[n.pool.types[first[i]]].capacity
			kept = scratch[at : at+1]
			for _, o := range scratch[at+1:] {
				if s.withinBudget(n.pool, &n.pool.budget, u, chosen, &s.u.types[n.pool.types[o.pos]].capacity) {
					kept = append(kept, o)
				}
			}
		}
		k := len(kept)
		nc := s.newNodeClaim(n, kept, types[off:off+k:off+k], names[off:off+k:off+k])
		off += k
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

// estimate counts the pods left unplaced and prices every NodeClaim at its first option,
// as finalize will, without building the plan.
func (s *solver) estimate() (int, float64) {
	unsched := 0
	for _, c := range s.classes {
		unsched += len(c.pods) - c.next
	}
	claims := s.nodes[s.existing:]
	first, _ := s.firstOptions(claims)
	price := 0.0
	for i, n := range claims {
		price += n.pool.pricesIn(s.u, n.zm, n.cm)[first[i]].price
	}
	return unsched, price
}

// firstOptions returns the position of every claim's first option and how many options
// they have in all. The first option is the cheapest, except in a pool with limits:
// planning reserved each claim's target capacity there, and a cheaper type of more
// capacity comes first only while the slack those reservations left covers it (pricing
// the cheapest would let the policies compare plans the limits do not allow).
func (s *solver) firstOptions(claims []*node) ([]int, int) {
	var slack []vec
	for _, n := range claims {
		if !n.pool.limitedAny() {
			continue
		}
		if slack == nil {
			slack = make([]vec, len(s.pools))
			for _, p := range s.pools {
				slack[p.idx] = p.budget
			}
		}
		slack[n.pool.idx].sub(&s.u.types[n.pool.types[n.target]].capacity)
	}
	first := make([]int, len(claims))
	total := 0
	var scratch []option
	for i, n := range claims {
		pos, count := s.cheapestOption(n)
		if n.pool.limitedAny() {
			scratch = s.appendOptions(scratch[:0], n)
			pos = s.firstWithinSlack(n, scratch, &slack[n.pool.idx])
		}
		first[i] = pos
		total += count
	}
	return first, total
}

// cheapestOption returns the position of the NodeClaim's cheapest fitting option (the first
// in appendOptions' order) and how many options it has.
func (s *solver) cheapestOption(n *node) (int, int) {
	need := n.used
	need.add(&n.pool.dsOverhead)
	offs := n.pool.pricesIn(s.u, n.zm, n.cm)
	best, count := -1, 0
	for j := range n.pool.types {
		if !bitTest(n.bits, j) || offs[j].ct < 0 || !(s.u.types[n.pool.types[j]].alloc.fitsFixed(&need) && (s.fixedOnly || s.u.types[n.pool.types[j]].alloc.fits(&need))) {
			continue
		}
		count++
		if best < 0 || offs[j].price < offs[best].price {
			best = j
		}
	}
	return best, count
}

// firstWithinSlack returns the position of the cheapest of NodeClaim n's options (price
// ordered) whose capacity exceeds its target's by no more than slack in the pool's limited
// resources, and takes the difference off slack. The target itself always qualifies.
func (s *solver) firstWithinSlack(n *node, opts []option, slack *vec) int {
	target := &s.u.types[n.pool.types[n.target]].capacity
	for _, o := range opts {
		c := &s.u.types[n.pool.types[o.pos]].capacity
		ok := true
		for _, d := range n.pool.limited {
			if c.get(d)-target.get(d) > slack.get(d) {
				ok = false
				break
			}
		}
		if ok {
			for _, d := range n.pool.limited {
				slack.set(d, slack.get(d)-c.get(d)+target.get(d))
			}
			return o.pos
		}
	}
	return opts[0].pos // not reached: the target is one of the options
}

// withinBudget reports whether swapping the first option's capacity for another keeps the
// pool within its limits.
func (s *solver) withinBudget(p *pool, budget, used, cheapest, other *vec) bool {
	for _, d := range p.limited {
		if used.get(d)-cheapest.get(d)+other.get(d) > budget.get(d) {
			return false
		}
	}
	return true
}

// appendOptions appends the NodeClaim's compatible types that fit its pods and DaemonSets,
// cheapest available offering first. The target type always fits, so it appends at least one.
func (s *solver) appendOptions(out []option, n *node) []option {
	need := n.used
	need.add(&n.pool.dsOverhead)
	offs := n.pool.pricesIn(s.u, n.zm, n.cm)
	start := len(out)
	for j := range n.pool.types {
		if !bitTest(n.bits, j) || offs[j].ct < 0 {
			continue
		}
		if t := &s.u.types[n.pool.types[j]]; t.alloc.fitsFixed(&need) && (s.fixedOnly || t.alloc.fits(&need)) {
			out = append(out, option{pos: j, off: offs[j]})
		}
	}
	byPrice := func(a, b option) int {
		// Pool positions are in (price, name) order already.
		return cmp.Or(cmpFloat(a.off.price, b.off.price), cmp.Compare(a.pos, b.pos))
	}
	if mine := out[start:]; !slices.IsSortedFunc(mine, byPrice) {
		slices.SortStableFunc(mine, byPrice)
	}
	return out
}

// newNodeClaim builds the plan entry; types and names are its slices of the plan's arenas.
func (s *solver) newNodeClaim(n *node, opts []option, types []*cloudprovider.InstanceType, names []string) NewNodeClaim {
	p := n.pool
	reqs := n.reqs
	reqs = s.maskRequirement(reqs, labelZone, s.u.zones, n.zm)
	reqs = s.maskRequirement(reqs, labelCapacityType, s.u.cts, uint64(n.cm))
	for i, o := range opts {
		types[i] = s.u.types[p.types[o.pos]].src
		names[i] = types[i].Name
	}
	out := toRequirements(reqs)
	out = slices.DeleteFunc(out, func(r Requirement) bool { return r.Key == labelInstanceType })
	it := Requirement{Key: labelInstanceType, Operator: "In", Values: names}
	if r, ok := reqs.Get(labelInstanceType); ok && r.MinValues > 0 {
		mv := r.MinValues
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
	kr, _ := labelreq.New(key, "In", vals)
	return reqs.With(kr)
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
	cs := s.altCompat(v, 0, p)
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
		biggest.maxWith(&t.alloc)
		if t.alloc.fitsFixed(&need) && (s.fixedOnly || t.alloc.fits(&need)) {
			fits = true
			inLimits = inLimits || p.withinLimits(&t.capacity)
		}
	}
	switch {
	case !fits:
		for d := range s.u.res.dims() {
			if need.get(d) > biggest.get(d) {
				var one vec
				one.set(d, need.get(d))
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
