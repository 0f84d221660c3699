package scheduling

import (
	"fmt"
	"slices"
)

// altCompat is compatFor for a variant's alternative, cached on the variant so the hot path
// does not rebuild the requirement signature.
func (s *solver) altCompat(v *variant, ai int, p *pool) *compatSet {
	if v.compat == nil {
		v.compat = make([][]*compatSet, len(v.alts))
	}
	if v.compat[ai] == nil {
		v.compat[ai] = make([]*compatSet, len(s.pools))
	}
	cs := v.compat[ai][p.idx]
	if cs == nil {
		cs = s.compatFor(p, v.alts[ai])
		v.compat[ai][p.idx] = cs
	}
	return cs
}

// compatFor compiles (once per pool and requirement set) which of the pool's types a pod
// alternative allows.
func (s *solver) compatFor(p *pool, alt reqSet) *compatSet {
	sig := alt.Signature()
	if cs, ok := p.compat[sig]; ok {
		return cs
	}
	cs := &compatSet{bits: make([]uint64, (len(p.types)+63)/64)}
	p.compat[sig] = cs
	reqs, bad := p.reqs.And(alt)
	cs.reqs = reqs
	if bad != "" {
		pr, _ := p.reqs.Get(bad)
		ar, _ := alt.Get(bad)
		cs.reason = fmt.Sprintf("incompatible with NodePool %q: requires %s, NodePool allows %s", p.spec.Name, ar, pr)
		return cs
	}
	for i := range alt {
		if k := alt[i].Key; k != labelZone && k != labelCapacityType && p.defines(k) && len(p.types) > 0 {
			if _, typeLabel := s.u.types[p.types[0]].src.Labels[k]; !typeLabel {
				cs.custom = true
			}
		}
	}
	cs.zm, cs.cm = s.u.masks(reqs)
	firstBad := ""
	for j, ti := range p.types {
		t := &s.u.types[ti]
		key, ok := t.labelsMatch(reqs, p.defines)
		if ok && t.hasOffering(cs.zm, cs.cm) {
			cs.bits[j>>6] |= 1 << (j & 63)
			continue
		}
		if firstBad == "" {
			firstBad = key
		}
	}
	if !slices.ContainsFunc(cs.bits, func(b uint64) bool { return b != 0 }) {
		switch {
		case len(p.types) == 0 && p.unmet != "":
			r, _ := p.reqs.Get(p.unmet)
			cs.reason = fmt.Sprintf("incompatible with NodePool %q: none of its instance types satisfies its requirement %s", p.spec.Name, r)
		case len(p.types) == 0:
			cs.reason = fmt.Sprintf("incompatible with NodePool %q: it has no instance type with an available offering", p.spec.Name)
		case firstBad == "":
			cs.reason = fmt.Sprintf("incompatible with NodePool %q: no instance type has an available offering in the required zones and capacity types", p.spec.Name)
		case firstBad == fieldNodeName:
			r, _ := reqs.Get(firstBad)
			cs.reason = fmt.Sprintf("incompatible with NodePool %q: the pod's node affinity requires %s, and a new NodeClaim's name is not known before it launches (only the named existing nodes may take it)", p.spec.Name, r)
		default:
			r, _ := reqs.Get(firstBad)
			cs.reason = fmt.Sprintf("incompatible with NodePool %q: no instance type satisfies %s", p.spec.Name, r)
		}
		return cs
	}
	cs.front = s.paretoFront(p, cs.bits)
	return cs
}

// paretoFront keeps the positions no other compatible type beats on every resource at a
// price as low or lower. Types are in price order, so only cheaper ones can dominate.
func (s *solver) paretoFront(p *pool, b []uint64) []int {
	var front []int
	for j := range p.types {
		if !bitTest(b, j) {
			continue
		}
		a := &s.u.types[p.types[j]].alloc
		dominated := false
		for _, f := range front {
			if p.price[f] <= p.price[j] && s.u.types[p.types[f]].alloc.fitsFixed(a) && (s.fixedOnly || s.u.types[p.types[f]].alloc.fits(a)) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, j)
		}
	}
	return front
}

// openClaim opens a NodeClaim of pool p for c's pods, sized by the solver's policy.
func (s *solver) openClaim(c *class, v *variant, ai int, p *pool, remaining int) int {
	if p.err != nil || !tolerates(c.tols, p.spec.Taints) {
		return 0
	}
	cs := s.altCompat(v, ai, p)
	if cs.reason != "" {
		return 0
	}
	need := c.req
	need.add(&p.dsOverhead)
	zm, cm := s.freshMasks(c, v, cs)
	j := s.memoTarget(c, p, cs, zm, cm, &need)
	if j < 0 {
		return 0
	}
	t := &s.u.types[p.types[j]]
	idx := len(s.nodes)
	n := &node{idx: idx, name: claimName(idx), pool: p, reqs: p.reqs, zm: zm, cm: cm,
		bits: slices.Clone(cs.bits), target: j, taints: p.spec.Taints}
	n.free = t.alloc
	n.free.sub(&p.dsOverhead)
	n.hostDom = s.domainID(labelHostname, "\x00"+n.name)
	mix := s.pol == policyEfficient && c.free
	if mix {
		remaining = 1
	}
	k, _ := s.fitNode(c, v, ai, n, remaining)
	if k == 0 {
		return 0
	}
	s.nodes = append(s.nodes, n)
	for _, d := range p.limited {
		p.remaining.set(d, p.remaining.get(d)-t.capacity.get(d))
	}
	if mix {
		// mixFill advances next for every class it places, c included.
		start := c.next
		c.next += k
		s.mixFill(n)
		k, c.next = c.next-start, start
	}
	return k
}

