package scheduling

import (
	"slices"
)

// keyPlan groups, for one topology key, what a placement must respect and count.
type keyPlan struct {
	key    string
	cons   []int // indices into variant.topo
	groups []int // groups the class's pods count in (c.matched) with this key
	spread int   // a spread group on the key used to order candidate domains, -1 if none
}

func (s *solver) keyPlans(c *class, v *variant) []keyPlan {
	if v.keys != nil {
		return v.keys
	}
	v.keys = []keyPlan{}
	find := func(key string) *keyPlan {
		for i := range v.keys {
			if v.keys[i].key == key {
				return &v.keys[i]
			}
		}
		v.keys = append(v.keys, keyPlan{key: key, spread: -1})
		return &v.keys[len(v.keys)-1]
	}
	for i, con := range v.topo {
		g := s.groups[con.group]
		kp := find(g.key)
		kp.cons = append(kp.cons, i)
		if g.kind == kindSpread && kp.spread < 0 {
			kp.spread = con.group
		}
	}
	for _, gi := range c.matched {
		g := s.groups[gi]
		kp := find(g.key)
		kp.groups = append(kp.groups, gi)
		if g.kind == kindSpread && kp.spread < 0 {
			kp.spread = gi
		}
	}
	return v.keys
}

// placeClass places as many of c's pending pods as it can, relaxing preferences as needed.
func (s *solver) placeClass(c *class) {
	c.reserved = 0 // its turn: tryNodes tries the existing nodes first
	for c.next < len(c.pods) {
		k := 0
		for c.level < len(c.variants) {
			if k = s.placeVariant(c, c.level, len(c.pods)-c.next); k > 0 {
				break
			}
			c.level++
		}
		if k == 0 {
			c.level = 0
			return
		}
		c.next += k
	}
}

func (s *solver) placeVariant(c *class, level, remaining int) int {
	v := c.variants[level]
	for ai := range v.alts {
		if k := s.tryNodes(c, level, ai, remaining); k > 0 {
			return k
		}
	}
	if s.pol == policyFewest {
		remaining = 1
	}
	for _, p := range s.pools {
		for ai := range v.alts {
			if k := s.openClaim(c, v, ai, p, remaining); k > 0 {
				return k
			}
		}
	}
	return 0
}

// tryNodes places pods on the first node that takes them. Nodes that can never take the
// class again are skipped for good: by the class (topology on hostname) or, for failures
// every class of the bucket shares (resources, requirements, taints), by the bucket.
func (s *solver) tryNodes(c *class, level, ai, remaining int) int {
	for len(c.skips) <= level {
		c.skips = append(c.skips, nil)
	}
	for len(c.skips[level]) <= ai {
		c.skips[level] = append(c.skips[level], skipList{})
	}
	own := &c.skips[level][ai]
	var shared *skipList
	if level == 0 && ai == 0 {
		shared = &c.bucket.skip
	}
	v := c.variants[level]
	zones := s.allowedZones(c, v)
	if s.pol == policyFewest {
		return s.tryFewest(c, v, ai, own, shared, zones)
	}
	for i := nextAlive(own, shared, 0); i < len(s.nodes); i = nextAlive(own, shared, i+1) {
		if n := s.nodes[i]; !n.existing && zones != allZones && s.claimZones(n, v, ai)&zones == 0 {
			continue // no zone of this NodeClaim may take the class now (transient)
		}
		k, why := s.fitNode(c, v, ai, s.nodes[i], remaining)
		switch {
		case k > 0:
			return k
		case why == failShared && shared != nil:
			shared.kill(i)
		case why != failTransient:
			own.kill(i)
		}
	}
	return 0
}

// tryFewest is tryNodes for policyFewest: one pod, on the first existing node that takes
// it, else on the NodeClaim holding the fewest pods that takes it. Like upstream, the
// NodeClaims are kept in one list, sorted in place by pod count before every pod (new ones
// appended), so ties keep the order the previous sorts left.
//
// The list stays sorted between calls: a NodeClaim that takes a pod moves right past those
// with fewer pods, a new one moves left past those with more, which is what a stable sort
// would do, in time proportional to the move.
func (s *solver) tryFewest(c *class, v *variant, ai int, own, shared *skipList, zones uint64) int {
	count := func(pos int) int { return len(s.nodes[s.fewest[pos]].pods) }
	for i := s.existing + len(s.fewest); i < len(s.nodes); i++ {
		s.fewest = append(s.fewest, i)
		for p := len(s.fewest) - 1; p > 0 && count(p-1) > count(p); p-- {
			s.fewest[p-1], s.fewest[p] = s.fewest[p], s.fewest[p-1]
		}
	}
	try := func(i int) int {
		if n := s.nodes[i]; !n.existing && zones != allZones && s.claimZones(n, v, ai)&zones == 0 {
			return 0
		}
		k, why := s.fitNode(c, v, ai, s.nodes[i], 1)
		switch {
		case k > 0:
		case why == failShared && shared != nil:
			shared.kill(i)
		case why != failTransient:
			own.kill(i)
		}
		return k
	}
	for i := nextAlive(own, shared, 0); i < s.existing; i = nextAlive(own, shared, i+1) {
		if k := try(i); k > 0 {
			return k
		}
	}
	for pos, i := range s.fewest {
		if nextAlive(own, shared, i) != i {
			continue
		}
		if k := try(i); k > 0 {
			for p := pos; p+1 < len(s.fewest) && count(p+1) < count(p); p++ {
				s.fewest[p], s.fewest[p+1] = s.fewest[p+1], s.fewest[p]
			}
			return k
		}
	}
	return 0
}

