package scheduling

import (
	"container/heap"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/lp"
)

// IntegerBoundBudget is how many search nodes IntegerLowerBound expands before it settles
// for the smallest bound still open (a few tens of milliseconds).
const IntegerBoundBudget = 20000

// IntegerLowerBound is LowerBound with whole nodes: the price of the cheapest multiset of
// instance types (each at the cheapest available offering a NodePool allows, its
// allocatable less the pool's DaemonSet overhead, as in LowerBound) such that
//
//   - their summed allocatable covers the pods' total requests, less the free capacity of
//     existing nodes, in every resource some type provides, and
//   - every pod that fits no existing node's free capacity fits at least one chosen type.
//
// It ignores how the pods pack onto the chosen nodes, pod requirements and NodePool limits
// (each only relaxes the problem), so no plan that places every pod costs less; and it is
// never below LowerBound, which also lets nodes be fractional.
//
// Algorithm: the types are reduced to their Pareto front (a type with no more allocatable
// in any resource and no lower price than another is never needed), ordered by descending
// price, and searched best first: a search node fixes how many of the first i types are
// used; its children add one more of type i, or move on to type i+1; its bound is its
// price plus the most of the covering LP over types i.. for what is left and, for each
// pod shape no chosen type fits yet, the cheapest type from i on that fits it. The first
// search node popped that covers everything is optimal. When IntegerBoundBudget search
// nodes have been expanded, the bound of the node popped (the smallest still open) is
// returned: every solution lies below some open node, so it is a lower bound too.
func IntegerLowerBound(s *Snapshot, pods []*corev1.Pod) float64 {
	b := newIntBound(s, pods)
	return max(b.search(IntegerBoundBudget), LowerBound(s, pods))
}

// intBound is the integer covering problem of IntegerLowerBound.
type intBound struct {
	demand vec
	cols   []intCol
	// shapes are the request vectors of the pods no existing node's free capacity holds,
	// only the maximal ones (a type that fits a larger shape fits the smaller ones), at most
	// 64 (dropping one only relaxes the problem).
	shapes []vec
	// fits[i] is the bit set of shapes cols[i] fits; sufMin[s][i] the cheapest price of a
	// column ≥ i fitting shape s (+Inf when none).
	fits   []uint64
	sufMin [][]float64
	// rows are the dims whose demand is positive and that some column provides; a row no
	// column provides is left out, as LowerBound leaves it out.
	rows []int
	// want is the bit set of the shapes that some column fits (a shape no type fits cannot
	// be placed; the bound is for plans that place every pod).
	want uint64
}

type intCol struct {
	alloc vec
	price float64
}

func newIntBound(s *Snapshot, pods []*corev1.Pod) *intBound {
	sv := newSolver(s, policyEfficient, pods)
	sv.addExistingNodes()
	b := &intBound{}
	var shapes []vec
	counts := map[vec]int64{}
	for _, p := range pods {
		r, err := sv.u.res.podRequests(&p.Spec)
		if err != nil {
			continue
		}
		b.demand.add(&r)
		counts[r]++
		placeable := false
		for _, n := range sv.nodes[:sv.existing] {
			if n.free.fits(&r) {
				placeable = true
				break
			}
		}
		if !placeable && !slices.Contains(shapes, r) {
			shapes = append(shapes, r)
		}
	}
	for _, n := range sv.nodes[:sv.existing] {
		for d := range b.demand.dims() {
			b.demand.set(d, b.demand.get(d)-max(n.free.get(d), 0))
		}
	}
	for _, p := range sv.pools {
		if p.err != nil {
			continue
		}
		for j, ti := range p.types {
			if p.price[j] <= 0 || math.IsInf(p.price[j], 1) {
				continue
			}
			c := intCol{price: p.price[j], alloc: sv.u.types[ti].alloc}
			c.alloc.sub(&p.dsOverhead)
			c.alloc.clamp(0, math.MaxInt64)
			b.cols = append(b.cols, c)
		}
	}
	// A column another dominates has no more usable capacity than it either, so the front
	// is taken before (fewer searches) and after tightening.
	b.cols = paretoCols(b.cols)
	for i := range b.cols {
		b.cols[i].alloc = usable(b.cols[i].alloc, counts, &b.demand)
	}
	b.cols = paretoCols(b.cols)
	slices.SortStableFunc(b.cols, func(x, y intCol) int { return cmpDesc(x.price, y.price) })
	for d := range b.demand.dims() {
		if b.demand.get(d) > 0 && slices.ContainsFunc(b.cols, func(c intCol) bool { return c.alloc.get(d) > 0 }) {
			b.rows = append(b.rows, d)
		}
	}
	b.shapes = maximalShapes(shapes, 64)
	b.fits = make([]uint64, len(b.cols))
	for i := range b.cols {
		for k := range b.shapes {
			if b.cols[i].alloc.fits(&b.shapes[k]) {
				b.fits[i] |= 1 << k
			}
		}
		b.want |= b.fits[i]
	}
	b.sufMin = make([][]float64, len(b.shapes))
	for k := range b.shapes {
		m := make([]float64, len(b.cols)+1)
		m[len(b.cols)] = math.Inf(1)
		for i := len(b.cols) - 1; i >= 0; i-- {
			m[i] = m[i+1]
			if b.fits[i]&(1<<k) != 0 {
				m[i] = min(m[i], b.cols[i].price)
			}
		}
		b.sufMin[k] = m
	}
	return b
}

