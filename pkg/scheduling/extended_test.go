package scheduling

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// devices are the extended resources of the tests below: more than the vector's fixed
// slots, so some of them live in its overflow.
var devices = []corev1.ResourceName{"hugepages-2Mi", "hugepages-1Gi", "nvidia.com/gpu",
	"example.com/dev0", "example.com/dev1", "example.com/dev2", "example.com/dev3"}

// deviceType is fakeType with count of every device (hugepages in GiB).
func deviceType(name string, cpu, memGi, count int64, price float64) *cloudprovider.InstanceType {
	it := fakeType(name, "amd64", cpu, memGi, price)
	for _, d := range devices {
		q := *resource.NewQuantity(count, resource.DecimalSI)
		if strings.HasPrefix(string(d), "hugepages-") {
			q = *resource.NewQuantity(count<<30, resource.BinarySI)
		}
		it.Capacity[d] = q
	}
	return it
}

// TestManyExtendedResources: pods asking for seven distinct extended resources (more than
// the vector's fixed slots) are all planned, and no node, new or existing, gets more of any
// of them than it has: the independent checker sums every resource by name. The resource
// fewest pods ask for (example.com/dev3, in the overflow) is the one that binds: five pods
// want all four dev3 of a node each, so the plan needs exactly five device nodes.
func TestManyExtendedResources(t *testing.T) {
	pool := NodePool{Name: "dev", InstanceTypes: []*cloudprovider.InstanceType{
		deviceType("dev4", 32, 128, 4, 1), fakeType("plain", "amd64", 16, 64, 0.2)},
		Requirements: []Requirement{{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}}}}
	var pods []*corev1.Pod
	add := func(n int, name string, req ...string) {
		pods = append(pods, podN(n, name, "500m", "1Gi", func(p *corev1.Pod) {
			for i := 0; i < len(req); i += 2 {
				p.Spec.Containers[0].Resources.Requests[corev1.ResourceName(req[i])] = resource.MustParse(req[i+1])
			}
		})...)
	}
	// By the number of pods asking: dev0, dev1 and the hugepages get the fixed slots,
	// nvidia.com/gpu, dev2 and dev3 the overflow.
	add(8, "huge", "hugepages-2Mi", "512Mi", "hugepages-1Gi", "1Gi")
	add(8, "gpu", "nvidia.com/gpu", "1")
	add(8, "d01", "example.com/dev0", "1", "example.com/dev1", "1")
	add(6, "d2", "example.com/dev2", "1", "hugepages-1Gi", "1Gi")
	add(5, "d3", "example.com/dev3", "4")
	add(4, "plain", "cpu", "1")
	snap := &Snapshot{NodePools: []NodePool{pool}}
	needOverflow(t, snap, pods, "example.com/dev3")
	needOverflow(t, snap, pods, "nvidia.com/gpu")
	plan := Solve(snap, pods)
	if len(plan.Unschedulable) != 0 {
		t.Fatalf("%d unschedulable, first: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	devNodes := 0
	for _, nc := range plan.NewNodeClaims {
		if nc.Cheapest.InstanceType == "dev4" {
			devNodes++
		}
		for _, d := range devices {
			if q, ok := nc.Requests[d]; !ok && hasDevice(nc.Pods, d) {
				t.Errorf("NodeClaim requests lack %s its pods ask for (%v)", d, nc.Requests)
			} else if ok && q.Sign() <= 0 {
				t.Errorf("NodeClaim requests %s %s", d, q.String())
			}
		}
	}
	if devNodes != 5 {
		t.Errorf("%d dev4 nodes, want the 5 that five pods of four dev3 each need", devNodes)
	}

	// An existing node with six dev3, five held by a running pod, and two more pods of one
	// dev3 that may only go there: one fits, the other does not.
	running := podN(1, "running", "1", "1Gi", func(p *corev1.Pod) {
		p.Spec.NodeName = "n1"
		p.Spec.Containers[0].Resources.Requests["example.com/dev3"] = resource.MustParse("5")
	})
	snap.Nodes = []ExistingNode{{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1", "only": "here"},
		Allocatable: rl("cpu", "64", "memory", "256Gi", "pods", "110", "example.com/dev3", "6"), Pods: running}}
	pinned := podN(2, "pinned", "100m", "100Mi", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"only": "here"}
		p.Spec.Containers[0].Resources.Requests["example.com/dev3"] = resource.MustParse("1")
	})
	pods = append(pods[:len(pods):len(pods)], pinned...)
	needOverflow(t, snap, pods, "example.com/dev3")
	plan = Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	// n1 has room for other pods too (the plain ones): count the pinned ones.
	pinnedOnN1 := 0
	for _, ep := range plan.ExistingNodes {
		for _, p := range ep.Pods {
			if strings.HasPrefix(p.Name, "pinned") {
				pinnedOnN1++
			}
		}
	}
	if pinnedOnN1 != 1 || len(plan.Unschedulable) != 1 || !strings.HasPrefix(plan.Unschedulable[0].Pod.Name, "pinned") {
		t.Errorf("%d pinned pods on n1, %d unschedulable; want one pinned pod on n1, the other unschedulable",
			pinnedOnN1, len(plan.Unschedulable))
	}
}

