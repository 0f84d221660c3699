package lp

import (
	"math/rand/v2"
	"testing"
)

// TestPackDuality checks Pack's solution for feasibility and strong duality.
func TestPackDuality(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for it := 0; it < 2000; it++ {
		m, n := 1+r.IntN(5), 1+r.IntN(30)
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, n)
			for j := range a[i] {
				if r.IntN(4) > 0 {
					a[i][j] = r.Float64() * 0.5
				}
			}
		}
		c, u := make([]float64, n), make([]float64, n)
		for j := range c {
			c[j] = r.Float64()
			u[j] = float64(r.IntN(5))
		}
		v, y, x := Pack(a, c, u, nil)
		// primal feasibility
		for i := range m {
			s := 0.0
			for j := range n {
				s += a[i][j] * x[j]
			}
			if s > 1+1e-7 {
				t.Fatalf("it %d row %d infeasible %v", it, i, s)
			}
		}
		for j := range n {
			if x[j] < -1e-9 || x[j] > u[j]+1e-9 {
				t.Fatalf("it %d x out of bounds", it)
			}
		}
		dual := 0.0
		for i := range m {
			if y[i] < -1e-9 {
				t.Fatalf("it %d negative dual", it)
			}
			dual += y[i]
		}
		for j := range n {
			rc := c[j]
			for i := range m {
				rc -= y[i] * a[i][j]
			}
			if rc > 0 {
				dual += u[j] * rc
			}
		}
		if dual < v-1e-7 || dual > v+1e-6*(1+v) {
			t.Fatalf("it %d primal %v dual %v", it, v, dual)
		}
	}
}

// TestCoverDuality checks Cover on random instances: the primal is feasible (every row
// covered), the duals are feasible (no column prices below its cost) and the two optima
// agree.
func TestCoverDuality(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 2000; it++ {
		m, n := 1+r.IntN(6), 1+r.IntN(25)
		cols := make([][]float64, n)
		c := make([]float64, n)
		for j := range cols {
			cols[j] = make([]float64, m)
			for i := range cols[j] {
				if r.IntN(3) > 0 {
					cols[j][i] = 0.05 + r.Float64()
				}
			}
			c[j] = 0.1 + r.Float64()
		}
		for i := range m { // every row coverable
			cols[r.IntN(n)][i] = 0.5 + r.Float64()
		}
		v, y, basis, xb := CoverBasis(cols, c)
		covered := make([]float64, m)
		for k, j := range basis {
			if j < n {
				if xb[k] < -1e-9 {
					t.Fatalf("it %d negative primal", it)
				}
				for i := range m {
					covered[i] += cols[j][i] * xb[k]
				}
			} else if j >= n+m && xb[k] > 1e-7 {
				t.Fatalf("it %d artificial variable left in the basis at %v", it, xb[k])
			}
		}
		for i := range m {
			if covered[i] < 1-1e-7 {
				t.Fatalf("it %d row %d covered %v", it, i, covered[i])
			}
		}
		dual := 0.0
		for i := range m {
			if y[i] < -1e-9 {
				t.Fatalf("it %d negative dual %v", it, y[i])
			}
			dual += y[i]
		}
		for j := range n {
			price := 0.0
			for i := range m {
				price += y[i] * cols[j][i]
			}
			if price > c[j]+1e-7 {
				t.Fatalf("it %d column %d priced %v above its cost %v", it, j, price, c[j])
			}
		}
		if v2, _ := Cover(cols, c); v2 != v || dual < v-1e-6*(1+v) || dual > v+1e-6*(1+v) {
			t.Fatalf("it %d primal %v dual %v", it, v, dual)
		}
	}
}
