package scheduling

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// LowerBound is the fractional lower bound of CATALOG.md: the optimum of
//
//	minimise Σ price_t·x_t  subject to  Σ alloc_t,r·x_t ≥ demand_r for every resource r, x ≥ 0
//
// over every type any NodePool offers (at its cheapest available offering the pool allows),
// where alloc is the type's allocatable minus the pool's DaemonSet overhead and demand is
// the pods' total requests minus the free capacity of existing nodes. Resources no type
// provides are left out. No packing of the pods onto new nodes can cost less. The LP has one
// row per resource (at most eight), so a dense revised simplex solves it in microseconds.
func LowerBound(s *Snapshot, pods []*corev1.Pod) float64 {
	sv := newSolver(s, policyEfficient, pods)
	sv.addExistingNodes()
	var demand vec
	for _, p := range pods {
		r, err := sv.u.res.podRequests(p)
		if err == nil {
			demand.add(&r)
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
			demand.addScaled(&c.req, int64(len(c.pods)))
		}
	}
	_, y := s.coverLP(demand)
	return y
}

// coverLP builds and solves the covering LP for a demand vector.
func (s *solver) coverLP(demand vec) (float64, vec64) {
	for _, n := range s.nodes[:s.existing] {
		for d := range demand {
			demand[d] -= max(n.free[d], 0)
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
				if s.u.types[ti].alloc[d]-p.dsOverhead[d] > 0 && p.price[j] > 0 {
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
				col[i] = float64(max(t.alloc[d]-p.dsOverhead[d], 0)) / float64(demand[d])
			}
			cols = append(cols, col)
			prices = append(prices, p.price[j])
		}
	}
	val, duals := simplexCover(cols, prices)
	for i, d := range rows {
		y[d] = duals[i] / float64(demand[d])
	}
	return val, y
}

// simplexCover solves min c·x s.t. Σ_t cols[t]·x_t ≥ 1 (every row), x ≥ 0 with a revised
// simplex over the m rows, using big-M artificial variables for the starting basis. It
// returns the optimum and the row duals.
func simplexCover(cols [][]float64, c []float64) (float64, []float64) {
	val, y, _, _ := simplexCoverBasis(cols, c)
	return val, y
}

// simplexCoverBasis is simplexCover that also returns the final basis (variable indices;
// structural when < len(cols)) and the basic variables' values, the primal solution.
func simplexCoverBasis(cols [][]float64, c []float64) (float64, []float64, []int, []float64) {
	m := len(cols[0])
	bigM := 1.0
	for _, p := range c {
		bigM = max(bigM, p)
	}
	bigM *= 1e4
	// Variables: structural 0..n-1, surplus n..n+m-1 (column -e_r), artificial n+m.. (e_r).
	n := len(cols)
	column := func(j int, out []float64) float64 {
		clear(out)
		switch {
		case j < n:
			copy(out, cols[j])
			return c[j]
		case j < n+m:
			out[j-n] = -1
			return 0
		}
		out[j-n-m] = 1
		return bigM
	}
	basis := make([]int, m)
	binv := make([][]float64, m)
	xb := make([]float64, m)
	cb := make([]float64, m)
	for i := range m {
		basis[i] = n + m + i
		binv[i] = make([]float64, m)
		binv[i][i] = 1
		xb[i] = 1
		cb[i] = bigM
	}
	y, a, d := make([]float64, m), make([]float64, m), make([]float64, m)
	for iter := 0; iter < 50*(n+m); iter++ {
		for r := range m {
			y[r] = 0
			for i := range m {
				y[r] += cb[i] * binv[i][r]
			}
		}
		enter, best := -1, -1e-9
		for j := 0; j < n+2*m; j++ {
			cost := column(j, a)
			rc := cost
			for r := range m {
				rc -= y[r] * a[r]
			}
			if rc < best {
				enter, best = j, rc
			}
		}
		if enter < 0 {
			break
		}
		cost := column(enter, a)
		for i := range m {
			d[i] = 0
			for r := range m {
				d[i] += binv[i][r] * a[r]
			}
		}
		leave, ratio := -1, math.Inf(1)
		for i := range m {
			if d[i] > 1e-12 && xb[i]/d[i] < ratio {
				leave, ratio = i, xb[i]/d[i]
			}
		}
		if leave < 0 {
			break // unbounded: cannot happen with non-negative prices
		}
		piv := d[leave]
		for r := range m {
			binv[leave][r] /= piv
		}
		xb[leave] /= piv
		for i := range m {
			if i == leave || d[i] == 0 {
				continue
			}
			f := d[i]
			for r := range m {
				binv[i][r] -= f * binv[leave][r]
			}
			xb[i] -= f * xb[leave]
		}
		basis[leave], cb[leave] = enter, cost
	}
	val := 0.0
	for i := range m {
		val += cb[i] * xb[i]
	}
	return val, y, basis, xb
}
