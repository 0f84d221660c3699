package scheduling

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// nodeSelectors are what the random batches below select nodes by: nothing (three times in
// eleven), a zone, an architecture, an instance category, a zone and an architecture.
var nodeSelectors = []map[string]string{nil, nil, nil,
	{corev1.LabelTopologyZone: "us-east-1a"}, {corev1.LabelTopologyZone: "us-east-1b"},
	{corev1.LabelArchStable: "arm64"}, {corev1.LabelArchStable: "amd64"},
	{catalog.LabelInstanceCategory: "c"}, {catalog.LabelInstanceCategory: "m"}, {catalog.LabelInstanceCategory: "r"},
	{corev1.LabelTopologyZone: "us-east-1a", corev1.LabelArchStable: "amd64"}}

// roomNode is an existing node of the random clusters below with the room the reference
// has left on it.
type roomNode struct {
	labels   map[string]string
	tainted  bool
	cpu, mem int64
}

// selectorCluster draws a random cluster: 0-5 existing nodes with room (one in three
// tainted, amd64, in one of two zones) and 1-6 Deployments of 1-20 replicas, each with a
// node selector from nodeSelectors, one in three tolerating the taint.
func selectorCluster(seed uint64, pool NodePool) ([]ExistingNode, []*roomNode, []*corev1.Pod) {
	r := rand.New(rand.NewPCG(seed, 11))
	var nodes []ExistingNode
	var rooms []*roomNode
	for i := range r.IntN(6) {
		name := fmt.Sprintf("n%d", i)
		labels := map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64",
			corev1.LabelTopologyZone: []string{"us-east-1a", "us-east-1b"}[r.IntN(2)]}
		rm := &roomNode{labels: labels, cpu: int64(250 * (1 + r.IntN(16))), mem: int64(512<<20) * int64(1+r.IntN(16))}
		n := ExistingNode{Name: name, NodePool: pool.Name, Labels: labels, Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(rm.cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(rm.mem, resource.BinarySI),
			corev1.ResourcePods:   resource.MustParse("110")}}
		if rm.tainted = r.IntN(3) == 0; rm.tainted {
			n.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		}
		nodes = append(nodes, n)
		rooms = append(rooms, rm)
	}
	var pods []*corev1.Pod
	cpus := []string{"250m", "500m", "1", "2", "4"}
	mems := []string{"256Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	for w := range 1 + r.IntN(6) {
		cpu, mem, sel, tol := pick(r, cpus), pick(r, mems), nodeSelectors[r.IntN(len(nodeSelectors))], r.IntN(3) == 0
		for i := range 1 + r.IntN(20) {
			p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": fmt.Sprint(w)})
			p.Spec.NodeSelector = sel
			if tol {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
			}
			pods = append(pods, p)
		}
	}
	return nodes, rooms, pods
}

// upstreamWithRoom prices upstream's plan for pods beside existing rooms: pods by CPU then
// memory, decreasing, each on the first existing node it may use that has room, the rest
// planned by upstreamFFD in upstream's NodeClaim order (fewest pods first) or, unless
// fewestFirst, in creation order. rooms are left as they were.
func upstreamWithRoom(t *testing.T, pool NodePool, rooms []*roomNode, pods []*corev1.Pod, fewestFirst bool) float64 {
	rooms = slices.Clone(rooms)
	for i, rm := range rooms {
		c := *rm
		rooms[i] = &c
	}
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int {
		ra, rb := a.Spec.Containers[0].Resources.Requests, b.Spec.Containers[0].Resources.Requests
		return cmp.Or(rb.Cpu().Cmp(*ra.Cpu()), rb.Memory().Cmp(*ra.Memory()))
	})
	var rest []*corev1.Pod
	for _, p := range sorted {
		req := p.Spec.Containers[0].Resources.Requests
		cpu, mem := req.Cpu().MilliValue(), req.Memory().Value()
		i := slices.IndexFunc(rooms, func(rm *roomNode) bool {
			for k, v := range p.Spec.NodeSelector {
				if rm.labels[k] != v {
					return false
				}
			}
			return (!rm.tainted || len(p.Spec.Tolerations) > 0) && cpu <= rm.cpu && mem <= rm.mem
		})
		if i < 0 {
			rest = append(rest, p)
			continue
		}
		rooms[i].cpu -= cpu
		rooms[i].mem -= mem
	}
	if len(rest) == 0 {
		return 0
	}
	return upstreamFFD(t, pool, rest, fewestFirst)
}

