package scheduling

import (
	"math/rand/v2"
	"testing"
)

// bruteKnap is the exhaustive optimum of the bounded knapsack.
func bruteKnap(capv vec, shapes []*shape, rem []int64, i int) float64 {
	if i == len(shapes) {
		return 0
	}
	best := 0.0
	for n := int64(0); n <= rem[i]; n++ {
		c := capv
		c.addScaled(&shapes[i].req, -n)
		if !c.fits(&vec{}) {
			break
		}
		if v := float64(n)*shapes[i].val + bruteKnap(c, shapes, rem, i+1); v > best {
			best = v
		}
	}
	return best
}

// TestKnapsackExact checks the branch and bound against exhaustive search on small
// instances (the budget is not reached there).
func TestKnapsackExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 300; it++ {
		ns := 1 + r.IntN(5)
		var shapes []*shape
		rem := make([]int64, ns)
		for i := range ns {
			sh := &shape{val: r.Float64()}
			sh.req[0] = int64(1 + r.IntN(8))
			sh.req[1] = int64(1 + r.IntN(8))
			sh.req[3] = 1
			if r.IntN(3) == 0 {
				sh.req[4] = 1
			}
			shapes = append(shapes, sh)
			rem[i] = int64(r.IntN(6))
		}
		capv := vec{int64(5 + r.IntN(20)), int64(5 + r.IntN(20)), 0, int64(3 + r.IntN(10)), int64(r.IntN(3))}
		want := bruteKnap(capv, shapes, rem, 0)
		k := &knapsack{total: 1 << 30}
		k.reset(shapes, rem)
		x := make([]int64, ns)
		got := k.fill(capv, x, 0, 0)
		if got < want-1e-9 || got > want+1e-9 {
			t.Fatalf("it %d got %v want %v", it, got, want)
		}
	}
}

// TestPackLPDuality checks packLP's solution for feasibility and strong duality.
func TestPackLPDuality(t *testing.T) {
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
		v, y, x := packLP(a, c, u, nil)
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
