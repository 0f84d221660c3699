package scheduling

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

type workload struct {
	name string
	gen  func(n int, seed uint64) []*corev1.Pod
}

var benchWorkloads = []workload{{"diverse", diversePods}, {"web", webPods}, {"selectors", selectorPods}, {"batch", batchPods},
	{"batch-stranded", batchStrandedPods}, {"anti", antiPods}, {"hostport", hostPortPods},
	{"hostspread", spreadPods}}

// BenchmarkSolve reports pods/s, price / lower bound and price / first-fit-decreasing.
func BenchmarkSolve(b *testing.B) {
	its := catalogTypes(b)
	snap := &Snapshot{NodePools: []NodePool{benchPool(its)}}
	for _, w := range benchWorkloads {
		for _, n := range []int{1, 100, 1000, 5000, 20000} {
			b.Run(fmt.Sprintf("%s/%d", w.name, n), func(b *testing.B) {
				pods := w.gen(n, 42)
				var plan *Plan
				start := time.Now()
				b.ResetTimer()
				for range b.N {
					plan = Solve(snap, pods)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "pods/s")
				if lb := LowerBound(snap, pods); lb > 0 {
					b.ReportMetric(plan.Price/lb, "price/lb")
				}
				ffd := solveWith(snap, pods, policyLargest)
				if ffd.Price > 0 {
					b.ReportMetric(plan.Price/ffd.Price, "price/ffd")
				}
				b.ReportMetric(float64(len(plan.Unschedulable)), "unsched")
			})
		}
	}
}

// solveWith runs a single policy.
func solveWith(s *Snapshot, pods []*corev1.Pod, pol policy) *Plan {
	sv := newSolver(s, pol, pods)
	sv.solve(pods)
	return sv.finalize()
}
