package scheduling

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

const (
	// rebalanceMaxRounds bounds rebalanceZones: each round applies the best move.
	rebalanceMaxRounds = 128
	// rebalanceMaxPods bounds how many pods of one class one move takes from one NodeClaim
	// to another (one at a time, a node a size up may need two to go before it shrinks).
	rebalanceMaxPods = 8
)

// rebalanceZones moves pods spread over zones between NodeClaims of different zones when
// the two NodeClaims then cost less together and every zone spread stays within its skew.
// Placement picks each spread pod's zone as it goes (the least-used zone the skew allows,
// first fit), blind to what the other classes will bring, and the passes after it move
// only pods free to go anywhere: two workloads spread over five zones ended as 6+5 pods in
// one zone, which took a node a size up, and 4+4 in another with room to spare, where
// upstream's first fit, filling its NodeClaims round the zones, put 5+5 on five equal
// nodes (TestDifferentialZoneSpread). One pod moving from the first to the second keeps
// both spreads within their skew and the first node a size down.
//
// A pod may move when its class has no rule but zone spread constraints (maxSkew, no
// minDomains; see zoneSpreadSkews), no host ports, volumes or anti-affinity, and it is
// counted in no group but those constraints' own (so no other rule sees the move); pods of
// free classes (no rule at all) on the same NodeClaims move too. Moves are from NodeClaims
// holding spread pods to those and to NodeClaims pinned to a zone whose pods may not move
// (the room beside them), in pools without limits: a spread pod's only between NodeClaims
// pinned to one zone each. The receiving NodeClaim holds the pod's class already,
// or meets its requirements and takes them (landing), and has room for one more pod on its
// type. k pods of a class leave one NodeClaim together, for one other NodeClaim or one
// each for the k others they cost least on. A NodeClaim left empty is dropped.
func (s *solver) rebalanceZones() {
	skew := s.zoneSpreadSkews()
	if len(skew) == 0 {
		return
	}
	movable := map[*class]bool{}
	for _, c := range s.classes {
		movable[c] = s.zoneMovable(c, skew)
	}
	var claims []*rebalanceClaim
	givers := 0
	for _, n := range s.nodes[s.existing:] {
		if n.pool.err != nil || n.pool.limitedAny() {
			continue
		}
		cl := &rebalanceClaim{n: n, idx: len(claims), zone: -1} // not pinned: only free pods move to or from it
		if bits.OnesCount64(n.zm) == 1 {
			cl.zone = s.domainID(labelZone, s.u.zones[bits.TrailingZeros64(n.zm)])
		}
		// NodeClaims holding spread pods give and take (those of free pods alone are
		// repack's), the free pods on them moving too. NodeClaims pinned to a zone whose
		// pods may not move take: the room beside pods that must be alone on their node
		// (30 NodeClaims of one anti-affine, zone-spread pod each, with room for one pod of
		// another spread workload: that workload went six to a zone, on one NodeClaim a size
		// up in each, TestDifferentialZoneSpread's seed 1865).
		if !slices.ContainsFunc(n.runs, func(r run) bool { return movable[r.c] && len(r.c.matched) > 0 }) {
			if cl.zone < 0 || slices.ContainsFunc(n.runs, func(r run) bool { return movable[r.c] }) {
				continue
			}
			cl.takeOnly = true
		} else {
			givers++
		}
		claims = append(claims, cl)
	}
	if givers == 0 || len(claims) < 2 {
		return
	}
	// Taking NodeClaims alike (pool, zone, types, pods) take pods alike: no move needs more
	// than rebalanceMaxPods of one kind, so only that many of each are priced (thousands
	// of one-per-node NodeClaims are a few kinds).
	for _, cl := range claims {
		if cl.takeOnly {
			cl.kind = rebalanceKind(cl)
		}
	}
	removed := false
	var buckets rebalanceBuckets
	var ys []*rebalanceClaim
	taken := map[string]int{}
	for range rebalanceMaxRounds {
		ys = ys[:0]
		clear(taken)
		for _, cl := range claims {
			if cl.removed {
				continue
			}
			if cl.takeOnly {
				if taken[cl.kind]++; taken[cl.kind] > rebalanceMaxPods {
					continue
				}
			}
			ys = append(ys, cl)
			// What each claim costs, holding k fewer and k more pods of each movable class
			// it holds; a move changes only its claims, so only theirs are priced again.
			if cl.pr == nil {
				cl.pr = s.rebalancePrices(cl.n, movable)
			}
		}
		bestSaving := 1e-9
		var bc *class
		var bx *rebalanceClaim
		var bys []*rebalanceClaim // where the move's pods go: all to bys[0], or one to each
		bk := 0
		for _, x := range claims {
			if x.removed || x.takeOnly {
				continue
			}
			for _, r := range x.n.runs {
				pxs := x.pr.without[r.c]
				if !slices.ContainsFunc(pxs, func(p float64) bool { return p < x.pr.price-1e-9 }) {
					continue // x costs no less without them: no move from x saves anything
				}
				buckets.reset(len(pxs))
				for _, y := range ys {
					// A NodeClaim with no room for one more pod on its type would have to
					// grow: not worth pricing (nor does it often pay).
					if y == x || !(y.n.free.fitsFixed(&r.c.req) && (s.fixedOnly || y.n.free.fits(&r.c.req))) {
						continue
					}
					pys := s.rebalanceWith(y.n, r.c, len(pxs), y.pr)
					if len(pys) > 0 {
						buckets.add(rebalanceDest{y, pys[0] - y.pr.price})
					}
					for k := 1; k <= min(len(pxs), len(pys)); k++ {
						saving := x.pr.price + y.pr.price - pxs[k-1] - pys[k-1]
						if saving > bestSaving && s.mayMove(r.c, x.zone, []int32{y.zone}, int32(k), skew) {
							bestSaving, bc, bx, bys, bk = saving, r.c, x, []*rebalanceClaim{y}, k
						}
					}
				}
				// Or the k pods go one to each of the k NodeClaims they cost least on (in
				// x's own zone first, at equal cost), taken while the spread allows: a
				// crowded zone may shrink only once two pods leave it, and neither of two
				// other zones has room for both (TestDifferentialZoneSpread, seed 2388).
				ones := buckets.sorted(x.zone)
				var dests []*rebalanceClaim
				var zones []int32
				cost := 0.0
				for _, d := range ones {
					if len(dests) == len(pxs) {
						break
					}
					if !s.mayMove(r.c, x.zone, append(zones, d.cl.zone), 1, skew) {
						continue
					}
					dests, zones, cost = append(dests, d.cl), append(zones, d.cl.zone), cost+d.cost
					k := len(dests)
					if saving := x.pr.price - pxs[k-1] - cost; k >= 2 && saving > bestSaving {
						bestSaving, bc, bx, bys, bk = saving, r.c, x, slices.Clone(dests), k
					}
				}
			}
		}
		if bc == nil {
			break
		}
		for i := range bk {
			by := bys[min(i, len(bys)-1)]
			s.movePod(bc, bx.n, by.n, bx.zone, by.zone)
			by.pr = nil
			if by.takeOnly { // of another kind now
				by.kind = rebalanceKind(by)
			}
		}
		bx.pr = nil
		if len(bx.n.pods) == 0 {
			bx.removed, removed = true, true
		}
	}
	if removed {
		gone := map[*node]bool{}
		for _, cl := range claims {
			if cl.removed {
				gone[cl.n] = true
			}
		}
		s.keepClaims(nil, func(n *node) bool { return !gone[n] })
	}
}