// needOverflow fails the test unless the solve gives name a dimension in the overflow.
func needOverflow(t *testing.T, snap *Snapshot, pods []*corev1.Pod, name corev1.ResourceName) {
	t.Helper()
	if slot, ok := newSolver(snap, policyEfficient, pods).u.res.slot(name); !ok || slot < numFixed {
		t.Fatalf("%s has slot %d (%v): the test needs it in the overflow", name, slot, ok)
	}
}

func hasDevice(pods []*corev1.Pod, d corev1.ResourceName) bool {
	for _, p := range pods {
		if _, ok := checkRequests(p)[d]; ok {
			return true
		}
	}
	return false
}

// TestManyExtendedLimits: a NodePool limit on a resource in the overflow binds.
func TestManyExtendedLimits(t *testing.T) {
	pool := NodePool{Name: "dev", InstanceTypes: []*cloudprovider.InstanceType{deviceType("dev2", 16, 64, 2, 1)},
		Limits: corev1.ResourceList{"example.com/dev3": resource.MustParse("4")}}
	var pods []*corev1.Pod
	for i, d := range devices {
		pods = append(pods, podN(len(devices)-i, "p"+fmt.Sprint(i), "100m", "100Mi", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[d] = resource.MustParse("1")
		})...)
	}
	snap := &Snapshot{NodePools: []NodePool{pool}}
	needOverflow(t, snap, pods, "example.com/dev3")
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.NewNodeClaims) != 2 {
		t.Errorf("%d NodeClaims under a limit of 4 dev3 on nodes of 2", len(plan.NewNodeClaims))
	}
	if len(plan.Unschedulable) == 0 {
		t.Error("every pod planned within a limit that holds 2 nodes")
	}
}

// TestUnreadableRequests: a pod whose requests cannot be read (negative, above the
// supported bound, or summing above it) is unschedulable with a reason when pending, and
// when running it fills its node rather than counting as using nothing.
func TestUnreadableRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(p *corev1.Pod)
	}{
		{"memory above a pebibyte", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("2Pi")
		}},
		{"negative cpu", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1")
		}},
		{"huge cpu", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1e18")
		}},
		{"huge extended limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/dev0": resource.MustParse("1e30")}
		}},
		{"containers summing above the bound", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("600Ti")}
			p.Spec.Containers = append(p.Spec.Containers, c, c)
		}},
		{"negative overhead", func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			weird := mkPod("weird", "100m", "100Mi", nil)
			tc.mut(weird)
			// Pending: unschedulable, with the reason.
			snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
			plan := Solve(snap, []*corev1.Pod{weird})
			if len(plan.Unschedulable) != 1 || !strings.Contains(plan.Unschedulable[0].Reason, "reading request") {
				t.Errorf("pending: %+v", plan.Unschedulable)
			}
			// Running: its node takes no more pods.
			weird.Spec.NodeName = "n1"
			node := ExistingNode{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
					corev1.ResourcePods: resource.MustParse("110"), "example.com/dev0": resource.MustParse("4")},
				Pods: []*corev1.Pod{weird}}
			snap.Nodes = []ExistingNode{node}
			pods := podN(3, "web", "500m", "1Gi", nil)
			pods = append(pods, podN(1, "dev", "500m", "1Gi", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests["example.com/dev0"] = resource.MustParse("1")
			})...)
			plan = Solve(snap, pods)
			if len(plan.ExistingNodes) != 0 {
				t.Errorf("%d pods placed next to a pod of unknown size", len(plan.ExistingNodes[0].Pods))
			}
		})
	}
}