// paretoCols drops every column another column dominates: at least as much allocatable in
// every resource and no higher price (of two equal columns the first stays).
func paretoCols(cols []intCol) []intCol {
	var out []intCol
	for i, c := range cols {
		dominated := false
		for j, o := range cols {
			if i == j || o.price > c.price || !o.alloc.fits(&c.alloc) {
				continue
			}
			if o.price < c.price || o.alloc != c.alloc || j < i {
				dominated = true
				break
			}
		}
		if !dominated {
			out = append(out, c)
		}
	}
	return out
}

// maximalShapes keeps the shapes no other shape contains, the largest first, at most limit.
func maximalShapes(shapes []vec, limit int) []vec {
	var out []vec
	for i, s := range shapes {
		contained := false
		for j, o := range shapes {
			if i != j && o.fits(&s) && (o != s || j < i) {
				contained = true
				break
			}
		}
		if !contained {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b vec) int {
		return cmpDesc(float64(a.a[dimCPU])+float64(a.a[dimMemory])/(1<<20), float64(b.a[dimCPU])+float64(b.a[dimMemory])/(1<<20))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// ibNode is a search node: counts of cols[:i] fixed (and col i partly), at price cost,
// leaving rem to cover and the shapes in sat fitted.
type ibNode struct {
	i     int
	cost  float64
	rem   vec
	sat   uint64
	bound float64
}

type ibHeap []*ibNode

func (h ibHeap) Len() int           { return len(h) }
func (h ibHeap) Less(a, b int) bool { return h[a].bound < h[b].bound }
func (h ibHeap) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *ibHeap) Push(x any)        { *h = append(*h, x.(*ibNode)) }
func (h *ibHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// search runs the best-first branch and bound for at most budget expansions.
func (b *intBound) search(budget int) float64 {
	if len(b.cols) == 0 {
		return 0
	}
	root := &ibNode{rem: b.demand}
	root.bound = b.bound(root)
	if math.IsInf(root.bound, 1) {
		return 0
	}
	h := &ibHeap{root}
	for expanded := 0; h.Len() > 0; expanded++ {
		n := heap.Pop(h).(*ibNode)
		if b.covered(n) || expanded >= budget {
			return n.bound
		}
		// Add one more of column i, when it covers something still wanted.
		c := &b.cols[n.i]
		useful := b.fits[n.i]&b.want&^n.sat != 0
		for _, d := range b.rows {
			useful = useful || (n.rem.get(d) > 0 && c.alloc.get(d) > 0)
		}
		if useful {
			child := &ibNode{i: n.i, cost: n.cost + c.price, rem: n.rem, sat: n.sat | b.fits[n.i]}
			child.rem.sub(&c.alloc)
			if child.bound = b.bound(child); !math.IsInf(child.bound, 1) {
				heap.Push(h, child)
			}
		}
		// Or move on to the next column.
		if n.i+1 < len(b.cols) {
			child := &ibNode{i: n.i + 1, cost: n.cost, rem: n.rem, sat: n.sat}
			if child.bound = b.bound(child); !math.IsInf(child.bound, 1) {
				heap.Push(h, child)
			}
		}
	}
	return 0 // unreachable while the root is feasible: the last column repeated covers it
}

func (b *intBound) covered(n *ibNode) bool {
	if b.want&^n.sat != 0 {
		return false
	}
	for _, d := range b.rows {
		if n.rem.get(d) > 0 {
			return false
		}
	}
	return true
}

// bound is the node's cost plus what covering the rest with columns i.. must cost at least:
// the covering LP's optimum, and the cheapest column fitting each shape still unfitted.
func (b *intBound) bound(n *ibNode) float64 {
	extra := 0.0
	for k := range b.shapes {
		if b.want&^n.sat&(1<<k) != 0 {
			extra = max(extra, b.sufMin[k][n.i])
		}
	}
	var rows []int
	for _, d := range b.rows {
		if n.rem.get(d) > 0 {
			rows = append(rows, d)
		}
	}
	if len(rows) == 0 {
		return n.cost + extra
	}
	var cols [][]float64
	var prices []float64
	provided := make([]bool, len(rows))
	for _, c := range b.cols[n.i:] {
		col := make([]float64, len(rows))
		provides := false
		for r, d := range rows {
			col[r] = float64(c.alloc.get(d)) / float64(n.rem.get(d))
			if c.alloc.get(d) > 0 {
				provided[r], provides = true, true
			}
		}
		if provides {
			cols = append(cols, col)
			prices = append(prices, c.price)
		}
	}
	if slices.Contains(provided, false) {
		return math.Inf(1)
	}
	v, _ := lp.Cover(cols, prices)
	return n.cost + max(v, extra)
}

// usableBudget caps the search nodes of one usable search; one that runs out leaves the
// resource at its allocatable.
const usableBudget = 2000

// usable tightens a node's allocatable to what the pods can use of it: in each resource r,
// the most any set of the pods (counts per request vector) that fits the node in every
// resource requests of r. Nodes never hold more of r than that, so the cover stays a lower
// bound; it sees that pods of 512 MiB use at most 13.5 GiB of a node's 13.8. Depth-first
// over the request vectors, largest in r first, with the bound min(what is left of r, what
// the vectors left request of r, and per other resource d what is left of d times the
// largest r/d ratio among them); a search that runs out of budget leaves r as it was.
// Resources the pods do not request in total are left as they are.
func usable(alloc vec, counts map[vec]int64, demand *vec) vec {
	shapes := make([]vec, 0, len(counts))
	for s := range counts {
		if alloc.fits(&s) {
			shapes = append(shapes, s)
		}
	}
	out := alloc
	for r := range max(alloc.dims(), demand.dims()) {
		if alloc.get(r) <= 0 || demand.get(r) <= 0 {
			continue // only resources the cover counts
		}
		var mine []vec
		for _, s := range shapes {
			if s.get(r) > 0 {
				mine = append(mine, s)
			}
		}
		slices.SortFunc(mine, func(a, b vec) int { return cmpDesc(float64(a.get(r)), float64(b.get(r))) })
		u := &usableSearch{r: r, shapes: mine, counts: counts, nodes: usableBudget}
		u.suffix = make([]int64, len(mine)+1)
		for i := len(mine) - 1; i >= 0; i-- {
			u.suffix[i] = u.suffix[i+1] + mine[i].get(r)*counts[mine[i]]
		}
		u.dfs(0, alloc, 0)
		if u.nodes > 0 {
			out.set(r, min(alloc.get(r), u.best))
		}
	}
	return out
}

type usableSearch struct {
	r      int
	shapes []vec
	counts map[vec]int64
	suffix []int64 // r requested by shapes[i:] at their full counts
	best   int64
	nodes  int
}

func (u *usableSearch) dfs(i int, left vec, got int64) {
	if u.nodes <= 0 {
		return
	}
	u.nodes--
	u.best = max(u.best, got)
	if i == len(u.shapes) || got+u.upper(i, &left) <= u.best {
		return
	}
	s := u.shapes[i]
	k := min(left.maxCopies(&s, u.counts[s]), u.counts[s])
	for ; k >= 0 && u.nodes > 0; k-- {
		next := left
		next.addScaled(&s, -k)
		u.dfs(i+1, next, got+k*s.get(u.r))
	}
}

// upper bounds the r that shapes[i:] can still add within left.
func (u *usableSearch) upper(i int, left *vec) int64 {
	ub := min(left.get(u.r), u.suffix[i])
	for d := range left.dims() {
		if d == u.r {
			continue
		}
		ratio := 0.0
		for _, s := range u.shapes[i:] {
			if s.get(d) <= 0 {
				ratio = math.Inf(1)
				break
			}
			ratio = max(ratio, float64(s.get(u.r))/float64(s.get(d)))
		}
		if !math.IsInf(ratio, 1) {
			ub = min(ub, int64(math.Floor(ratio*float64(left.get(d))+1e-9)))
		}
	}
	return ub
}

// dims is the number of dimensions v holds: the fixed array's and the overflow's.
func (v *vec) dims() int { return numFixed + xLen(v.x) }