// rebalanceClaim is a NodeClaim taking part in rebalanceZones.
type rebalanceClaim struct {
	n        *node
	idx      int    // its place among them, to break ties
	zone     int32  // the zone's domain it is pinned to, -1 when not pinned to one
	takeOnly bool   // it only takes pods (its own may not move)
	kind     string // rebalanceKind, for taking NodeClaims
	removed  bool   // left empty, it goes
	pr       *rebalancePrices
}

// rebalanceKind is what a taking NodeClaim is alike in with others: its pool, zone, target
// type, compatible types and requirements applied, and pods.
func rebalanceKind(cl *rebalanceClaim) string {
	n := cl.n
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%d|%d|%d|%v|%v|", n.pool.idx, cl.zone, n.target, n.zm, n.cm, n.bits, n.used)
	for _, cs := range n.applied {
		fmt.Fprintf(&b, "%p,", cs)
	}
	for _, r := range n.runs {
		fmt.Fprintf(&b, "|%d:%d", r.c.id, r.k)
	}
	return b.String()
}

// rebalanceDest is a NodeClaim that may take one more pod of a class, and what that adds
// to its price.
type rebalanceDest struct {
	cl   *rebalanceClaim
	cost float64
}

// rebalanceBuckets keeps, per zone, the up to limit NodeClaims one more pod costs least
// on: no split move sends more pods than that, so none goes further down a zone's list.
type rebalanceBuckets struct {
	limit int
	zones []int32
	dests [][]rebalanceDest
	out   []rebalanceDest
}

