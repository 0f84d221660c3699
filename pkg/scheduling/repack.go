package scheduling

import (
	"cmp"
	"slices"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/lp"
)

// repack is a local improvement run after the efficient policy has placed every pod: the
// NodeClaims that hold only movable pods (free classes: no topology rule, no host ports,
// counted by no topology group, owning no anti-affinity) are re-packed from scratch, per
// NodePool and per compatible-type set, by the sequential pattern heuristic of cutting
// stock (see packShapes). The new NodeClaims replace the old ones only when they cost
// less, priced exactly as finalize prices them (the cheapest fitting option), so the pass
// can only lower the plan's price. In a pool with limits the new NodeClaims' target types
// must also fit what the limits leave once the old ones' are given back.
func (s *solver) repack() {
	type part struct {
		p     *pool
		cs    *compatSet
		nodes []*node
	}
	var parts []*part
	index := map[*compatSet]*part{}
	partOf := func(p *pool, cs *compatSet) *part {
		pt := index[cs]
		if pt == nil {
			pt = &part{p: p, cs: cs}
			index[cs] = pt
			parts = append(parts, pt)
		}
		return pt
	}
	// pinned NodeClaims per pool: they hold pods that cannot move (see pinned.go).
	pinned := map[*pool][]*node{}
	for _, n := range s.nodes[s.existing:] {
		if n.pool.err != nil || len(n.runs) == 0 {
			continue
		}
		cs := s.movableSet(n)
		if cs == nil {
			pinned[n.pool] = append(pinned[n.pool], n)
			for _, r := range n.runs {
				if x := s.movableCompat(r.c, n.pool); x != nil {
					partOf(n.pool, x)
				}
			}
			continue
		}
		pt := partOf(n.pool, cs)
		pt.nodes = append(pt.nodes, n)
	}
	removed := map[*node]bool{}
	var added []*node
	changed := false
	for _, pt := range parts {
		var fresh []*node
		if pins := pinned[pt.p]; len(pins) > 0 {
			if pt.p.limitedAny() {
				continue // the pinned claims change size too: not accounted for
			}
			var ok bool
			if fresh, ok = s.repackPinned(pt.p, pt.cs, pt.nodes, pins); !ok {
				continue
			}
		} else if len(pt.nodes) < 2 {
			continue
		} else if fresh = s.repackPart(pt.p, pt.cs, pt.nodes); fresh == nil {
			continue
		}
		if pt.p.limitedAny() {
			old, added := s.reservedBy(pt.nodes), s.reservedBy(fresh)
			if !pt.p.swapWithinLimits(&old, &added) {
				continue
			}
			pt.p.swapReserved(&old, &added)
		}
		changed = true
		for _, n := range pt.nodes {
			removed[n] = true
		}
		added = append(added, fresh...)
	}
	if !changed {
		return
	}
	// A pinned NodeClaim whose pods all moved out is left empty (repackPinned): it goes.
	s.keepClaims(added, func(n *node) bool { return !removed[n] && len(n.pods) > 0 })
}

// movableSet returns the compatible-type set shared by every pod of NodeClaim n when all of
// them are movable, else nil.
func (s *solver) movableSet(n *node) *compatSet {
	var cs *compatSet
	for _, r := range n.runs {
		x := s.movableCompat(r.c, n.pool)
		if x == nil || (cs != nil && x != cs) {
			return nil
		}
		cs = x
	}
	return cs
}

// movableCompat returns the compatible-type set of class c's pods on pool p when they are
// movable (a free class owning no anti-affinity, with plain requirements), else nil.
func (s *solver) movableCompat(c *class, p *pool) *compatSet {
	if !c.free || len(c.owns) > 0 || len(c.variants[0].owns) > 0 {
		return nil
	}
	x := s.altCompat(c.variants[0], 0, p)
	if x.reason != "" || x.custom {
		return nil
	}
	// minValues is checked when a NodeClaim is sized; re-packed ones are not sized
	// that way, so requirements with minValues stay as the greedy placed them.
	for i := range x.reqs {
		if x.reqs[i].MinValues > 0 {
			return nil
		}
	}
	return x
}

// shape is the pods of one request vector within a repacked partition.
type shape struct {
	req  vec
	pods []loosePod
	val  float64
}

// packed is one pattern of the repack: x[i] pods of shape i on type position j, m times.
type packed struct {
	j int
	x []int64
	m int64
}