// upstreamBest is the cheaper of upstreamWithRoom's two NodeClaim orders.
func upstreamBest(t *testing.T, pool NodePool, rooms []*roomNode, pods []*corev1.Pod) float64 {
	return min(upstreamWithRoom(t, pool, rooms, pods, true), upstreamWithRoom(t, pool, rooms, pods, false))
}

// TestNeverDearerThanUpstreamAcrossSelectors: on 300 random clusters whose workloads select
// nodes by zone, architecture and instance category (some beside existing nodes with room),
// every plan is valid (checkPlan) and costs no more than upstream's (upstreamWithRoom, the
// cheaper of its two orders).
// Before the cross re-pack and policyFewest's re-targeting across sets, 4 of these 300
// plans cost more (worst +13 %; in a wider random search, up to 22 %: an amd64 workload
// and an m-category one got a c-type and two m6g nodes, where one m5a held both for less).
func TestNeverDearerThanUpstreamAcrossSelectors(t *testing.T) {
	its := catalogTypes(t)
	pool := benchPool(its)
	seeds := uint64(300)
	if testing.Short() {
		seeds = 60
	}
	dearer, worst := 0, 1.0
	for seed := range seeds {
		nodes, rooms, pods := selectorCluster(seed, pool)
		snap := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
		plan := Solve(snap, pods)
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(plan.Unschedulable) > 0 {
			t.Fatalf("seed %d: %s unschedulable: %s", seed, plan.Unschedulable[0].Pod.Name, plan.Unschedulable[0].Reason)
		}
		ref := upstreamBest(t, pool, rooms, pods)
		if plan.Price > ref+1e-9 {
			dearer++
			worst = max(worst, plan.Price/ref)
			t.Errorf("seed %d: plan $%.4f/h > upstream's $%.4f/h (%d pods, %d existing nodes, %d NodeClaims)",
				seed, plan.Price, ref, len(pods), len(nodes), len(plan.NewNodeClaims))
		}
	}
	if dearer > 0 {
		t.Logf("%d of %d plans dearer than upstream's, worst ×%.3f", dearer, seeds, worst)
	}
}

// TestGatherAcrossThreeSets: seed 2756 of the clusters above (one of 3,000 dearer than the
// reference before crossRepack gathered). Three groups of movable NodeClaims (category c in
// zone b on amd64, category c in zone b, category c) hold together what one c6a.12xlarge
// holds, but no two of them save anything by moving onto one set, so the pairwise moves
// left them on four nodes ($1.94/h) and the plan cost 2.3 % more than the reference in
// creation order, which put those 43 pods on one c6a.12xlarge ($1.84/h). The gather moves
// the three at once; packWhole finds the one node the sequential fill does not.
func TestGatherAcrossThreeSets(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	nodes, rooms, pods := selectorCluster(2756, pool)
	solveNoDearer(t, &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}, pods, upstreamBest(t, pool, rooms, pods))
}

// solveNoDearer solves pods on snap and checks the plan is valid, places every pod and
// costs no more than ref.
func solveNoDearer(t *testing.T, snap *Snapshot, pods []*corev1.Pod, ref float64) {
	t.Helper()
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Unschedulable) > 0 {
		t.Fatalf("%d unschedulable: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
	if plan.Price > ref+1e-9 {
		t.Errorf("plan $%.4f/h on %d NodeClaims > the reference's $%.4f/h", plan.Price, len(plan.NewNodeClaims), ref)
	}
}

// TestPinnedRepackKeepsEveryPodOnce: a NodeClaim holding pods of two compatible sets (an
// arm64 workload and a c-category one) is pinned for the re-pack of each set. The re-pack
// of one set sorted the slice of movable pods in place together with the pods it took off
// the pinned claim, so the plan listed one pod on the pinned claim and again on a fresh
// one, and lost a movable pod (seed 539 of the clusters above).
func TestPinnedRepackKeepsEveryPodOnce(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	nodes, _, pods := selectorCluster(539, pool)
	snap := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
	sv := newSolver(snap, policyEfficient, pods)
	sv.solve(pods)
	plan := sv.finalize()
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Unschedulable) > 0 {
		t.Fatalf("%d unschedulable: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
}
