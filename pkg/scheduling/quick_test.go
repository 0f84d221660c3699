package scheduling

import (
	"testing"
	"time"
)

func TestWorkloadsPlanValid(t *testing.T) {
	its := catalogTypes(t)
	snap := &Snapshot{NodePools: []NodePool{benchPool(its)}}
	sizes := []int{1, 100, 1000}
	if !testing.Short() {
		sizes = append(sizes, 5000)
	}
	for _, w := range benchWorkloads {
		for _, n := range sizes {
			pods := w.gen(n, 7)
			start := time.Now()
			plan := Solve(snap, pods)
			el := time.Since(start)
			lb := LowerBound(snap, pods)
			ffd := solveWith(snap, pods, policyLargest)
			eff := solveWith(snap, pods, policyEfficient)
			t.Logf("%s/%d: %v claims=%d price=%.3f lb=%.3f ratio=%.3f ffd=%.3f eff=%.3f unsched=%d", w.name, n, el, len(plan.NewNodeClaims), plan.Price, lb, plan.Price/lb, ffd.Price, eff.Price, len(plan.Unschedulable))
			if err := checkPlan(snap, pods, plan); err != nil {
				t.Errorf("%s/%d: %v", w.name, n, err)
			}
		}
	}
}
