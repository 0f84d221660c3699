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
// instances (the budget is not reached there), some with a binding overflow dimension,
// which the bounds leave out and the search must still respect.
func TestKnapsackExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 300; it++ {
		ns := 1 + r.IntN(5)
		var shapes []*shape
		rem := make([]int64, ns)
		for i := range ns {
			sh := &shape{val: r.Float64()}
			sh.req.a[0] = int64(1 + r.IntN(8))
			sh.req.a[1] = int64(1 + r.IntN(8))
			sh.req.a[3] = 1
			if r.IntN(3) == 0 {
				sh.req.a[4] = 1
			}
			if it%2 == 1 && r.IntN(2) == 0 {
				sh.req.set(numFixed+1, int64(1+r.IntN(3)))
			}
			shapes = append(shapes, sh)
			rem[i] = int64(r.IntN(6))
		}
		capv := vec{a: [numFixed]int64{int64(5 + r.IntN(20)), int64(5 + r.IntN(20)), 0, int64(3 + r.IntN(10)), int64(r.IntN(3))}}
		if it%2 == 1 {
			capv.set(numFixed+1, int64(r.IntN(5)))
		}
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
