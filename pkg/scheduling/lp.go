package scheduling

import (
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
		r, err := sv.u.res.podRequests(p)
		if err == nil {
			demand.addScaledSat(&r, 1)
		}
	}
	v, _ := sv.coverLP(demand)
	return v
}

// dualPrices returns the LP's dual prices for the pending pods: the worth, in dollars per
// hour, of one unit of each resource. A pod's value is its requests at these prices; no
// node holds more value than it costs, so value/price measures how well a node is used.
func (s *solver) dualPrices() vec64 {
	var demand vec
	for _, c := range s.classes {
		if c.err == nil {
			demand.addScaledSat(&c.req, int64(len(c.pods)))
		}
	}
	_, y := s.coverLP(demand)
	return y
}

// coverLP builds and solves the covering LP for a demand vector, one row per dimension,
// overflow included; only the fixed dimensions get a dual price (see vec64).
func (s *solver) coverLP(dv vec) (float64, vec64) {
	demand := make([]int64, s.u.res.dims())
	for d := range demand {
		demand[d] = dv.get(d)
		for _, n := range s.nodes[:s.existing] {
			demand[d] -= max(n.free.get(d), 0)
		}
	}
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
		return 0, y
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
	return val, y
}