// repackPart re-packs the pods of nodes (all of pool p, all compatible with cs only) and
// returns the new NodeClaims when they are cheaper, else nil.
func (s *solver) repackPart(p *pool, cs *compatSet, nodes []*node) []*node {
	offs := p.pricesIn(s.u, cs.zm, cs.cm)
	old := 0.0
	var pods []loosePod
	for _, n := range nodes {
		pos, _ := s.cheapestOption(n)
		old += offs[pos].price
		pods = appendLoose(pods, n)
	}
	shapes := restShapes(pods)
	pats, _ := s.packShapes(p, cs, offs, shapes, old)
	if pats == nil {
		return nil
	}
	return s.freshClaims(p, cs, shapes, pats)
}

// appendLoose appends the pods of NodeClaim n, with their classes, to pods.
func appendLoose(pods []loosePod, n *node) []loosePod {
	i := 0
	for _, r := range n.runs {
		for _, pod := range n.pods[i : i+r.k] {
			pods = append(pods, loosePod{pod, r.c})
		}
		i += r.k
	}
	return pods
}

// freshClaims builds the NodeClaims of the patterns pats over shapes (pods taken from each
// shape in order), with their runs.
func (s *solver) freshClaims(p *pool, cs *compatSet, shapes []*shape, pats []packed) []*node {
	var out []*node
	next := make([]int, len(shapes))
	for _, pt := range pats {
		for range pt.m {
			n := &node{pool: p, reqs: p.reqs, zm: cs.zm, cm: cs.cm, bits: slices.Clone(cs.bits),
				taints: p.spec.Taints, applied: []*compatSet{cs}}
			n.reqs, _ = n.reqs.And(cs.reqs)
			s.setTarget(n, pt.j)
			for i, k := range pt.x {
				if k == 0 {
					continue
				}
				sh := shapes[i]
				for _, lp := range sh.pods[next[i] : next[i]+int(k)] {
					n.pods = append(n.pods, lp.pod)
					if l := len(n.runs); l > 0 && n.runs[l-1].c == lp.c {
						n.runs[l-1].k++
					} else {
						n.runs = append(n.runs, run{c: lp.c, k: 1})
					}
				}
				next[i] += int(k)
				n.used.addScaled(&sh.req, k)
				n.free.addScaled(&sh.req, -k)
			}
			out = append(out, n)
		}
	}
	return out
}

