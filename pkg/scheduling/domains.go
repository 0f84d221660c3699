package scheduling

import (
	"math/bits"
	"slices"
)

// chooseDomain picks the domain of kp.key a pod of c would land in on n: the first
// candidate (fewest matching pods first when a spread group orders them) that every
// constraint on the key allows. It returns -1 when n has no value for the key and nothing
// requires one. permanent says that n can never become acceptable for the key.
func (s *solver) chooseDomain(c *class, v *variant, n *node, cs *compatSet, kp *keyPlan) (int32, bool, bool) {
	var buf [maxZones]int32
	cands := buf[:0]
	if n.existing {
		if d, ok := s.existingDomain(n, kp.key); ok {
			cands = append(cands, d)
		}
	} else {
		cands = s.claimValues(n, cs, kp.key, cands)
	}
	if len(cands) == 0 {
		for _, ci := range kp.cons {
			if s.groups[v.topo[ci].group].kind != kindAnti {
				return 0, false, true
			}
		}
		return -1, true, false
	}
	if kp.spread >= 0 && len(cands) > 1 {
		g := s.groups[kp.spread]
		slices.SortStableFunc(cands, func(a, b int32) int { return int(at(g.counts, a) - at(g.counts, b)) })
	}
	for _, d := range cands {
		if s.domainAllows(v, kp, d) {
			return d, true, false
		}
	}
	permanent := kp.key == labelHostname
	for _, ci := range kp.cons {
		if s.groups[v.topo[ci].group].kind == kindAffinity {
			permanent = false
		}
	}
	return 0, false, permanent
}

func (s *solver) domainAllows(v *variant, kp *keyPlan, d int32) bool {
	for _, ci := range kp.cons {
		if !s.allows(&v.topo[ci], d) {
			return false
		}
	}
	for _, gi := range kp.groups {
		if g := s.groups[gi]; g.kind == kindAnti && at(g.owners, d) > 0 {
			return false
		}
	}
	return true
}

// claimValues appends the domains a NodeClaim could still take for key once it also
// satisfies cs.
func (s *solver) claimValues(n *node, cs *compatSet, key string, out []int32) []int32 {
	t := &s.u.types[n.pool.types[n.target]]
	zm, cm := n.zm&cs.zm, n.cm&cs.cm
	switch key {
	case labelHostname:
		return append(out, n.hostDom)
	case labelZone:
		m := zm & t.zonesFor(cm)
		for m != 0 {
			i := bits.TrailingZeros64(m)
			m &^= 1 << i
			out = append(out, s.zoneDom[i])
		}
		return out
	case labelCapacityType:
		for c := range s.u.cts {
			if cm&(1<<c) != 0 && t.zones[c]&zm != 0 {
				out = append(out, s.ctDom[c])
			}
		}
		return out
	}
	if v, ok := t.src.Labels[key]; ok {
		return append(out, s.domainID(key, v))
	}
	for _, reqs := range []reqSet{n.reqs, cs.reqs} {
		if r, ok := reqs.Get(key); ok && !r.Complement && !r.AllowAbsent {
			for _, v := range r.Values {
				if o, ok := n.reqs.Get(key); ok && !o.HasValue(v) {
					continue
				}
				out = append(out, s.domainID(key, v))
			}
			return out
		}
	}
	return out
}

// commit places k pods of c on n, pinning the chosen domains and counting the pods.
func (s *solver) commit(c *class, v *variant, n *node, cs *compatSet, keys []keyPlan, chosen []int32, k int) {
	if !n.existing {
		n.applySet(cs)
		for i := range keys {
			if chosen[i] >= 0 && keys[i].key != labelHostname {
				if r, ok := n.reqs.Get(keys[i].key); !ok || r.Complement || len(r.Values) != 1 {
					s.pin(n, keys[i].key, chosen[i])
				}
			}
		}
	}
	c.bucket.remaining -= int64(k)
	s.queued -= int64(k)
	n.free.addScaled(&c.req, -int64(k))
	n.used.addScaled(&c.req, int64(k))
	n.pods = append(n.pods, c.pods[c.next:c.next+k]...)
	if !n.existing {
		if l := len(n.runs); l > 0 && n.runs[l-1].c == c {
			n.runs[l-1].k += k
		} else {
			n.runs = append(n.runs, run{c: c, k: k})
		}
	}
	for range k {
		n.ports = append(n.ports, c.ports...)
	}
	for i := range keys {
		d := chosen[i]
		if d < 0 {
			continue
		}
		for _, gi := range keys[i].groups {
			if g := s.groups[gi]; s.countsOn(g, n) {
				g.counts = bump(g.counts, d, int32(k))
				g.total += int32(k)
			}
		}
		for _, gi := range v.owns {
			if g := s.groups[gi]; g.key == keys[i].key {
				g.owners = bump(g.owners, d, int32(k))
			}
		}
	}
}

// applySet narrows NodeClaim n to compatible set cs (its types, zones, capacity types and
// requirements), once per set.
func (n *node) applySet(cs *compatSet) {
	if slices.Contains(n.applied, cs) {
		return
	}
	for i := range n.bits {
		n.bits[i] &= cs.bits[i]
	}
	n.zm &= cs.zm
	n.cm &= cs.cm
	n.reqs, _ = n.reqs.And(cs.reqs)
	n.applied = append(n.applied, cs)
}

// countsOn reports whether pods on n count for g (nodeAffinityPolicy, nodeTaintsPolicy).
func (s *solver) countsOn(g *group, n *node) bool {
	if n.existing {
		return g.countsNode(n.labels, n.taints)
	}
	if g.honorTol && !tolerates(g.tols, n.pool.spec.Taints) {
		return false
	}
	if !g.filtered {
		return true
	}
	t := &s.u.types[n.pool.types[n.target]]
	for i := range g.filter {
		r := &g.filter[i]
		if v, ok := t.src.Labels[r.Key]; ok {
			if !r.HasValue(v) {
				return false
			}
			continue
		}
		if nr, ok := n.reqs.Get(r.Key); ok && !nr.Complement && len(nr.Values) == 1 {
			if !r.HasValue(nr.Values[0]) {
				return false
			}
		}
	}
	return true
}
