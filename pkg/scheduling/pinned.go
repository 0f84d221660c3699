package scheduling

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Pinned NodeClaims hold pods that cannot move: one-per-node pods (host ports, hostname
// anti-affinity, hostname spread), pods counted by a topology group, pods of several
// compatible sets. The greedy sizes each of them when it opens, and the free pods placed
// after first-fit into whatever room that sizing left: the first claims end up full, the
// last ones hold a lone pod on the smallest type it fits, with the rest of that type idle.
// The re-pack below gives the room on pinned claims to the movable pods before it packs
// the rest on fresh NodeClaims.

// loosePod is a movable pod taken off a NodeClaim for the re-pack, with its class.
type loosePod struct {
	pod *corev1.Pod
	c   *class
}

// pinnedState is a pinned NodeClaim during the re-pack of one compatible set: what it keeps
// (pods not of the set) and, per try, what it is given.
type pinnedState struct {
	n        *node
	keepPods []*corev1.Pod
	keepRuns []run
	keepUsed vec
	bits     []uint64 // n.bits ∧ the set's bits
	zm       uint64
	cm       uint8
	ok       bool // a type of the set fits what it keeps in the zones and capacity types left
	given    []loosePod
	pos      int // the capacity position of the winning try
}

// repackPinned re-packs one compatible set cs of pool p: the movable pods of its movable
// NodeClaims (nodes) and those of cs on the pinned NodeClaims of p (pinned) first fill the
// pinned claims' room, sized either at the cheapest type for what each keeps or at the type
// the greedy chose, and the rest is packed on fresh NodeClaims by packShapes. The change is
// applied only when the pinned claims and the fresh ones together cost less than before;
// it returns the fresh NodeClaims and whether it applied.
func (s *solver) repackPinned(p *pool, cs *compatSet, nodes, pinned []*node) ([]*node, bool) {
	offs := p.pricesIn(s.u, cs.zm, cs.cm)
	before := 0.0
	var loose []loosePod
	for _, n := range nodes {
		pos, _ := s.cheapestOption(n)
		before += offs[pos].price
		loose = appendLoose(loose, n)
	}
	// A copy: loose is sorted in place below, which would otherwise reorder movable's
	// pods with the pinned claims' (a pod kept on its pinned claim was packed again, and
	// a movable pod was lost).
	movable := slices.Clone(loose)
	pinnedNow, noHandOut := 0.0, false
	states := make([]*pinnedState, 0, len(pinned))
	for _, n := range pinned {
		pos, _ := s.cheapestOption(n)
		pinnedNow += n.pool.pricesIn(s.u, n.zm, n.cm)[pos].price
		st := &pinnedState{n: n, bits: slices.Clone(n.bits), zm: n.zm & cs.zm, cm: n.cm & cs.cm}
		for i := range st.bits {
			st.bits[i] &= cs.bits[i]
		}
		i := 0
		for _, r := range n.runs {
			if s.movableCompat(r.c, p) == cs {
				for _, pod := range n.pods[i : i+r.k] {
					loose = append(loose, loosePod{pod, r.c})
				}
			} else {
				st.keepPods = append(st.keepPods, n.pods[i:i+r.k]...)
				st.keepRuns = append(st.keepRuns, r)
				st.keepUsed.addScaled(&r.c.req, int64(r.k))
			}
			i += r.k
		}
		if _, bad := n.reqs.And(cs.reqs); bad == "" {
			st.pos = s.cheapestFor(p, st.bits, st.zm, st.cm, &st.keepUsed)
			st.ok = st.pos >= 0
		}
		if !st.ok && len(st.keepPods) < len(n.pods) {
			noHandOut = true // it held pods of cs but cannot once they are gone: leave it
		}
		states = append(states, st)
	}
	before += pinnedNow
	if len(loose) == 0 {
		return nil, false
	}
	// Largest first (first-fit decreasing), pods of one class together.
	slices.SortStableFunc(loose, func(a, b loosePod) int {
		return cmp.Or(cmpFloat(b.c.size, a.c.size), cmp.Compare(a.c.id, b.c.id))
	})
	// Each mode hands the room out; the modes are then tried cheapest bound first (pinned
	// claims' price + the LP bound of what is left), and the rest is packed only while
	// that bound can still beat the best so far.
	type try struct {
		handed
		shapes []*shape
		bound  float64
		plain  bool // the movable claims alone re-packed, the pinned ones untouched
	}
	var tries []*try
	if len(nodes) >= 2 {
		t := &try{handed: handed{price: pinnedNow, rest: movable}, shapes: restShapes(movable), plain: true}
		t.bound = t.price + s.shapesBound(p, cs, offs, t.shapes)*(1-1e-6)
		tries = append(tries, t)
	}
	for mode := range pinModes {
		if noHandOut {
			break
		}
		if mode == pinFewest && len(states)*len(loose) > 1<<22 {
			continue // quadratic; the other modes stay
		}
		h := s.handOut(p, states, loose, mode)
		if h.given == nil {
			continue
		}
		t := &try{handed: h, shapes: restShapes(h.rest)}
		t.bound = t.price + s.shapesBound(p, cs, offs, t.shapes)*(1-1e-6)
		tries = append(tries, t)
	}
	slices.SortStableFunc(tries, func(a, b *try) int { return cmpFloat(a.bound, b.bound) })
	bestPrice := before - 1e-9
	var best *try
	var bestPats []packed
	for ti, t := range tries {
		if t.bound >= bestPrice {
			break
		}
		if slices.ContainsFunc(tries[:ti], func(o *try) bool { return sameRest(o.rest, t.rest) }) {
			continue // this rest was packed for an earlier try, whose pinned claims cost no more
		}
		price := t.price
		var pats []packed
		if len(t.rest) > 0 {
			var cost float64
			if pats, cost = s.packShapes(p, cs, offs, t.shapes, bestPrice-price); pats == nil {
				continue
			}
			price += cost
		}
		if price < bestPrice {
			bestPrice, best, bestPats = price, t, pats
		}
	}
	if best == nil {
		return nil, false
	}
	if best.plain {
		return s.freshClaims(p, cs, best.shapes, bestPats), true
	}
	bestGiven, bestPos, bestShapes := best.given, best.final, best.shapes
	for i, st := range states {
		n := st.n
		if len(st.keepPods) == len(n.pods) && len(bestGiven[i]) == 0 {
			continue
		}
		n.pods, n.runs, n.used = st.keepPods, st.keepRuns, st.keepUsed
		if len(bestGiven[i]) > 0 && !slices.Contains(n.applied, cs) {
			copy(n.bits, st.bits)
			n.zm, n.cm = st.zm, st.cm
			n.reqs, _ = n.reqs.And(cs.reqs)
			n.applied = append(n.applied, cs)
		}
		for _, lp := range bestGiven[i] {
			n.pods = append(n.pods, lp.pod)
			n.used.add(&lp.c.req)
			if l := len(n.runs); l > 0 && n.runs[l-1].c == lp.c {
				n.runs[l-1].k++
			} else {
				n.runs = append(n.runs, run{c: lp.c, k: 1})
			}
		}
		if len(n.pods) > 0 {
			s.setTarget(n, bestPos[i])
		} // else repack drops it
	}
	return s.freshClaims(p, cs, bestShapes, bestPats), true
}

// handed is one way of handing the movable pods out to the pinned NodeClaims: the pods
// each is given, the position each is then priced at, their total price, and the pods
// left for fresh NodeClaims.
type handed struct {
	given [][]loosePod
	final []int
	price float64
	rest  []loosePod
}

// handOut gives the movable pods (largest first) to the pinned NodeClaims' room as mode
// measures and assigns it.
func (s *solver) handOut(p *pool, states []*pinnedState, loose []loosePod, mode int) handed {
	given := make([][]loosePod, len(states))
	pos := make([]int, len(states))
	room := make([]vec, len(states))
	for i, st := range states {
		pos[i] = -1
		if !st.ok {
			continue
		}
		pos[i] = st.pos
		switch mode {
		case pinTarget:
			if bitTest(st.bits, st.n.target) && s.u.types[p.types[st.n.target]].hasOffering(st.zm, st.cm) {
				pos[i] = st.n.target
			}
		case pinFirst, pinFewest:
			pos[i] = s.largestFor(p, st.bits, st.zm, st.cm)
		}
		room[i] = s.u.types[p.types[pos[i]]].alloc
		room[i].sub(&p.dsOverhead)
		room[i].sub(&st.keepUsed)
		if !room[i].fits(&vec{}) {
			pos[i] = -1 // what it keeps does not fit the target: cheapest only
		}
	}
	var rest []loosePod
	start, from := 0, 0 // from: first claim that may take the current class (rooms only shrink)
	for li, lp := range loose {
		if li == 0 || loose[li-1].c != lp.c {
			from = start
		}
		placed := false
		if mode == pinFewest {
			best := -1
			for i := start; i < len(states); i++ {
				if pos[i] >= 0 && room[i].fitsFixed(&lp.c.req) && (s.fixedOnly || room[i].fits(&lp.c.req)) && (best < 0 ||
					len(states[i].keepPods)+len(given[i]) < len(states[best].keepPods)+len(given[best])) {
					best = i
				}
			}
			if best >= 0 {
				room[best].sub(&lp.c.req)
				given[best] = append(given[best], lp)
				placed = true
			}
		}
		for i := max(start, from); i < len(states) && mode != pinFewest; i++ {
			if pos[i] >= 0 && room[i].fitsFixed(&lp.c.req) && (s.fixedOnly || room[i].fits(&lp.c.req)) {
				room[i].sub(&lp.c.req)
				given[i] = append(given[i], lp)
				placed = true
				from = i
				break
			}
		}
		if !placed {
			rest = append(rest, lp)
			from = len(states)
		}
		for start < len(states) && (pos[start] < 0 || !room[start].fits(&s.minReq)) {
			start++
		}
	}
	price := 0.0
	final := make([]int, len(states))
	for i, st := range states {
		if len(st.keepPods) == 0 && len(given[i]) == 0 {
			final[i] = -1 // every pod it held moves out and it gets none: it goes
			continue
		}
		used := st.keepUsed
		for _, lp := range given[i] {
			used.add(&lp.c.req)
		}
		bits, zm, cm := st.n.bits, st.n.zm, st.n.cm
		if len(given[i]) > 0 {
			bits, zm, cm = st.bits, st.zm, st.cm
		}
		final[i] = s.cheapestFor(p, bits, zm, cm, &used)
		if final[i] < 0 {
			return handed{} // cannot happen: the room was measured on a fitting type
		}
		price += p.pricesIn(s.u, zm, cm)[final[i]].price
	}
	return handed{given: given, final: final, price: price, rest: rest}
}

// restShapes merges pods by request vector.
func restShapes(rest []loosePod) []*shape {
	var shapes []*shape
	byReq := map[vec]int{}
	for _, lp := range rest {
		si, ok := byReq[lp.c.req]
		if !ok {
			si = len(shapes)
			byReq[lp.c.req] = si
			shapes = append(shapes, &shape{req: lp.c.req})
		}
		shapes[si].pods = append(shapes[si].pods, lp)
	}
	return shapes
}

func sameRest(a, b []loosePod) bool {
	return slices.EqualFunc(a, b, func(x, y loosePod) bool { return x.pod == y.pod })
}

// shapesBound is the covering LP's value of the shapes' total demand over the types
// packShapes may use: no packing of them costs less.
func (s *solver) shapesBound(p *pool, cs *compatSet, offs []offering, shapes []*shape) float64 {
	if len(shapes) == 0 {
		return 0
	}
	var demand vec
	for _, sh := range shapes {
		demand.addScaled(&sh.req, int64(len(sh.pods)))
	}
	var cands []int
	for _, j := range cs.front {
		if offs[j].ct >= 0 && offs[j].price > 0 {
			cands = append(cands, j)
		}
	}
	y := s.poolDuals(p, offs, cands, demand)
	v := 0.0
	for d := range demand.a {
		v += y[d] * float64(demand.a[d])
	}
	return v
}

// How the room of pinned NodeClaims is measured and handed out in repackPinned: at the
// cheapest type for what each keeps, at the type the greedy sized it for, or at the largest
// type first fit or fewest pods first (upstream's first fit, shrunk afterwards).
const (
	pinCheapest = iota
	pinTarget
	pinFirst
	pinFewest
	pinModes
)

// largestFor is the position of the most expensive type of p among bits offered in zm × cm
// (the largest, for first fit), or -1.
func (s *solver) largestFor(p *pool, bits []uint64, zm uint64, cm uint8) int {
	offs := p.pricesIn(s.u, zm, cm)
	best := -1
	for j := range p.types {
		if bitTest(bits, j) && offs[j].ct >= 0 && (best < 0 || offs[j].price > offs[best].price) {
			best = j
		}
	}
	return best
}

// cheapestFor is the position of the cheapest type of p among bits, offered in zm × cm,
// that holds used plus the DaemonSets, or -1.
func (s *solver) cheapestFor(p *pool, bits []uint64, zm uint64, cm uint8, used *vec) int {
	need := *used
	need.add(&p.dsOverhead)
	offs := p.pricesIn(s.u, zm, cm)
	best := -1
	for j := range p.types {
		if !bitTest(bits, j) || offs[j].ct < 0 || !(s.u.types[p.types[j]].alloc.fitsFixed(&need) && (s.fixedOnly || s.u.types[p.types[j]].alloc.fits(&need))) {
			continue
		}
		if best < 0 || offs[j].price < offs[best].price {
			best = j
		}
	}
	return best
}