// allowedZones is the mask of zones the variant's zone rules allow one more pod in right
// now (all zones when it has none). Counts do not change during a scan, so a NodeClaim
// whose zones are all outside the mask fails fitNode transiently; skipping it early keeps
// zone-constrained classes from costing a full fitNode per node.
func (s *solver) allowedZones(c *class, v *variant) uint64 {
	for i, kp := range s.keyPlans(c, v) {
		if kp.key != labelZone {
			continue
		}
		var m uint64
		for z := range s.u.zones {
			if s.domainAllows(v, &v.keys[i], s.zoneDom[z]) {
				m |= 1 << z
			}
		}
		return m
	}
	return allZones
}

const allZones = ^uint64(0)

// claimZones is the mask of zones NodeClaim n could still launch in with a pod of the
// variant's alternative ai (chooseDomain's zone candidates).
func (s *solver) claimZones(n *node, v *variant, ai int) uint64 {
	cs := s.altCompat(v, ai, n.pool)
	t := &s.u.types[n.pool.types[n.target]]
	return n.zm & cs.zm & t.zonesFor(n.cm&cs.cm)
}

// Why a node cannot take a class now.
const (
	failTransient = iota // may change as other pods are placed (zone spread, affinity)
	failClass            // never again for this class (hostname topology)
	failShared           // never again for any class with the same requests and requirements
)

// fitNode places up to remaining pods of c on n and returns how many it placed, or 0 and
// whether n can never take the class under this variant and alternative.
func (s *solver) fitNode(c *class, v *variant, ai int, n *node, remaining int) (int, int) {
	if !(n.free.fitsFixed(&c.req) && (s.fixedOnly || n.free.fits(&c.req))) && (s.pol != policyFewest || n.existing || !s.retarget(n, &c.req, nil)) {
		return 0, failShared
	}
	if portsConflict(n.ports, c.ports) {
		return 0, failClass
	}
	var cs *compatSet
	if n.existing {
		if !tolerates(c.tols, n.taints) || !v.alts[ai].MatchesLabels(n.labels) {
			return 0, failShared
		}
		if n.volLimit != nil && len(c.vols) > 0 {
			if remaining = n.volumeRoom(c.vols, remaining); remaining == 0 {
				return 0, failShared
			}
		}
	} else {
		cs = s.altCompat(v, ai, n.pool)
		if !s.claimAccepts(n, c, cs) && (s.pol != policyFewest || cs.reason != "" || !s.retarget(n, &c.req, cs) || !s.claimAccepts(n, c, cs)) {
			return 0, failShared
		}
	}
	var chosen [8]int32
	keys := s.keyPlans(c, v)
	if len(keys) > len(chosen) {
		return 0, failClass
	}
	for i := range keys {
		d, ok, permanent := s.chooseDomain(c, v, n, cs, &keys[i])
		if !ok && permanent {
			return 0, failClass
		}
		if !ok {
			return 0, failTransient
		}
		chosen[i] = d
	}
	k := 1
	if len(v.topo) == 0 && len(c.ports) == 0 {
		k = int(n.free.maxCopies(&c.req, int64(remaining)))
	}
	s.commit(c, v, n, cs, keys, chosen[:len(keys)], k)
	if n.volLimit != nil {
		n.addVolumes(c.vols, k)
	}
	return k, failTransient
}

// retarget moves NodeClaim n to another type it may still launch as whose room holds req
// on top of its pods, and which set cs (when given) allows in one of its zones and
// capacity types (upstream keeps every type that fits a NodeClaim's pods, not one
// target). The pool's limits reserve the new type's capacity in place of the old one's. It
// reports whether it found one.
func (s *solver) retarget(n *node, req *vec, cs *compatSet) bool {
	need := n.used
	need.add(&n.pool.dsOverhead)
	need.add(req)
	zm, cm := n.zm, n.cm
	if cs != nil {
		zm, cm = zm&cs.zm, cm&cs.cm
	}
	for j := range n.pool.types {
		if j == n.target || !bitTest(n.bits, j) || (cs != nil && !bitTest(cs.bits, j)) {
			continue
		}
		t := &s.u.types[n.pool.types[j]]
		old := &s.u.types[n.pool.types[n.target]].capacity
		if t.alloc.fitsFixed(&need) && (s.fixedOnly || t.alloc.fits(&need)) && t.hasOffering(zm, cm) && n.pool.swapWithinLimits(old, &t.capacity) {
			n.pool.swapReserved(old, &t.capacity)
			s.setTarget(n, j)
			return true
		}
	}
	return false
}

func portsConflict(used, want []hostPort) bool {
	for _, w := range want {
		for _, u := range used {
			if w.conflicts(u) {
				return true
			}
		}
	}
	return false
}

// claimAccepts reports whether a NodeClaim stays launchable, at its target size, with a pod
// requiring cs.
func (s *solver) claimAccepts(n *node, c *class, cs *compatSet) bool {
	if cs.reason != "" || !bitTest(cs.bits, n.target) || !tolerates(c.tols, n.pool.spec.Taints) {
		return false
	}
	t := &s.u.types[n.pool.types[n.target]]
	if !t.hasOffering(n.zm&cs.zm, n.cm&cs.cm) {
		return false
	}
	if cs.custom && !slices.Contains(n.applied, cs) {
		if _, bad := n.reqs.And(cs.reqs); bad != "" {
			return false
		}
	}
	return true
}

func bitTest(b []uint64, i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
