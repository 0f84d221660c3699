package state_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

func instanceType(name string, cpu, mem string, price float64) *cloudprovider.InstanceType {
	return test.InstanceType(name, cpu, mem, test.WithPrice(price), test.WithKubeReserved("100m", "0"))
}

func pendingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		}}},
	}
}

func nodeClaim(name string, instanceTypes ...string) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec: v1.NodeClaimSpec{
			Requirements:  []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: instanceTypes}},
			Taints:        []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func TestIsProvisionable(t *testing.T) {
	now := metav1.Now()
	cases := map[string]struct {
		mutate func(*corev1.Pod)
		want   bool
	}{
		"unschedulable": {func(*corev1.Pod) {}, true},
		"bound":         {func(p *corev1.Pod) { p.Spec.NodeName = "n" }, false},
		"deleting":      {func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
		"finished":      {func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		// Not yet looked at by the kube-scheduler: planned without waiting for its mark.
		"no condition": {func(p *corev1.Pod) { p.Status.Conditions = nil }, true},
		"no condition, gated": {func(p *corev1.Pod) {
			p.Status.Conditions = nil
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, false},
		"no condition, another scheduler": {func(p *corev1.Pod) {
			p.Status.Conditions = nil
			p.Spec.SchedulerName = "my-scheduler"
		}, false},
		"marked by another scheduler": {func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" }, true},
		"no condition, bound": {func(p *corev1.Pod) {
			p.Status.Conditions = nil
			p.Spec.NodeName = "n"
		}, false},
		"scheduler error": {func(p *corev1.Pod) { p.Status.Conditions[0].Reason = corev1.PodReasonSchedulerError }, false},
		"other reason":    {func(p *corev1.Pod) { p.Status.Conditions[0].Reason = "SchedulingGated" }, false},
		"daemonset": {func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: new(true)}}
		}, false},
		"replicaset-owned": {func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: new(true)}}
		}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := pendingPod("p")
			tc.mutate(p)
			if got := state.IsProvisionable(p); got != tc.want {
				t.Fatalf("IsProvisionable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNominationsHidePodsUntilTheNodeClaimGoes(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := state.NewCluster(state.Options{Clock: clk, NominationTTL: 20 * time.Second})
	a, b := pendingPod("a"), pendingPod("b")
	c.UpdatePod(a)
	c.UpdatePod(b)
	if n := c.Nominate("nc-1", []*corev1.Pod{a}); n != 0 {
		t.Fatalf("nominated %d pods to an unknown NodeClaim", n)
	}
	c.UpdateNodeClaim(nodeClaim("nc-1", "small"))
	if n := c.Nominate("nc-1", []*corev1.Pod{a}); n != 1 {
		t.Fatalf("nominated %d pods, want 1", n)
	}
	if got := names(c.PendingPods()); got != "b" {
		t.Fatalf("pending = %q, want b", got)
	}
	// Initialised for longer than the TTL: the nomination lapses.
	nc := nodeClaim("nc-1", "small")
	nc.Status.Conditions = []metav1.Condition{{Type: state.ConditionInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(clk.Now())}}
	c.UpdateNodeClaim(nc)
	clk.Step(10 * time.Second)
	if got := names(c.PendingPods()); got != "b" {
		t.Fatalf("pending within TTL = %q, want b", got)
	}
	clk.Step(11 * time.Second)
	if got := names(c.PendingPods()); got != "a,b" {
		t.Fatalf("pending after TTL = %q, want a,b", got)
	}
	// A deleted NodeClaim takes its nominations with it.
	c.UpdateNodeClaim(nodeClaim("nc-1", "small"))
	c.Nominate("nc-1", []*corev1.Pod{a, b})
	if got := names(c.PendingPods()); got != "" {
		t.Fatalf("pending = %q, want none", got)
	}
	c.DeleteNodeClaim("nc-1")
	if got := names(c.PendingPods()); got != "a,b" {
		t.Fatalf("pending after delete = %q, want a,b", got)
	}
	// A pod that binds loses its nomination.
	c.UpdateNodeClaim(nodeClaim("nc-2", "small"))
	c.Nominate("nc-2", []*corev1.Pod{a})
	boundA := a.DeepCopy()
	boundA.Spec.NodeName = "node"
	c.UpdatePod(boundA)
	if _, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "a"}); ok {
		t.Fatal("bound pod kept its nomination")
	}
}