// TestVecOverflow compares vec's operations with plain slices over random vectors of up to
// 14 dimensions (6 beyond the fixed array), and checks that equal vectors are equal values.
func TestVecOverflow(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	randVec := func(dims int) ([]int64, vec) {
		s := make([]int64, 14)
		var v vec
		for d := range dims {
			if r.IntN(3) > 0 {
				s[d] = r.Int64N(20) - 3
				v.set(d, s[d])
			}
		}
		return s, v
	}
	check := func(what string, s []int64, v vec) {
		t.Helper()
		for d := range s {
			if v.get(d) != s[d] {
				t.Fatalf("%s: dimension %d is %d, want %d", what, d, v.get(d), s[d])
			}
		}
		var w vec
		for d := range s {
			w.set(d, s[d])
		}
		if w != v {
			t.Fatalf("%s: %v and %v hold the same values but differ", what, v, w)
		}
	}
	for range 2000 {
		dims := r.IntN(15)
		a, va := randVec(dims)
		b, vb := randVec(dims)
		k := r.Int64N(5) - 2
		sum, diff, scaled, mx := make([]int64, 14), make([]int64, 14), make([]int64, 14), make([]int64, 14)
		fits, copies := true, int64(1000)
		for d := range 14 {
			sum[d], diff[d], scaled[d], mx[d] = a[d]+b[d], a[d]-b[d], a[d]+k*b[d], max(a[d], b[d])
			fits = fits && b[d] <= a[d]
			bp := max(b[d], 0)
			switch {
			case bp == 0 && a[d] < 0:
				copies = 0
			case bp > 0:
				copies = min(copies, a[d]/bp)
			}
		}
		copies = max(copies, 0)
		v := va
		v.add(&vb)
		check("add", sum, v)
		v = va
		v.sub(&vb)
		check("sub", diff, v)
		v = va
		v.addScaled(&vb, k)
		check("addScaled", scaled, v)
		v = va
		v.maxWith(&vb)
		check("maxWith", mx, v)
		check("operands unchanged", a, va)
		if got := va.fits(&vb); got != fits {
			t.Fatalf("fits(%v, %v) = %v", a, b, got)
		}
		clamped, sat := make([]int64, 14), make([]int64, 14)
		above := false
		for d := range 14 {
			clamped[d] = min(max(a[d], 0), 5)
			above = above || a[d] > 5
		}
		v = va
		v.clamp(0, 5)
		check("clamp", clamped, v)
		if va.above(5) != above {
			t.Fatalf("above(%v, 5) = %v", a, !above)
		}
		var bp vec
		for d := range 14 {
			bp.set(d, max(b[d], 0))
		}
		// addScaledSat on non-negative vectors, saturating at 2^62.
		const top = 1 << 62
		big := []int64{0, top / 2, top - 30}[r.IntN(3)] // the last saturates some dimensions
		vs := bp
		for d := range 14 {
			vs.set(d, bp.get(d)+big)
			sat[d] = min(bp.get(d)+big+max(b[d], 0)*4, top)
		}
		vs.addScaledSat(&bp, 4)
		check("addScaledSat", sat, vs)
		if got := va.maxCopies(&bp, 1000); got != copies {
			t.Fatalf("maxCopies(%v, %v) = %d, want %d", a, b, got, copies)
		}
	}
}

// TestUnreadableReasonIsStable: a pod with several unreadable quantities gets the same
// reason on every solve (the first by resource name), not one picked by map order.
func TestUnreadableReasonIsStable(t *testing.T) {
	weird := mkPod("weird", "100m", "100Mi", nil)
	for _, name := range []corev1.ResourceName{"example.com/a", "example.com/b", "example.com/c", "example.com/d", corev1.ResourceMemory} {
		weird.Spec.Containers[0].Resources.Requests[name] = resource.MustParse("-1")
	}
	snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
	first := Solve(snap, []*corev1.Pod{weird}).Unschedulable[0].Reason
	if !strings.Contains(first, "example.com/a") {
		t.Errorf("reason %q does not name the first resource", first)
	}
	for range 20 {
		if r := Solve(snap, []*corev1.Pod{weird}).Unschedulable[0].Reason; r != first {
			t.Fatalf("reason %q, then %q", first, r)
		}
	}
}

// A running pod the snapshot lists in Snapshot.Pods rather than in its node's Pods takes
// its room on that node all the same (the solver indexes existing nodes by name for it).
func TestBoundSnapshotPodTakesRoomOnItsNode(t *testing.T) {
	node := ExistingNode{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1", "only": "here"},
		Allocatable: rl("cpu", "2", "memory", "8Gi", "pods", "110")}
	pinned := podN(1, "pinned", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"only": "here"} })
	snap := &Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{node}}
	if plan := Solve(snap, pinned); len(plan.ExistingNodes) != 1 {
		t.Fatalf("without the running pod the pinned pod should fit on n1: %d placements, %d unschedulable", len(plan.ExistingNodes), len(plan.Unschedulable))
	}
	snap.Pods = podN(1, "running", "1500m", "1Gi", func(p *corev1.Pod) { p.Spec.NodeName = "n1" })
	plan := Solve(snap, pinned)
	if len(plan.ExistingNodes) != 0 || len(plan.Unschedulable) != 1 {
		t.Errorf("the running pod's 1.5 CPU left room for the pinned pod's 1 CPU: %d placements on n1, %d unschedulable", len(plan.ExistingNodes), len(plan.Unschedulable))
	}
}
