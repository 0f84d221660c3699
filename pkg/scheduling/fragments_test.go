package scheduling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// TestRoomNoPodFitsChangesNoNewNode: existing nodes whose free room is too small for any
// pending pod must not change which new nodes are planned, nor the dual prices that guide
// the choice. The room used to lower the demand
// the LP's dual prices are computed from as if pods could be split across it; once it summed
// to the demand every resource was priced at zero, and pods that could share a node each got
// their own (seen after a 1,000-pod burst: four 1-CPU pods on four c6g.large).
func TestRoomNoPodFitsChangesNoNewNode(t *testing.T) {
	its := catalogTypes(t)
	pool := benchPool(its)
	room := func(name string, milliCPU int64) ExistingNode {
		return ExistingNode{
			Name: name, NodePool: pool.Name,
			Labels: map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64"},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
				corev1.ResourceMemory: resource.MustParse("64Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
		}
	}
	for seed := range uint64(31) {
		var pods []*corev1.Pod
		var existing []ExistingNode
		minCPU := int64(1000)
		pool := pool
		if seed == 30 {
			// The burst's leftovers: four 1-CPU pods, twelve nodes with 600m left each, in
			// the burst's NodePool (spot allowed, any category) over the built-in catalogue.
			pool = NodePool{Name: "burst", InstanceTypes: catalog.Default(), Requirements: []Requirement{
				{Key: labelCapacityType, Operator: "In", Values: []string{"spot", "on-demand"}},
				{Key: corev1.LabelArchStable, Operator: "In", Values: []string{"amd64", "arm64"}},
				{Key: catalog.LabelInstanceGeneration, Operator: "Gt", Values: []string{"4"}},
			}}
			for i := range 4 {
				pods = append(pods, mkPod(fmt.Sprintf("p-%d", i), "1", "2560Mi", nil))
			}
			for i := range 12 {
				n := room(fmt.Sprintf("node-%d", i), 600)
				n.NodePool = pool.Name
				existing = append(existing, n)
			}
		} else {
			r := rand.New(rand.NewPCG(seed, 7))
			minCPU = int64(500 + 250*r.IntN(3))
			for i := range 2 + r.IntN(7) {
				milli := minCPU + 250*int64(r.IntN(5))
				pods = append(pods, mkPod(fmt.Sprintf("p-%d", i), fmt.Sprintf("%dm", milli), fmt.Sprintf("%dMi", milli*2), nil))
			}
			for i := range 6 + r.IntN(11) {
				existing = append(existing, room(fmt.Sprintf("node-%d", i), minCPU-1-int64(r.IntN(200))))
			}
		}
		aloneSnap := &Snapshot{NodePools: []NodePool{pool}}
		besideSnap := &Snapshot{NodePools: []NodePool{pool}, Nodes: existing}
		if a, b := dualsOf(aloneSnap, pods), dualsOf(besideSnap, pods); a != b {
			t.Errorf("seed %d: dual prices beside nodes with room for no pod %v, alone %v", seed, b, a)
		}
		alone, beside := Solve(aloneSnap, pods), Solve(besideSnap, pods)
		if len(beside.ExistingNodes) > 0 {
			t.Fatalf("seed %d: pods placed on nodes with room for none: %v", seed, beside.ExistingNodes)
		}
		if math.Abs(beside.Price-alone.Price) > 1e-9 || len(beside.NewNodeClaims) != len(alone.NewNodeClaims) {
			t.Errorf("seed %d: %d pods (at least %dm) beside %d nodes with less room: %d new NodeClaims at $%.4f/h, alone %d at $%.4f/h",
				seed, len(pods), minCPU, len(existing), len(beside.NewNodeClaims), beside.Price, len(alone.NewNodeClaims), alone.Price)
		}
	}
}

// dualsOf is the dual prices a solve of the pods would order its classes by.
func dualsOf(snap *Snapshot, pods []*corev1.Pod) vec64 {
	sv := newSolver(snap, policyEfficient, pods)
	sv.buildClasses(pods)
	sv.addExistingNodes()
	return sv.dualPrices()
}

// TestRoomPodsMayNotUseChangesNoPrice: existing nodes whose room the pending pods may not
// use (a taint they do not tolerate, a zone their node selector excludes) must not change
// the dual prices nor the plan. The estimate of what fits existing room used to look at
// resources only: it put the CPU-heavy pods on such nodes, priced the rest (memory-heavy) as
// the whole demand, and CPU came out free.
func TestRoomPodsMayNotUseChangesNoPrice(t *testing.T) {
	its := catalogTypes(t)
	pool := benchPool(its)
	node := func(name string, mut func(*ExistingNode)) ExistingNode {
		n := ExistingNode{
			Name: name, NodePool: pool.Name,
			Labels: map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64", corev1.LabelTopologyZone: "us-east-1a"},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("16"),
				corev1.ResourceMemory: resource.MustParse("6Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
		}
		mut(&n)
		return n
	}
	tainted := func(n *ExistingNode) {
		n.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	}
	otherZone := func(n *ExistingNode) { n.Labels[corev1.LabelTopologyZone] = "us-east-1b" }
	inZoneA := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "us-east-1a"} }
	for _, tc := range []struct {
		name string
		node func(*ExistingNode)
	}{{"taint", tainted}, {"zone", otherZone}} {
		for seed := range uint64(10) {
			r := rand.New(rand.NewPCG(seed, 11))
			var pods []*corev1.Pod
			for i := range 4 + r.IntN(12) {
				pods = append(pods, mkPod(fmt.Sprintf("cpu-%d", i), fmt.Sprint(2+r.IntN(3)), "1Gi", nil))
			}
			for i := range 4 + r.IntN(12) {
				pods = append(pods, mkPod(fmt.Sprintf("mem-%d", i), "500m", fmt.Sprintf("%dGi", 8+4*r.IntN(3)), nil))
			}
			for _, p := range pods {
				inZoneA(p)
			}
			var existing []ExistingNode
			for i := range 2 + r.IntN(6) {
				existing = append(existing, node(fmt.Sprintf("node-%d", i), tc.node))
			}
			aloneSnap := &Snapshot{NodePools: []NodePool{pool}}
			besideSnap := &Snapshot{NodePools: []NodePool{pool}, Nodes: existing}
			if a, b := dualsOf(aloneSnap, pods), dualsOf(besideSnap, pods); a != b {
				t.Errorf("%s, seed %d: dual prices beside nodes the pods may not use %v, alone %v", tc.name, seed, b, a)
			}
			alone, beside := Solve(aloneSnap, pods), Solve(besideSnap, pods)
			if len(beside.ExistingNodes) > 0 {
				t.Fatalf("%s, seed %d: pods placed on nodes they may not use: %v", tc.name, seed, beside.ExistingNodes)
			}
			if math.Abs(beside.Price-alone.Price) > 1e-9 || len(beside.NewNodeClaims) != len(alone.NewNodeClaims) {
				t.Errorf("%s, seed %d: beside %d nodes the pods may not use: %d new NodeClaims at $%.4f/h, alone %d at $%.4f/h",
					tc.name, seed, len(existing), len(beside.NewNodeClaims), beside.Price, len(alone.NewNodeClaims), alone.Price)
			}
		}
	}
}
