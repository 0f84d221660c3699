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
	return sv.dualPrices(sv.leftByExisting())
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

// TestNoNewNodeForPodsExistingRoomTakes: a pod with no topology rule is never planned onto a
// new NodeClaim while an existing node that may take it (taints tolerated, zone selected)
// still has room for it at the end of the plan; moving it there could only make the new
// NodeClaim cheaper. A NodeClaim opened for one workload was filled with the pods of later
// ones (mixFill) before their turn came to try the existing nodes first.
func TestNoNewNodeForPodsExistingRoomTakes(t *testing.T) {
	its := catalogTypes(t)
	pool := benchPool(its)
	zones := []string{"us-east-1a", "us-east-1b"}
	cases := 300
	if testing.Short() {
		cases = 60
	}
	for seed := range uint64(cases) {
		r := rand.New(rand.NewPCG(seed, 5))
		var nodes []ExistingNode
		for i := range 1 + r.IntN(7) {
			name := fmt.Sprintf("node-%d", i)
			n := ExistingNode{Name: name, NodePool: pool.Name,
				Labels: map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64", corev1.LabelTopologyZone: zones[r.IntN(2)]},
				Allocatable: corev1.ResourceList{
					corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(250*(1+r.IntN(16))), resource.DecimalSI),
					corev1.ResourceMemory: *resource.NewQuantity(int64(512<<20)*int64(1+r.IntN(16)), resource.BinarySI),
					corev1.ResourcePods:   resource.MustParse("110"),
				}}
			if r.IntN(3) == 0 {
				n.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
			}
			nodes = append(nodes, n)
		}
		var pods []*corev1.Pod
		for w := range 1 + r.IntN(6) {
			cpu, mem := pick(r, []string{"250m", "500m", "1", "2", "4"}), pick(r, []string{"256Mi", "1Gi", "2Gi", "4Gi", "8Gi"})
			zone, tolerates := "", r.IntN(3) == 0
			if r.IntN(2) == 0 {
				zone = zones[r.IntN(2)]
			}
			for i := range 1 + r.IntN(20) {
				p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": fmt.Sprint(w)})
				if zone != "" {
					p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: zone}
				}
				if tolerates {
					p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
				}
				pods = append(pods, p)
			}
		}
		snap := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
		plan := Solve(snap, pods)
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("seed %d: invalid plan: %v", seed, err)
		}
		room := map[string]corev1.ResourceList{}
		for _, n := range nodes {
			room[n.Name] = n.Allocatable.DeepCopy()
		}
		for _, ep := range plan.ExistingNodes {
			for _, p := range ep.Pods {
				for name, q := range p.Spec.Containers[0].Resources.Requests {
					left := room[ep.Name][name]
					left.Sub(q)
					room[ep.Name][name] = left
				}
			}
		}
		for _, nc := range plan.NewNodeClaims {
			for _, p := range nc.Pods {
				req := p.Spec.Containers[0].Resources.Requests
				for _, n := range nodes {
					if (len(n.Taints) > 0 && len(p.Spec.Tolerations) == 0) || (p.Spec.NodeSelector != nil && p.Spec.NodeSelector[corev1.LabelTopologyZone] != n.Labels[corev1.LabelTopologyZone]) {
						continue
					}
					if left := room[n.Name]; left.Cpu().Cmp(*req.Cpu()) >= 0 && left.Memory().Cmp(*req.Memory()) >= 0 {
						t.Errorf("seed %d: pod %s (%v CPU, %v) is on a new NodeClaim, yet existing node %s has %v CPU and %v free for it",
							seed, p.Name, req.Cpu(), req.Memory(), n.Name, left.Cpu(), left.Memory())
						break
					}
				}
			}
		}
	}
}
