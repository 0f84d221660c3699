package scheduling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// TestIntegerLowerBoundTable: cases where whole nodes cost more than the LP's fractional
// ones, computed by hand.
func TestIntegerLowerBoundTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		lp, int float64
	}{
		// The LP buys the cheapest CPU, 1/16 of arm-large (16 CPU, 32 GiB, 0.7) per CPU.
		// 1 CPU: a whole small node (2 CPU, 0.1) is the cheapest that holds it.
		{"one small pod", podN(1, "a", "1", "1Gi", nil), 0.7 / 16, 0.1},
		// 3 CPU / 6 GiB: two small nodes or one medium (4 CPU, 8 GiB, 0.2).
		{"three cpus", podN(3, "b", "1", "2Gi", nil), 3 * 0.7 / 16, 0.2},
		// A 6-CPU pod fits only the large types.
		{"one big pod", podN(1, "c", "6", "1Gi", nil), 0.7 * 6 / 16, 0.7},
		// 5 pods of 1.5 CPU: a medium node holds only two (3 of its 4 CPUs), so the cover
		// by allocatable (two mediums, 8 CPU ≥ 7.5, 0.4) is not enough: two mediums and a small.
		{"unusable remainders", podN(5, "d", "1500m", "1Gi", nil), 7.5 * 0.7 / 16, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
			lp, ib := LowerBound(snap, tc.pods), IntegerLowerBound(snap, tc.pods)
			if math.Abs(lp-tc.lp) > 1e-9 || math.Abs(ib-tc.int) > 1e-9 {
				t.Fatalf("LP bound %.4f (want %.4f), integer bound %.4f (want %.4f)", lp, tc.lp, ib, tc.int)
			}
			if plan := Solve(snap, tc.pods); plan.Price < ib-1e-9 {
				t.Fatalf("plan $%.4f below the integer bound $%.4f", plan.Price, ib)
			}
		})
	}
}

// TestIntegerLowerBoundExhaustive: on tiny random cases (up to 7 pods, up to 4 instance
// types of random shape and price) the bound is at most the true optimum, found by trying
// every partition of the pods into nodes, each on the cheapest type its pods fit; and at
// least the LP bound. With the search budget cut to a few nodes it is still at most the
// optimum.
func TestIntegerLowerBoundExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	tighter := 0
	for iter := range 300 {
		var its []*cloudprovider.InstanceType
		for k := range 1 + rng.IntN(4) {
			cpu, mem := int64(1+rng.IntN(8)), int64(1+rng.IntN(16))
			its = append(its, fakeType(fmt.Sprintf("t%d", k), "amd64", cpu, mem, 0.01*float64(1+rng.IntN(50))))
		}
		pool := NodePool{Name: "p", InstanceTypes: its, Requirements: []Requirement{{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}}}}
		snap := &Snapshot{NodePools: []NodePool{pool}}
		var pods []*corev1.Pod
		for k := range 1 + rng.IntN(7) {
			pods = append(pods, mkPod(fmt.Sprintf("p%d", k), fmt.Sprintf("%dm", 100+rng.IntN(4000)), fmt.Sprintf("%dMi", 100+rng.IntN(8000)), nil))
		}
		opt := exhaustiveOptimum(its, pods)
		if math.IsInf(opt, 1) {
			continue // some pod fits no type
		}
		lp, ib := LowerBound(snap, pods), IntegerLowerBound(snap, pods)
		if ib > opt+1e-9 || ib < lp-1e-9 {
			t.Fatalf("case %d: LP %.4f ≤ integer %.4f ≤ optimum %.4f does not hold", iter, lp, ib, opt)
		}
		if cut := newIntBound(snap, pods).search(3); cut > opt+1e-9 {
			t.Fatalf("case %d: the bound cut to 3 expansions %.4f exceeds the optimum %.4f", iter, cut, opt)
		}
		if ib > lp+1e-9 {
			tighter++
		}
	}
	t.Logf("the integer bound beat the LP in %d of 300 cases", tighter)
	if tighter == 0 {
		t.Fatal("the integer bound never beat the LP bound")
	}
}

// exhaustiveOptimum is the cheapest way to run the pods: every partition into nodes, each
// node the cheapest on-demand type its pods fit.
func exhaustiveOptimum(its []*cloudprovider.InstanceType, pods []*corev1.Pod) float64 {
	cheapest := func(block []*corev1.Pod) float64 {
		total := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(block)), resource.DecimalSI)}
		for _, p := range block {
			for n, q := range p.Spec.Containers[0].Resources.Requests {
				s := total[n]
				s.Add(q)
				total[n] = s
			}
		}
		best := math.Inf(1)
		for _, it := range its {
			if cloudprovider.Fits(it.Allocatable(), total) {
				for _, o := range it.Offerings {
					if o.CapacityType == v1.CapacityTypeOnDemand {
						best = min(best, o.PricePerHour)
					}
				}
			}
		}
		return best
	}
	best := math.Inf(1)
	var blocks [][]*corev1.Pod
	var rec func(i int)
	rec = func(i int) {
		if i == len(pods) {
			sum := 0.0
			for _, b := range blocks {
				sum += cheapest(b)
			}
			best = min(best, sum)
			return
		}
		for k := range blocks {
			blocks[k] = append(blocks[k], pods[i])
			rec(i + 1)
			blocks[k] = blocks[k][:len(blocks[k])-1]
		}
		blocks = append(blocks, []*corev1.Pod{pods[i]})
		rec(i + 1)
		blocks = blocks[:len(blocks)-1]
	}
	rec(0)
	return best
}