// packShapes is the sequential heuristic procedure of cutting stock: at the dual prices of
// the LP over what is left to place, find for every candidate type a good fill (pattern),
// keep the one with the highest value per dollar, use it as many times as the remaining
// pods allow, and repeat. Identical large pods are thereby packed whole nodes at a time on
// the type that wastes least of them (an 8-CPU pod fits 5 times in 47.7 allocatable CPUs,
// so the filler that closes the gap decides), and the residual duals re-value the
// resources as the mix left changes. It returns nil when the packing is not cheaper than
// limit (the price of the NodeClaims it would replace).
func (s *solver) packShapes(p *pool, cs *compatSet, offs []offering, shapes []*shape, limit float64) ([]packed, float64) {
	rem := make([]int64, len(shapes))
	left := int64(0)
	for i, sh := range shapes {
		rem[i] = int64(len(sh.pods))
		left += rem[i]
	}
	var cands []int
	for _, j := range cs.front {
		if offs[j].ct < 0 || offs[j].price <= 0 {
			continue
		}
		capv := s.u.types[p.types[j]].alloc
		capv.sub(&p.dsOverhead)
		if capv.fits(&vec{}) {
			cands = append(cands, j)
		}
	}
	type cand struct {
		j     int
		bound float64
	}
	order := make([]int, len(shapes))
	x, bestX, scratch := make([]int64, len(shapes)), make([]int64, len(shapes)), make([]int64, len(shapes))
	var pats []packed
	total := 0.0
	// patPrice prices a pattern as finalize will: the cheapest compatible type it fits.
	patPrice := func(j int, x []int64) float64 {
		var need vec
		for i, k := range x {
			need.addScaled(&shapes[i].req, k)
		}
		need.add(&p.dsOverhead)
		price := offs[j].price
		for jj := range p.types {
			if jj >= j {
				break // positions are in price order; j itself fits
			}
			if bitTest(cs.bits, jj) && offs[jj].ct >= 0 && offs[jj].price < price && s.u.types[p.types[jj]].alloc.fitsFixed(&need) && (s.fixedOnly || s.u.types[p.types[jj]].alloc.fits(&need)) {
				price = offs[jj].price
			}
		}
		return price
	}
	// Whole nodes first: the configuration LP's patterns, rounded down.
	for _, pt := range s.configPatterns(p, offs, cands, shapes, rem) {
		for range pt.m {
			for i, k := range pt.x {
				x[i] = min(k, rem[i])
			}
			if !slices.ContainsFunc(x, func(k int64) bool { return k > 0 }) {
				break
			}
			if l := len(pats); l > 0 && pats[l-1].j == pt.j && slices.Equal(pats[l-1].x, x) {
				pats[l-1].m++
			} else {
				pats = append(pats, packed{j: pt.j, x: slices.Clone(x), m: 1})
			}
			total += patPrice(pt.j, x)
			for i, k := range x {
				rem[i] -= k
				left -= k
			}
		}
	}
	if total >= limit-1e-9 {
		return nil, 0
	}
	bounds := make([]cand, 0, len(cands))
	for left > 0 {
		var demand vec
		for i, sh := range shapes {
			demand.addScaled(&sh.req, rem[i])
		}
		y := s.poolDuals(p, offs, cands, demand)
		for _, sh := range shapes {
			sh.val = 0
			for d := range sh.req.a {
				sh.val += y[d] * float64(sh.req.a[d])
			}
		}
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(shapes[b].val, shapes[a].val) })
		bounds = bounds[:0]
		for _, j := range cands {
			capv := s.u.types[p.types[j]].alloc
			capv.sub(&p.dsOverhead)
			v := 0.0
			for d := range capv.a {
				v += y[d] * float64(capv.a[d])
			}
			bounds = append(bounds, cand{j, v / offs[j].price})
		}
		slices.SortStableFunc(bounds, func(a, b cand) int { return cmp.Or(cmpFloat(b.bound, a.bound), cmp.Compare(a.j, b.j)) })
		bestJ, bestEff := -1, -1.0
		for _, c := range bounds {
			if c.bound <= bestEff*(1+1e-9) && bestJ >= 0 {
				break
			}
			capv := s.u.types[p.types[c.j]].alloc
			capv.sub(&p.dsOverhead)
			price := offs[c.j].price
			v, ok := bestFill(capv, shapes, order, rem, x, scratch, nil, 0)
			if !ok {
				continue
			}
			if eff := v / price; eff > bestEff*(1+1e-9) || bestJ < 0 {
				bestJ, bestEff = c.j, eff
				copy(bestX, x)
			}
		}
		if bestJ < 0 {
			return nil, 0 // some pod fits no candidate: keep the plan as it is
		}
		m := int64(1 << 62)
		for i, k := range bestX {
			if k > 0 {
				m = min(m, rem[i]/k)
			}
		}
		price := patPrice(bestJ, bestX)
		total += float64(m) * price
		if total >= limit-1e-9 {
			return nil, 0
		}
		for i, k := range bestX {
			rem[i] -= m * k
			left -= m * k
		}
		pats = append(pats, packed{j: bestJ, x: slices.Clone(bestX), m: m})
	}
	return pats, total
}

// packWhole is packShapes, or one node for every pod when some type of set cs holds them
// all for less. The fill values each node at the duals of what is left, and may fill a
// cheaper type whole and open more for the rest where one larger type holding every pod
// costs less: the pods of three sets gathered by crossRepack, 44.5 CPUs, filled a
// c6a.8xlarge and three smaller nodes ($1.94/h), where one c6a.12xlarge costs $1.84/h.
// (Used in repack and its pinned claims' passes too, it made the plans of
// BenchmarkSolve/selectors 3 % dearer: a cheaper packing of one set there left worse
// moves for the sets after it.)
func (s *solver) packWhole(p *pool, cs *compatSet, offs []offering, shapes []*shape, limit float64) ([]packed, float64) {
	all := make([]int64, len(shapes))
	var used vec
	for i, sh := range shapes {
		all[i] = int64(len(sh.pods))
		used.addScaled(&sh.req, all[i])
	}
	one := s.cheapestFor(p, cs.bits, cs.zm, cs.cm, &used)
	if one < 0 || offs[one].price >= limit-1e-9 {
		return s.packShapes(p, cs, offs, shapes, limit)
	}
	if pats, total := s.packShapes(p, cs, offs, shapes, offs[one].price); pats != nil {
		return pats, total
	}
	return []packed{{j: one, x: all, m: 1}}, offs[one].price
}