func (b *rebalanceBuckets) reset(limit int) {
	b.limit, b.zones = limit, b.zones[:0]
	for i := range b.dests {
		b.dests[i] = b.dests[i][:0]
	}
}

func (b *rebalanceBuckets) add(d rebalanceDest) {
	i := slices.Index(b.zones, d.cl.zone)
	if i < 0 {
		i = len(b.zones)
		b.zones = append(b.zones, d.cl.zone)
		if i == len(b.dests) {
			b.dests = append(b.dests, nil)
		}
	}
	ds := b.dests[i]
	at := len(ds)
	for at > 0 && rebalanceLess(d, ds[at-1]) {
		at--
	}
	if at >= b.limit {
		return
	}
	if len(ds) < b.limit {
		ds = append(ds, rebalanceDest{})
	}
	copy(ds[at+1:], ds[at:len(ds)-1])
	ds[at] = d
	b.dests[i] = ds
}

// sorted lists the kept NodeClaims cheapest first, those in zone first first at equal cost.
func (b *rebalanceBuckets) sorted(first int32) []rebalanceDest {
	b.out = b.out[:0]
	for i := range b.zones {
		b.out = append(b.out, b.dests[i]...)
	}
	slices.SortFunc(b.out, func(x, y rebalanceDest) int {
		return cmp.Or(cmp.Compare(x.cost, y.cost), cmpBool(x.cl.zone != first, y.cl.zone != first), cmp.Compare(x.cl.idx, y.cl.idx))
	})
	return b.out
}

func rebalanceLess(a, b rebalanceDest) bool {
	return a.cost < b.cost || a.cost == b.cost && a.cl.idx < b.cl.idx
}

// rebalancePrices are what a NodeClaim costs as it is, and holding k = 1..rebalanceMaxPods
// fewer ([k-1], 0 when it is left empty) or, worked out when first asked, more ([k-1], as
// long as some type holds them) pods of each movable class it holds.
type rebalancePrices struct {
	price         float64
	without, with map[*class][]float64
	full          map[*class]bool       // with[c] ends where no type holds one more
	land          map[*class]*compatSet // landing, for classes the NodeClaim holds none of
}

func (s *solver) rebalancePrices(n *node, movable map[*class]bool) *rebalancePrices {
	out := &rebalancePrices{price: s.claimsPrice([]*node{n}), without: map[*class][]float64{}, with: map[*class][]float64{},
		full: map[*class]bool{}, land: map[*class]*compatSet{}}
	for _, r := range n.runs {
		if !movable[r.c] || out.without[r.c] != nil {
			continue
		}
		without := func(k int) float64 {
			if k == len(n.pods) {
				return 0
			}
			return s.priceChanged(n, r.c, -int64(k), nil)
		}
		most := min(r.k, rebalanceMaxPods)
		if without(most) >= out.price-1e-9 {
			out.without[r.c] = []float64{} // the price falls with fewer pods, if at all, only below most
			continue
		}
		for k := 1; k <= most; k++ {
			out.without[r.c] = append(out.without[r.c], without(k))
		}
	}
	return out
}