// TestIntegerLowerBoundBelowPlans: on random mixes over the real catalogue (with DaemonSet
// overhead, some existing nodes with free room, and a full search or one cut short) the
// bound is never above the price of the scheduler's plan when it places every pod, and
// never below the LP bound.
func TestIntegerLowerBoundBelowPlans(t *testing.T) {
	its := catalog.Default()
	rng := rand.New(rand.NewPCG(11, 13))
	cpus := []string{"100m", "250m", "500m", "1", "2", "3", "7"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "30Gi"}
	for iter := range 15 {
		pool := NodePool{Name: "default", InstanceTypes: its, Requirements: []Requirement{
			{Key: labelCapacityType, Operator: "In", Values: []string{[]string{"on-demand", "spot"}[rng.IntN(2)]}}}}
		snap := &Snapshot{NodePools: []NodePool{pool}}
		if rng.IntN(2) == 0 {
			snap.DaemonSets = []*corev1.Pod{mkPod("ds", "200m", "300Mi", nil)}
		}
		for k := range rng.IntN(3) {
			snap.Nodes = append(snap.Nodes, ExistingNode{Name: fmt.Sprintf("n%d", k), Labels: map[string]string{corev1.LabelHostname: fmt.Sprintf("n%d", k)},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("6Gi"), corev1.ResourcePods: resource.MustParse("20")}})
		}
		var pods []*corev1.Pod
		for k := range 1 + rng.IntN(80) {
			pods = append(pods, mkPod(fmt.Sprintf("p%d", k), pick(rng, cpus), pick(rng, mems), nil))
		}
		plan := Solve(snap, pods)
		if len(plan.Unschedulable) > 0 {
			continue
		}
		lp, ib := LowerBound(snap, pods), IntegerLowerBound(snap, pods)
		cut := newIntBound(snap, pods).search(5)
		if ib > plan.Price+1e-9 || cut > plan.Price+1e-9 || ib < lp-1e-9 {
			t.Fatalf("case %d (%d pods): LP %.4f, integer %.4f (cut short %.4f), plan %.4f", iter, len(pods), lp, ib, cut, plan.Price)
		}
		t.Logf("case %d (%d pods): LP %.4f, integer %.4f, plan %.4f (%.1f%% above the integer bound)", iter, len(pods), lp, ib, plan.Price, 100*(plan.Price/ib-1))
	}
}

// TestIntegerLowerBoundDemo: the 20 pods the demo's shop keeps after the sale, on the
// sample NodePool's types: the integer bound is closer to the plan than the LP.
func TestIntegerLowerBoundDemo(t *testing.T) {
	var pods []*corev1.Pod
	for _, tier := range []struct {
		n        int
		cpu, mem string
	}{{10, "250m", "512Mi"}, {5, "500m", "1Gi"}, {3, "1", "2Gi"}, {2, "2", "4Gi"}} {
		pods = append(pods, podN(tier.n, tier.cpu, tier.cpu, tier.mem, nil)...)
	}
	np := &v1.NodePool{}
	np.Name = "default"
	np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: corev1.LabelArchStable, Operator: v1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
		{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{"spot", "on-demand"}},
		{Key: "karpenter.k8s.aws/instance-generation", Operator: v1.NodeSelectorOpGt, Values: []string{"4"}},
	}
	snap := &Snapshot{NodePools: []NodePool{NodePoolFromAPI(np, catalog.Default(), nil)}}
	lp, ib, plan := LowerBound(snap, pods), IntegerLowerBound(snap, pods), Solve(snap, pods)
	t.Logf("demo after the sale: LP bound $%.4f/h, integer bound $%.4f/h, fresh plan $%.4f/h (%.1f%% above the LP, %.1f%% above the integer bound)",
		lp, ib, plan.Price, 100*(plan.Price/lp-1), 100*(plan.Price/ib-1))
	if ib <= lp+1e-9 || ib > plan.Price+1e-9 {
		t.Fatalf("want LP %.4f < integer %.4f ≤ plan %.4f", lp, ib, plan.Price)
	}
	// Every request is a multiple of 250m / 512 MiB, so the best packing is the cheapest
	// set of nodes holding 48 such units with one holding a search pod's 8: the usable
	// capacity makes the bound that optimum (c6g.2xlarge + m6g.xlarge + c6g.large spot).
	if plan.Price/ib > 1.02 {
		t.Errorf("the fresh plan is %.1f%% above the integer bound; the usable capacity should bring the bound within 2 %%", 100*(plan.Price/ib-1))
	}
}