// freshMasks narrows the zones and capacity types of a new NodeClaim to the domains the
// class's zone and capacity-type constraints allow right now.
func (s *solver) freshMasks(c *class, v *variant, cs *compatSet) (uint64, uint8) {
	zm, cm := cs.zm, cs.cm
	for _, kp := range s.keyPlans(c, v) {
		switch kp.key {
		case labelZone:
			for i, z := range s.u.zones {
				if zm&(1<<i) != 0 && !s.domainAllows(v, &kp, s.domainID(kp.key, z)) {
					zm &^= 1 << i
				}
			}
		case labelCapacityType:
			for i, ct := range s.u.cts {
				if cm&(1<<i) != 0 && !s.domainAllows(v, &kp, s.domainID(kp.key, ct)) {
					cm &^= 1 << i
				}
			}
		}
	}
	return zm, cm
}

// memoTarget is chooseTarget (Pareto front first, then every compatible type), remembered
// per (bucket, compatible set, masks): the simulation of the queue barely changes while
// less than 1/32 of the queue has been placed, so the decision is reused until then (or
// until the pool's limits rule the remembered type out). This keeps sizing from costing a
// full simulation per NodeClaim when thousands of NodeClaims are opened for one shape.
func (s *solver) memoTarget(c *class, p *pool, cs *compatSet, zm uint64, cm uint8, need *vec) int {
	key := targetKey{b: c.bucket, cs: cs, zm: zm, cm: cm}
	if m, ok := s.targets[key]; ok && s.queued >= m.queued-m.queued/32 {
		t := &s.u.types[p.types[m.pos]]
		if p.withinLimits(&t.capacity) {
			return m.pos
		}
	}
	j := s.chooseTarget(c, p, cs, zm, cm, need, cs.front)
	if j < 0 {
		j = s.chooseTarget(c, p, cs, zm, cm, need, nil)
	}
	if j >= 0 {
		if s.targets == nil {
			s.targets = map[targetKey]targetMemo{}
		}
		s.targets[key] = targetMemo{pos: j, queued: s.queued}
	}
	return j
}

// chooseTarget picks the position (in p.types) a new NodeClaim is sized for, among cands
// (all compatible types when nil); -1 when none fits.
func (s *solver) chooseTarget(c *class, p *pool, cs *compatSet, zm uint64, cm uint8, need *vec, cands []int) int {
	best, bestScore := -1, -1.0
	offs := p.pricesIn(s.u, zm, cm)
	consider := func(j int) {
		t := &s.u.types[p.types[j]]
		if !t.alloc.fits(need) || !p.withinLimits(&t.capacity) {
			return
		}
		o := offs[j]
		if o.ct < 0 || !s.minValuesHold(p, cs, j) {
			return
		}
		var score float64
		switch s.pol {
		case policyLargest, policyFewest:
			score = o.price
		default:
			free := t.alloc
			free.sub(&p.dsOverhead)
			if c.free {
				score = s.simulateMix(c, p, j, free) / max(o.price, 1e-9)
			} else {
				score = s.simulate(c, p, j, free) / max(o.price, 1e-9)
			}
		}
		if score > bestScore*(1+1e-9) {
			best, bestScore = j, score
		}
	}
	if cands != nil {
		for _, j := range cands {
			consider(j)
		}
		return best
	}
	for j := range p.types {
		if bitTest(cs.bits, j) {
			consider(j)
		}
	}
	return best
}

// minValuesHold reports whether the types at least as large as position j still offer
// every minValues key enough distinct values.
func (s *solver) minValuesHold(p *pool, cs *compatSet, j int) bool {
	for i := range cs.reqs {
		r := &cs.reqs[i]
		if r.MinValues <= 0 {
			continue
		}
		a := &s.u.types[p.types[j]].alloc
		seen := map[string]bool{}
		for k := range p.types {
			t := &s.u.types[p.types[k]]
			if bitTest(cs.bits, k) && t.alloc.fitsFixed(a) && (s.fixedOnly || t.alloc.fits(a)) {
				seen[t.src.Labels[r.Key]] = true
			}
		}
		if len(seen) < r.MinValues {
			return false
		}
	}
	return true
}
