package scheduling

import "slices"

// crossMaxParts bounds the compatible sets of one pool the cross re-pack pairs up: it tries
// every ordered pair, each a pair of packShapes calls.
const crossMaxParts = 8

// crossPart is the movable NodeClaims of one pool whose pods together allow set cs.
type crossPart struct {
	cs    *compatSet
	nodes []*node
}

// crossMove is one candidate of crossRepack: the fresh NodeClaims of part t and of each
// part of ls (pods of which moved to t).
type crossMove struct {
	t      *crossPart
	ls     []*crossPart
	to     *compatSet // t's set after the move
	tNodes []*node
	lNodes [][]*node // per part of ls: what it keeps, re-packed
	saving float64
}

// crossRepack re-packs across compatible sets. repack works within one set, so pods that
// may run anywhere share a NodeClaim with pods of a narrower set (one zone, one
// architecture) only where the greedy happened to put them: eight zone-b pods of 4 CPUs
// need a 12xlarge for the eighth, whose 15 idle CPUs a zone-free Deployment could have
// taken, and that Deployment got its own NodeClaim instead. Here the movable NodeClaims of
// a pool (every pod movable) are grouped by the meet of their pods' sets (claimSet); for
// every ordered pair of groups (t, l), the pods of l that t's set admits move to t, or
// every pod of both goes onto the meet of the two sets (see bestCrossMove), and both are
// re-packed (packShapes). A group may also gather, in one move, the pods of every other
// group its set admits: three groups whose pods fill one large node together may each
// fill only part of it two at a time, so that no move of a pair saves anything. The move
// saving the most is applied, and the search repeats (at most once per group). Every move
// is priced as finalize prices it, so the pass only lowers the plan's price. Pools with
// limits are left alone, as in repack.
func (s *solver) crossRepack() {
	parts := map[*pool][]*crossPart{}
	var pools []*pool
	for _, n := range s.nodes[s.existing:] {
		if n.pool.err != nil || n.pool.limitedAny() || len(n.runs) == 0 {
			continue
		}
		cs := s.claimSet(n)
		if cs == nil {
			continue
		}
		ps := parts[n.pool]
		i := slices.IndexFunc(ps, func(pt *crossPart) bool { return pt.cs == cs })
		if i < 0 {
			if len(ps) == 0 {
				pools = append(pools, n.pool)
			}
			i = len(ps)
			ps = append(ps, &crossPart{cs: cs})
			parts[n.pool] = ps
		}
		ps[i].nodes = append(ps[i].nodes, n)
	}
	removed := map[*node]bool{}
	var added []*node
	for _, p := range pools {
		ps := parts[p]
		if len(ps) < 2 || len(ps) > crossMaxParts {
			continue
		}
		for range ps {
			mv := s.bestCrossMove(p, ps)
			if mv == nil {
				break
			}
			for _, n := range mv.t.nodes {
				removed[n] = true
			}
			mv.t.cs, mv.t.nodes = mv.to, mv.tNodes
			added = append(added, mv.tNodes...)
			for i, l := range mv.ls {
				for _, n := range l.nodes {
					removed[n] = true
				}
				l.nodes = mv.lNodes[i]
				added = append(added, mv.lNodes[i]...)
			}
		}
	}
	if len(removed) == 0 {
		return
	}
	s.keepClaims(added, func(n *node) bool { return !removed[n] })
}

// crossCand is a move before it is packed: the shapes of what goes on the target set and
// of what stays on each part of ls, and the most the move can save (the price of the
// parts less the covering LP's bound of their packings).
type crossCand struct {
	t          *crossPart
	ls         []*crossPart
	to         *compatSet
	on         []*shape
	rests      [][]*shape // per part of ls
	old, bound float64
}