func TestSnapshot(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	c := state.NewCluster(state.Options{Clock: clk})
	its := []*cloudprovider.InstanceType{instanceType("large", "8", "32Gi", 0.4), instanceType("small", "2", "8Gi", 0.1)}

	// An in-flight NodeClaim is sized as its cheapest option and carries its nominated pods.
	inflight := nodeClaim("inflight", "large", "small")
	c.UpdateNodeClaim(inflight)
	p := pendingPod("p")
	c.UpdatePod(p)
	c.Nominate("inflight", []*corev1.Pod{p})

	// A registered, uninitialised NodeClaim: its Node, without startup and ephemeral taints.
	registered := nodeClaim("registered", "large")
	registered.Status.ProviderID = "fake:///zone-a/1"
	registered.Status.Allocatable = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
	c.UpdateNodeClaim(registered)
	c.UpdateNode(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec: corev1.NodeSpec{ProviderID: "fake:///zone-a/1", Taints: []corev1.Taint{
			{Key: "cni", Effect: corev1.TaintEffectNoSchedule},
			v1.UnregisteredNoExecuteTaint,
			{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}},
	})
	running := pendingPod("running")
	running.Spec.NodeName = "node-1"
	c.UpdatePod(running)
	done := pendingPod("done") // finished: left out
	done.Spec.NodeName = "node-1"
	done.Status.Phase = corev1.PodSucceeded
	c.UpdatePod(done)

	// Left out: a deleting NodeClaim, an unmanaged NotReady node, a cordoned node.
	deleting := nodeClaim("deleting", "small")
	deleting.DeletionTimestamp = &metav1.Time{Time: clk.Now()}
	c.UpdateNodeClaim(deleting)
	c.UpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "notready"}})
	c.UpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cordoned"}, Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	c.UpdateDaemonSet(&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}}})

	snap := c.Snapshot(nil, its)
	if len(snap.Nodes) != 2 {
		t.Fatalf("snapshot has %d nodes, want 2: %+v", len(snap.Nodes), snap.Nodes)
	}
	node, fl := snap.Nodes[0], snap.Nodes[1]
	// Bound pods come as parts of the state's records (Running), not as built Pods.
	if node.Name != "node-1" || node.InFlight || len(node.Pods) != 0 || len(node.Running) != 1 || node.Running[0].Meta.Name != "running" || node.Running[0].Spec == nil {
		t.Errorf("node = %+v", node)
	}
	if len(node.Taints) != 1 || node.Taints[0].Key != "team" {
		t.Errorf("node taints = %v, want only team", node.Taints)
	}
	if _, ok := node.Allocatable["example.com/gpu"]; !ok {
		t.Errorf("uninitialised node allocatable %v lacks the NodeClaim's promised gpu", node.Allocatable)
	}
	if fl.Name != "inflight" || !fl.InFlight || fl.NodePool != "default" || len(fl.Pods) != 1 {
		t.Errorf("in-flight = %+v", fl)
	}
	if cpu := fl.Allocatable[corev1.ResourceCPU]; cpu.String() != "1900m" {
		t.Errorf("in-flight cpu = %s, want 1900m (small, the cheapest option)", cpu.String())
	}
	if len(snap.DaemonSets) != 1 || snap.DaemonSets[0].Name != "agent" {
		t.Errorf("daemonsets = %v", snap.DaemonSets)
	}

	used := c.NodePoolUsage("default", its)
	// inflight: small (2), registered: no status capacity -> large (8), deleting: small (2).
	if cpu := used[corev1.ResourceCPU]; cpu.String() != "12" {
		t.Errorf("used cpu = %s, want 12", cpu.String())
	}
}

func names(pods []*corev1.Pod) string {
	s := ""
	for i, p := range pods {
		if i > 0 {
			s += ","
		}
		s += p.Name
	}
	return s
}

// TestNominatingAGonePodRecordsNothing: a pod deleted while its batch was being solved
// (its delete event already processed) must not get a nomination; nothing would ever
// remove it, and under pod churn the map would grow without bound.
func TestNominatingAGonePodRecordsNothing(t *testing.T) {
	c := state.NewCluster(state.Options{})
	c.UpdateNodeClaim(nodeClaim("nc-1", "small"))
	gone, replaced, live := pendingPod("gone"), pendingPod("replaced"), pendingPod("live")
	for _, p := range []*corev1.Pod{gone, replaced, live} {
		c.UpdatePod(p)
	}
	c.DeletePod(types.NamespacedName{Namespace: "default", Name: "gone"})
	recreated := replaced.DeepCopy()
	recreated.UID = "uid-replaced-2"
	c.UpdatePod(recreated)

	if n := c.Nominate("nc-1", []*corev1.Pod{gone, replaced, live}); n != 1 {
		t.Errorf("nominated %d pods, want 1 (only the live one)", n)
	}
	for _, name := range []string{"gone", "replaced"} {
		if _, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: name}); ok {
			t.Errorf("pod %s the state no longer knows got a nomination", name)
		}
	}
	if got, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "live"}); !ok || got != "nc-1" {
		t.Errorf("live pod nomination = %q, %v", got, ok)
	}
}

