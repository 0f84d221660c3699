package scheduling

import (
	"cmp"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/lp"
)

// LowerBound is the fractional lower bound of CATALOG.md: the optimum of
//
//	minimise Σ price_t·x_t  subject to  Σ alloc_t,r·x_t ≥ demand_r for every resource r, x ≥ 0
//
// over every type any NodePool offers (at its cheapest available offering the pool allows),
// where alloc is the type's allocatable minus the pool's DaemonSet overhead and demand is
// the pods' total requests minus the free capacity of existing nodes. Resources no type
// provides are left out. No packing of the pods onto new nodes can cost less. The LP has one
// row per resource (a handful), so a dense revised simplex solves it in microseconds.
func LowerBound(s *Snapshot, pods []*corev1.Pod) float64 {
	sv := newSolver(s, policyEfficient, pods)
	sv.addExistingNodes()
	var demand vec
	for _, p := range pods {
		r, err := sv.u.res.podRequests(&p.Spec)
		if err == nil {
			demand.addScaledSat(&r, 1)
		}
	}
	v, _ := sv.coverLP(demand)
	return v
}

// leftByExisting counts, per class, the pods wholeOnExisting does not place on existing
// nodes (0 for a class in error).
func (s *solver) leftByExisting() []int64 {
	remaining := make([]int64, len(s.classes))
	for i, c := range s.classes {
		if c.err == nil {
			remaining[i] = int64(len(c.pods))
		}
	}
	s.wholeOnExisting(remaining)
	return remaining
}

// dualPrices returns the LP's dual prices for the pending pods, of which remaining[i] of
// class i are left by the existing-room estimate (leftByExisting): the worth, in dollars per
// hour, of one unit of each resource. A pod's value is its requests at these prices; no
// node holds more value than it costs, so value/price measures how well a node is used.
//
// The demand is what the pods that do not fit existing nodes whole ask for (wholeOnExisting).
// Counting the existing nodes' free room as if pods could be split across it priced every
// resource at zero whenever the room summed to the demand: a burst that left 600m free on
// each of eight nodes has room for no 1-CPU pod, yet four such pods then got a node each
// instead of sharing one. The estimate follows taints, node requirements and host ports, not
// spread; when every pod fits existing room whole, the prices are those of the whole demand
// (the classes still need an order, and the pods may yet be spread onto new nodes).
func (s *solver) dualPrices(remaining []int64) vec64 {
	var all, left vec
	for i, c := range s.classes {
		if c.err == nil {
			all.addScaledSat(&c.req, int64(len(c.pods)))
		}
		left.addScaledSat(&c.req, remaining[i])
	}
	if _, y, ok := s.cover(s.demandVector(left, nil)); ok {
		return y
	}
	_, y, _ := s.cover(s.demandVector(all, nil))
	return y
}

// wholeOnExisting estimates which pending pods fit the existing nodes' free room whole:
// node by node, the largest classes first (CPU, then memory), as many of each as still fit
// on a node that may take them (mayTake): one per node for a class with host ports or
// topology rules, whose spread this estimate does not follow. remaining[i] counts class i's
// pods not placed; it is lowered by the pods placed.
func (s *solver) wholeOnExisting(remaining []int64) {
	order := make([]int, 0, len(s.classes))
	for i := range s.classes {
		if remaining[i] > 0 {
			order = append(order, i)
		}
	}
	if len(order) == 0 || s.existing == 0 {
		return
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := &s.classes[a].req, &s.classes[b].req
		return cmp.Or(cmp.Compare(rb.get(dimCPU), ra.get(dimCPU)), cmp.Compare(rb.get(dimMemory), ra.get(dimMemory)))
	})
	left := int64(0)
	for _, i := range order {
		left += remaining[i]
	}
	for _, n := range s.nodes[:s.existing] {
		free := n.free
		for _, i := range order {
			if remaining[i] == 0 {
				continue
			}
			c := s.classes[i]
			limit, ok := s.mayTake(n, c)
			if !ok {
				continue
			}
			req := &c.req
			if k := free.maxCopies(req, min(remaining[i], limit)); k > 0 {
				remaining[i] -= k
				left -= k
				free.addScaled(req, -k)
			}
		}
		if left == 0 {
			return
		}
	}
}

// mayTake reports whether existing node n may take pods of class c under the class's
// current variant (taints tolerated, a requirement alternative matching the node's labels,
// no host port in use), and how many of them the estimate puts there at most.
func (s *solver) mayTake(n *node, c *class) (int64, bool) {
	v := c.variants[c.level]
	if !tolerates(c.tols, n.taints) || portsConflict(n.ports, c.ports) {
		return 0, false
	}
	if !slices.ContainsFunc(v.alts, func(alt reqSet) bool { return alt.MatchesLabels(n.labels) }) {
		return 0, false
	}
	if len(c.ports) > 0 || len(v.topo) > 0 {
		return 1, true
	}
	return math.MaxInt64, true
}

// coverLP builds and solves the covering LP for a demand vector less the existing nodes'
// free room, one row per dimension, overflow included; only the fixed dimensions get a dual
// price (see vec64).
func (s *solver) coverLP(dv vec) (float64, vec64) {
	val, y, _ := s.cover(s.demandVector(dv, s.nodes[:s.existing]))
	return val, y
}

// demandVector is dv, one entry per dimension, less the free room of the given nodes.
func (s *solver) demandVector(dv vec, less []*node) []int64 {
	demand := make([]int64, s.u.res.dims())
	for d := range demand {
		demand[d] = dv.get(d)
		for _, n := range less {
			demand[d] -= max(n.free.get(d), 0)
		}
	}
	return demand
}

// cover solves the covering LP for demand; ok is false when no resource is in demand (or
// none that a type provides), and the value and prices are then zero.
func (s *solver) cover(demand []int64) (float64, vec64, bool) {
	var cols [][]float64
	var prices []float64
	var rows []int
	for d := range demand {
		if demand[d] <= 0 {
			continue
		}
		for _, p := range s.pools {
			if p.err != nil {
				continue
			}
			for j, ti := range p.types {
				if s.u.types[ti].alloc.get(d)-p.dsOverhead.get(d) > 0 && p.price[j] > 0 {
					rows = append(rows, d)
					goto next
				}
			}
		}
	next:
	}
	var y vec64
	if len(rows) == 0 {
		return 0, y, false
	}
	for _, p := range s.pools {
		if p.err != nil {
			continue
		}
		for j, ti := range p.types {
			t := &s.u.types[ti]
			col := make([]float64, len(rows))
			for i, d := range rows {
				col[i] = float64(max(t.alloc.get(d)-p.dsOverhead.get(d), 0)) / float64(demand[d])
			}
			cols = append(cols, col)
			prices = append(prices, p.price[j])
		}
	}
	val, duals := lp.Cover(cols, prices)
	for i, d := range rows {
		if d < numFixed {
			y[d] = duals[i] / float64(demand[d])
		}
	}
	return val, y, true
}