// rebalanceWith returns what NodeClaim n costs holding k = 1..upTo more pods of c (fewer
// when no type holds that many; none when c's pods may not go there), worked out as far as
// asked and kept in pr.
func (s *solver) rebalanceWith(n *node, c *class, upTo int, pr *rebalancePrices) []float64 {
	ps, full := pr.with[c], pr.full[c]
	land, asked := pr.land[c]
	if !full && !asked && !slices.ContainsFunc(n.runs, func(r run) bool { return r.c == c }) {
		if land = s.landing(c, n); land == nil {
			full = true
		}
		pr.land[c] = land
	}
	for k := len(ps) + 1; !full && k <= upTo; k++ {
		p := s.priceChanged(n, c, int64(k), land)
		if math.IsInf(p, 1) {
			full = true
			break
		}
		ps = append(ps, p)
	}
	pr.with[c], pr.full[c] = ps, full
	return ps
}

// zoneSpreadSkews returns, per zone-keyed spread group that only self-counting constraints
// without minDomains use, the smallest maxSkew among them: the most any zone may hold over
// the least-used one. Groups used otherwise are left out.
func (s *solver) zoneSpreadSkews() map[int]int32 {
	out := map[int]int32{}
	bad := map[int]bool{}
	// A spread that counts only the nodes matching its pods' node affinity, or whose taints
	// they tolerate (nodeAffinityPolicy, nodeTaintsPolicy), counts every NodeClaim holding
	// its own class's pods, whatever type it ends on; so it may take part when it counts the
	// pods of that one class alone.
	matchedBy := map[int][]*class{}
	for _, c := range s.classes {
		for _, gi := range c.matched {
			matchedBy[gi] = append(matchedBy[gi], c)
		}
	}
	for _, c := range s.classes {
		for _, v := range c.variants {
			for _, con := range v.topo {
				g := s.groups[con.group]
				if g.key != labelZone || g.kind != kindSpread {
					continue
				}
				only := len(matchedBy[con.group]) == 1 && matchedBy[con.group][0] == c
				if !con.self || con.minDomains > 0 || (g.filtered || g.honorTol) && !only {
					bad[con.group] = true
					continue
				}
				if cur, ok := out[con.group]; !ok || con.maxSkew < cur {
					out[con.group] = con.maxSkew
				}
			}
		}
	}
	for gi := range bad {
		delete(out, gi)
	}
	return out
}

// zoneMovable reports whether a pod of c may change zones under rebalanceZones' rule.
func (s *solver) zoneMovable(c *class, skew map[int]int32) bool {
	if c.err != nil || len(c.ports) > 0 || len(c.vols) > 0 || len(c.owns) > 0 {
		return false
	}
	for _, v := range c.variants {
		if len(v.owns) > 0 {
			return false
		}
		for _, con := range v.topo {
			if _, ok := skew[con.group]; !ok {
				return false
			}
		}
	}
	for _, gi := range c.matched {
		if _, ok := skew[gi]; !ok {
			return false
		}
	}
	return true
}

// priceChanged prices NodeClaim n holding by more (or fewer) pods of c, its types, zones
// and capacity types narrowed by land when c's pods would be new there, +Inf when no type
// of its own holds them.
func (s *solver) priceChanged(n *node, c *class, by int64, land *compatSet) float64 {
	used, nbits, zm, cm := n.used, n.bits, n.zm, n.cm
	defer func() { n.used, n.bits, n.zm, n.cm = used, nbits, zm, cm }()
	n.used.addScaled(&c.req, by)
	if land != nil {
		n.bits = slices.Clone(n.bits)
		for i := range n.bits {
			n.bits[i] &= land.bits[i]
		}
		n.zm &= land.zm
		n.cm &= land.cm
		if n.zm == 0 || n.cm == 0 {
			return math.Inf(1)
		}
	}
	pos, _ := s.cheapestOption(n)
	if pos < 0 {
		return math.Inf(1)
	}
	return n.pool.pricesIn(s.u, n.zm, n.cm)[pos].price
}