func TestNominatedToByNodeClaimOrNode(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := state.NewCluster(state.Options{Clock: clk, NominationTTL: 20 * time.Second})
	a, b, other := pendingPod("a"), pendingPod("b"), pendingPod("other")
	for _, p := range []*corev1.Pod{a, b, other} {
		c.UpdatePod(p)
	}
	c.UpdateNodeClaim(nodeClaim("nc-1", "small"))
	c.UpdateNodeClaim(nodeClaim("nc-2", "small"))
	c.Nominate("nc-1", []*corev1.Pod{b, a})
	c.Nominate("nc-2", []*corev1.Pod{other})

	if node, pods := c.NominatedTo("nc-1"); node != "" || names(pods) != "a,b" {
		t.Fatalf("before registration: NominatedTo(nc-1) = %q, %q; want no node, a,b", node, names(pods))
	}
	if node, pods := c.NominatedTo("unknown"); node != "" || pods != nil {
		t.Fatalf("NominatedTo(unknown) = %q, %q; want nothing", node, names(pods))
	}
	// Registered: found by the Node's name too, and the Node is named.
	nc := nodeClaim("nc-1", "small")
	nc.Status.NodeName = "node-1"
	c.UpdateNodeClaim(nc)
	if node, pods := c.NominatedTo("node-1"); node != "node-1" || names(pods) != "a,b" {
		t.Fatalf("NominatedTo(node-1) = %q, %q; want node-1, a,b", node, names(pods))
	}
	// A pod that bound is no longer nominated.
	boundA := a.DeepCopy()
	boundA.Spec.NodeName = "node-1"
	c.UpdatePod(boundA)
	if _, pods := c.NominatedTo("nc-1"); names(pods) != "b" {
		t.Fatalf("after a bound: %q, want b", names(pods))
	}
}

// TestNodePoolUsageAgreesWithSnapshotUsage: the state counts a pool's usage from its own
// indexes (a Node is owned when the NodeClaim registered as it, or any NodeClaim, has its
// provider ID) as snapshot.Usage does from lists, on random clusters with NodeClaims in
// flight, launched but not registered, registered under another name, and Nodes no
// NodeClaim owns. It fails when a Node linked to a NodeClaim with another provider ID, or
// one whose NodeClaim has not recorded it, is counted differently.
func TestNodePoolUsageAgreesWithSnapshotUsage(t *testing.T) {
	its := []*cloudprovider.InstanceType{instanceType("large", "8", "32Gi", 0.4), instanceType("small", "2", "8Gi", 0.1)}
	pools := []string{"default", "other"}
	for seed := range 60 {
		rng := rand.New(rand.NewPCG(uint64(seed), 3))
		c := state.NewCluster(state.Options{Clock: clocktesting.NewFakeClock(time.Now())})
		n := 1 + rng.IntN(12)
		for i := range n {
			pool := pools[rng.IntN(2)]
			id := fmt.Sprintf("fake:///zone-a/%d", i)
			nc := nodeClaim(fmt.Sprintf("nc-%d", i), "large", "small")
			nc.Labels[v1.NodePoolLabelKey] = pool
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), Labels: map[string]string{v1.NodePoolLabelKey: pool}},
				Spec:       corev1.NodeSpec{ProviderID: id},
				Status:     corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(fmt.Sprint(1 + rng.IntN(16)))}},
			}
			switch rng.IntN(6) {
			case 0: // in flight: no provider ID, no Node
				node = nil
			case 1: // launched, its Node not registered to it yet
				nc.Status.ProviderID = id
			case 2: // registered
				nc.Status.ProviderID, nc.Status.NodeName = id, node.Name
				nc.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
			case 3: // registered as this Node, which now has another provider ID
				nc.Status.ProviderID, nc.Status.NodeName = id, node.Name
				node.Spec.ProviderID = id + "-replaced"
			case 4: // a Node no NodeClaim owns
				nc = nil
			case 5: // a Node without a provider ID
				nc = nil
				node.Spec.ProviderID = ""
			}
			if nc != nil {
				c.UpdateNodeClaim(nc)
			}
			if node != nil {
				c.UpdateNode(node)
			}
		}
		objs := c.Objects()
		for _, pool := range pools {
			got, want := c.NodePoolUsage(pool, its), snapshot.Usage(pool, its, objs.NodeClaims, objs.Nodes)
			if !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("seed %d, pool %s: state usage %v, snapshot.Usage %v", seed, pool, got, want)
			}
		}
	}
}