// fillByValue fills capv with shapes in decreasing value, as many of each as fit.
func fillByValue(capv vec, shapes []*shape, order []int, rem, x []int64) float64 {
	v := 0.0
	for _, i := range order {
		if rem[i] == 0 {
			continue
		}
		k := capv.maxCopiesFixed(&shapes[i].req, rem[i])
		if k > 0 && !noOverflow(&capv, &shapes[i].req) {
			k = capv.maxCopies(&shapes[i].req, rem[i])
		}
		if k > 0 {
			x[i] = k
			capv.addScaled(&shapes[i].req, -k)
			v += float64(k) * shapes[i].val
		}
	}
	return v
}

// fillByDot fills capv by the dot-product rule (see mixFill), a run at a time.
func fillByDot(capv vec, shapes []*shape, rem, x []int64) float64 {
	var scale [numFixed]float64
	for d := range scale {
		if capv.a[d] > 0 {
			scale[d] = 1 / float64(capv.a[d])
		}
	}
	v := 0.0
	for {
		best, bestScore := -1, -1.0
		for i, sh := range shapes {
			if rem[i]-x[i] <= 0 || !capv.fits(&sh.req) {
				continue
			}
			score := 0.0
			for d := range sh.req.a {
				score += float64(sh.req.a[d]) * float64(capv.a[d]) * scale[d] * scale[d]
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			return v
		}
		sh := shapes[best]
		k := max(capv.maxCopies(&sh.req, rem[best]-x[best])/2, 1)
		capv.addScaled(&sh.req, -k)
		x[best] += k
		v += float64(k) * sh.val
	}
}

// poolDuals solves the covering LP of demand over the candidate positions of pool p and
// returns its dual prices (per unit of each resource).
func (s *solver) poolDuals(p *pool, offs []offering, cands []int, demand vec) vec64 {
	var y vec64
	var rows []int
	for d := range demand.a {
		if demand.a[d] <= 0 {
			continue
		}
		for _, j := range cands {
			if s.u.types[p.types[j]].alloc.a[d]-p.dsOverhead.a[d] > 0 {
				rows = append(rows, d)
				break
			}
		}
	}
	if len(rows) == 0 {
		return y
	}
	cols := make([][]float64, len(cands))
	prices := make([]float64, len(cands))
	flat := make([]float64, len(cands)*len(rows))
	for k, j := range cands {
		t := &s.u.types[p.types[j]]
		col := flat[k*len(rows) : (k+1)*len(rows)]
		for i, d := range rows {
			col[i] = float64(max(t.alloc.a[d]-p.dsOverhead.a[d], 0)) / float64(demand.a[d])
		}
		cols[k] = col
		prices[k] = offs[j].price
	}
	_, duals := lp.Cover(cols, prices)
	for i, d := range rows {
		y[d] = duals[i] / float64(demand.a[d])
	}
	return y
}

// configPatterns solves the configuration LP of the shapes by column generation: minimise
// Σ price_p·n_p over patterns p (a type and how many pods of each shape it holds) subject
// to Σ_p n_p·x_p,i ≥ rem_i. It starts from, per shape, the type with the lowest price per
// pod of that shape alone, and adds, per round, the best fills of the most promising types
// at the LP's dual prices per pod (bestFill: the greedy fills, then the exact knapsack
// search when they find none), until no fill is worth more than its type costs. It returns the basic patterns with n_p
// rounded down (m); the fraction left over is packed by packShapes' sequential loop.
func (s *solver) configPatterns(p *pool, offs []offering, cands []int, shapes []*shape, rem []int64) []packed {
	nS := len(shapes)
	var pats []packed
	seen := map[string]bool{}
	keyOf := func(j int, x []int64) string {
		b := make([]byte, 0, 8*(len(x)+1))
		for _, v := range append([]int64{int64(j)}, x...) {
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
		return string(b)
	}
	add := func(j int, x []int64) {
		k := keyOf(j, x)
		if !seen[k] {
			seen[k] = true
			pats = append(pats, packed{j: j, x: slices.Clone(x)})
		}
	}
	x, scratch := make([]int64, nS), make([]int64, nS)
	for i, sh := range shapes {
		if rem[i] == 0 {
			continue
		}
		bestJ, bestK, best := -1, int64(0), 0.0
		for _, j := range cands {
			capv := s.u.types[p.types[j]].alloc
			capv.sub(&p.dsOverhead)
			if k := capv.maxCopies(&sh.req, rem[i]); k > 0 {
				if per := offs[j].price / float64(k); bestJ < 0 || per < best {
					bestJ, bestK, best = j, k, per
				}
			}
		}
		if bestJ < 0 {
			return nil
		}
		clear(x)
		x[i] = bestK
		add(bestJ, x)
	}
	var rows []int
	for i := range shapes {
		if rem[i] > 0 {
			rows = append(rows, i)
		}
	}
	order := make([]int, nS)
	type found struct {
		j   int
		eff float64
		x   []int64
	}
	var basis []int
	var xb []float64
	kn := &knapsack{total: knapTotal}
	for round := 0; round < 40; round++ {
		cols := make([][]float64, len(pats))
		prices := make([]float64, len(pats))
		for pi, pt := range pats {
			col := make([]float64, len(rows))
			for r, i := range rows {
				col[r] = float64(pt.x[i]) / float64(rem[i])
			}
			cols[pi], prices[pi] = col, offs[pt.j].price
		}
		var y []float64
		_, y, basis, xb = lp.CoverBasis(cols, prices)
		for _, sh := range shapes {
			sh.val = 0
		}
		for r, i := range rows {
			shapes[i].val = y[r] / float64(rem[i])
		}
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(shapes[b].val, shapes[a].val) })
		kn.reset(shapes, rem)
		// Greedy fills first; the exact oracle only when they find no new column.
		added := false
		for _, exact := range []*knapsack{nil, kn} {
			var news []found
			tries := cands
			if exact != nil {
				tries = s.byRootBound(p, offs, cands, kn)
			}
			for _, j := range tries {
				capv := s.u.types[p.types[j]].alloc
				capv.sub(&p.dsOverhead)
				price := offs[j].price
				v, ok := bestFill(capv, shapes, order, rem, x, scratch, exact, price*(1+1e-6))
				if eff := v / price; ok && eff > 1+1e-6 && !seen[keyOf(j, x)] {
					news = append(news, found{j, eff, slices.Clone(x)})
					if exact != nil && len(news) >= knapColumns {
						break
					}
				}
			}
			slices.SortStableFunc(news, func(a, b found) int { return cmp.Or(cmpFloat(b.eff, a.eff), cmp.Compare(a.j, b.j)) })
			for _, f := range news[:min(len(news), 12)] {
				add(f.j, f.x)
				added = true
			}
			if added {
				break
			}
		}
		if !added {
			break
		}
	}
	var out []packed
	for bi, v := range basis {
		if v < len(pats) {
			if m := int64(xb[bi] + 1e-9); m > 0 {
				out = append(out, packed{j: pats[v].j, x: pats[v].x, m: m})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b packed) int { return cmp.Compare(b.m, a.m) })
	return out
}

// bestFill is the pricing oracle: the most valuable fill of capv it finds among the
// value-order fill, the dot-product fill, and, for every shape, as many (or one fewer) of
// it first with the rest in value order, then, when kn is given and none of those is worth
// more than floor, the exact search (knapsack.fill). x receives the fill; ok is false when
// nothing fits.
func bestFill(capv vec, shapes []*shape, order []int, rem, x, scratch []int64, kn *knapsack, floor float64) (float64, bool) {
	best, ok := -1.0, false
	try := func(v float64) {
		if v > best*(1+1e-12) && slices.ContainsFunc(scratch, func(k int64) bool { return k > 0 }) {
			best, ok = v, true
			copy(x, scratch)
		}
	}
	clear(scratch)
	try(fillByValue(capv, shapes, order, rem, scratch))
	clear(scratch)
	try(fillByDot(capv, shapes, rem, scratch))
	for i, sh := range shapes {
		if rem[i] == 0 {
			continue
		}
		kmax := capv.maxCopies(&sh.req, rem[i])
		for k := kmax; k >= max(kmax-1, 1); k-- {
			clear(scratch)
			c := capv
			c.addScaled(&sh.req, -k)
			scratch[i] = k
			r := rem[i]
			rem[i] = 0
			v := fillByValue(c, shapes, order, rem, scratch) + float64(k)*sh.val
			rem[i] = r
			try(v)
		}
	}
	if kn != nil && (!ok || best <= floor) {
		if !ok {
			best = 0
		}
		if v := kn.fill(capv, x, best, floor); v > best {
			best, ok = v, true
		}
	}
	if !ok {
		clear(x)
	}
	return best, ok
}