// landing returns the compatible set of c's pods on NodeClaim n, which holds none of them,
// when they may join it: c has one plain way to be scheduled (no preferences, no ORed node
// affinity terms, no pool-defined keys, no minValues), tolerates n's pool's taints and meets
// n's requirements. Else nil.
func (s *solver) landing(c *class, n *node) *compatSet {
	if len(c.variants) != 1 || len(c.variants[0].alts) != 1 || !tolerates(c.tols, n.pool.spec.Taints) {
		return nil
	}
	x := s.altCompat(c.variants[0], 0, n.pool)
	if x.reason != "" || x.custom || n.zm&x.zm == 0 || n.cm&x.cm == 0 {
		return nil
	}
	for i := range x.reqs {
		if x.reqs[i].MinValues > 0 {
			return nil
		}
	}
	if _, bad := n.reqs.And(x.reqs); bad != "" {
		return nil
	}
	return x
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// mayMove reports whether pods of c may go from a NodeClaim in zone from, k of them to a
// NodeClaim in each zone of to (-1: a NodeClaim not pinned to a zone): pods counted in no
// group anywhere, others only between pinned NodeClaims, within their skew when zones change.
func (s *solver) mayMove(c *class, from int32, to []int32, k int32, skew map[int]int32) bool {
	if len(c.matched) == 0 {
		return true
	}
	if from < 0 || slices.ContainsFunc(to, func(z int32) bool { return z < 0 }) {
		return false
	}
	if !slices.ContainsFunc(to, func(z int32) bool { return z != from }) {
		return true
	}
	return s.moveKeepsSkew(c, from, to, k, skew)
}

// moveKeepsSkew reports whether pods of c leaving zone from, k for each zone of to, keep
// every group counting c's pods within its skew.
func (s *solver) moveKeepsSkew(c *class, from int32, to []int32, k int32, skew map[int]int32) bool {
	for _, gi := range c.matched {
		g := s.groups[gi]
		if !slices.Contains(g.eligible, from) || slices.ContainsFunc(to, func(z int32) bool { return !slices.Contains(g.eligible, z) }) {
			return false
		}
		lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
		for _, d := range g.eligible {
			n := at(g.counts, d)
			for _, z := range to {
				if z == d {
					n += k
				}
			}
			if d == from {
				n -= k * int32(len(to))
			}
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > skew[gi] {
			return false
		}
	}
	return true
}

// movePod moves the last pod of c's run on x to the end of c's run on y, with its
// requests and its count in c's groups, and sizes both NodeClaims for their cheapest type.
func (s *solver) movePod(c *class, x, y *node, from, to int32) {
	take := func(n *node) int { // index just past c's run in n.pods, -1 when n holds none
		off := 0
		for _, r := range n.runs {
			off += r.k
			if r.c == c {
				return off
			}
		}
		return -1
	}
	if take(y) < 0 { // c's first pods on y: y takes c's requirements
		y.applySet(s.landing(c, y))
		y.runs = append(y.runs, run{c: c})
	}
	end := take(x)
	p := x.pods[end-1]
	x.pods = slices.Delete(x.pods, end-1, end)
	y.pods = slices.Insert(y.pods, take(y), p)
	for _, n := range []*node{x, y} {
		by := 1
		if n == x {
			by = -1
		}
		i := slices.IndexFunc(n.runs, func(r run) bool { return r.c == c })
		n.runs[i].k += by
		if n.runs[i].k == 0 {
			n.runs = slices.Delete(n.runs, i, i+1)
		}
		n.used.addScaled(&c.req, int64(by))
	}
	if from != to {
		for _, gi := range c.matched {
			g := s.groups[gi]
			g.counts = bump(g.counts, from, -1)
			g.counts = bump(g.counts, to, 1)
		}
	}
	for _, n := range []*node{x, y} {
		if len(n.pods) > 0 {
			pos, _ := s.cheapestOption(n)
			s.setTarget(n, pos)
		}
	}
}