// bestCrossMove returns the move between parts of pool p that saves the most, or nil when
// none saves anything. For parts t and l it tries two target sets: t's own (the pods of l
// it admits move to t, the others stay on l) and, when it is narrower than both and not
// empty, the meet of t's and l's (every pod of both on one set: an amd64 workload and a
// memory-optimised one on m-type amd64 nodes). Then, for each part t, the gather: the pods
// of every other part that t's set admits move to t at once (tried when two parts or more
// give some). Candidates are packed in decreasing order of what they may save, until that
// is no more than the best saving found.
func (s *solver) bestCrossMove(p *pool, ps []*crossPart) *crossMove {
	prices := make([]float64, len(ps))
	for i, pt := range ps {
		prices[i] = s.claimsPrice(pt.nodes)
	}
	var cands []*crossCand
	for ti, t := range ps {
		var gather []*crossPart
		gatherOld := prices[ti]
		for li, l := range ps {
			if t == l || len(l.nodes) == 0 {
				continue
			}
			if c := s.crossSplit(p, t, []*crossPart{l}, t.cs, prices[ti]+prices[li]); c != nil {
				cands = append(cands, c)
			}
			if s.gives(p, t.cs, l) {
				gather = append(gather, l)
				gatherOld += prices[li]
			}
			if li < ti || len(t.nodes) == 0 {
				continue // the meet is the same either way round
			}
			if both := s.meet(p, t.cs, l.cs); both != nil && both != t.cs && both != l.cs {
				if c := s.crossSplit(p, t, []*crossPart{l}, both, prices[ti]+prices[li]); c != nil {
					cands = append(cands, c)
				}
			}
		}
		if len(gather) >= 2 {
			if c := s.crossSplit(p, t, gather, t.cs, gatherOld); c != nil {
				cands = append(cands, c)
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b *crossCand) int { return cmpFloat(b.old-b.bound, a.old-a.bound) })
	var best *crossMove
	for _, c := range cands {
		floor := 1e-9
		if best != nil {
			floor = best.saving
		}
		if c.old-c.bound <= floor {
			break
		}
		if mv := s.crossPack(p, c, floor); mv != nil {
			best = mv
		}
	}
	return best
}

// crossSplit splits each part of ls into the pods set to (within t's) admits and the rest,
// and returns the candidate, or nil when nothing moves or the bound leaves nothing to save.
func (s *solver) crossSplit(p *pool, t *crossPart, ls []*crossPart, to *compatSet, old float64) *crossCand {
	var on []loosePod
	for _, n := range t.nodes {
		on = appendLoose(on, n)
	}
	own := len(on)
	c := &crossCand{t: t, ls: ls, to: to, rests: make([][]*shape, len(ls)), old: old}
	for li, l := range ls {
		var rest []loosePod
		for _, n := range l.nodes {
			i := 0
			for _, r := range n.runs {
				for _, pod := range n.pods[i : i+r.k] {
					if to.within(s.movableCompat(r.c, p)) {
						on = append(on, loosePod{pod, r.c})
					} else {
						rest = append(rest, loosePod{pod, r.c})
					}
				}
				i += r.k
			}
		}
		c.rests[li] = restShapes(rest)
		c.bound += s.shapesBound(p, l.cs, p.pricesIn(s.u, l.cs.zm, l.cs.cm), c.rests[li])
	}
	if len(on) == own {
		return nil
	}
	c.on = restShapes(on)
	c.bound += s.shapesBound(p, to, p.pricesIn(s.u, to.zm, to.cm), c.on)
	if c.old-c.bound <= 1e-9 {
		return nil
	}
	return c
}

// gives reports whether some pod of part l may move onto set to.
func (s *solver) gives(p *pool, to *compatSet, l *crossPart) bool {
	for _, n := range l.nodes {
		for _, r := range n.runs {
			if to.within(s.movableCompat(r.c, p)) {
				return true
			}
		}
	}
	return false
}

// crossPack packs candidate c and returns the move when it saves more than floor.
func (s *solver) crossPack(p *pool, c *crossCand, floor float64) *crossMove {
	restPrice := 0.0
	lNodes := make([][]*node, len(c.ls))
	for li, l := range c.ls {
		if len(c.rests[li]) == 0 {
			continue
		}
		pats, price := s.packShapes(p, l.cs, p.pricesIn(s.u, l.cs.zm, l.cs.cm), c.rests[li], c.old-floor-restPrice)
		if pats == nil {
			return nil
		}
		restPrice += price
		lNodes[li] = s.freshClaims(p, l.cs, c.rests[li], pats)
	}
	pats, price := s.packWhole(p, c.to, p.pricesIn(s.u, c.to.zm, c.to.cm), c.on, c.old-floor-restPrice)
	if pats == nil {
		return nil
	}
	tNodes := s.freshClaims(p, c.to, c.on, pats)
	for _, n := range tNodes {
		s.applyRunSets(n)
	}
	return &crossMove{t: c.t, ls: c.ls, to: c.to, tNodes: tNodes, lNodes: lNodes, saving: c.old - price - restPrice}
}

// meet returns pool p's compatible set of a's and b's requirements together (the narrower
// of the two when one is within the other), or nil when no type is in it.
func (s *solver) meet(p *pool, a, b *compatSet) *compatSet {
	switch {
	case a.within(b):
		return a
	case b.within(a):
		return b
	}
	reqs, bad := a.reqs.And(b.reqs)
	if bad != "" {
		return nil
	}
	// compatFor marks the set custom because reqs carry the pool's own labels (the
	// NodePool's name); a and b constrain no custom key (movableCompat), nor does their meet.
	both := s.compatFor(p, reqs)
	if both.reason != "" || len(both.front) == 0 {
		return nil
	}
	return both
}

// claimsPrice is what finalize would charge for NodeClaims nodes.
func (s *solver) claimsPrice(nodes []*node) float64 {
	total := 0.0
	for _, n := range nodes {
		pos, _ := s.cheapestOption(n)
		total += n.pool.pricesIn(s.u, n.zm, n.cm)[pos].price
	}
	return total
}

// claimSet returns the compatible set of NodeClaim n's pods together (the meet of their
// sets) when every one of them is movable and the meet holds some type, else nil.
func (s *solver) claimSet(n *node) *compatSet {
	var cs *compatSet
	for _, r := range n.runs {
		x := s.movableCompat(r.c, n.pool)
		if x == nil {
			return nil
		}
		if cs == nil {
			cs = x
		} else if cs = s.meet(n.pool, cs, x); cs == nil {
			return nil
		}
	}
	return cs
}

// applyRunSets narrows a fresh NodeClaim's requirements by the sets of every class on it
// (freshClaims applies only the set it was packed for, which is within each of them, so
// its types, zones and capacity types do not change).
func (s *solver) applyRunSets(n *node) {
	for _, r := range n.runs {
		x := s.movableCompat(r.c, n.pool)
		if !slices.Contains(n.applied, x) {
			n.reqs, _ = n.reqs.And(x.reqs)
			n.applied = append(n.applied, x)
		}
	}
}

// within reports whether every type, zone and capacity type of a is also in b.
func (a *compatSet) within(b *compatSet) bool {
	if a.zm&^b.zm != 0 || a.cm&^b.cm != 0 {
		return false
	}
	for i := range a.bits {
		if a.bits[i]&^b.bits[i] != 0 {
			return false
		}
	}
	return true
}
