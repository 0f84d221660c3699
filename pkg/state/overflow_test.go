package state_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// withCPU gives the pod one container requesting cpu.
func withCPU(p *corev1.Pod, cpu string) *corev1.Pod {
	p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}
	return p
}

// twoPendingAndAClaim records two pending 400m pods, first and second, and the NodeClaim
// nc-1 they can be nominated to.
func twoPendingAndAClaim(c *state.Cluster) (first, second *corev1.Pod, nc *v1.NodeClaim) {
	first, second = withCPU(pendingPod("first"), "400m"), withCPU(pendingPod("second"), "400m")
	c.UpdatePod(first)
	c.UpdatePod(second)
	nc = nodeClaim("nc-1", "small")
	c.UpdateNodeClaim(nc)
	return first, second, nc
}

// TestNominationLapsesWhenTheInitializedNodeIsFull: once a NodeClaim's node is initialised,
// a pod nominated to it that no longer fits (kube-scheduler filled the node with other
// pods) is planned again at once, not after the nomination TTL; pods that still fit keep
// their nomination, the oldest nomination first.
func TestNominationLapsesWhenTheInitializedNodeIsFull(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	c := state.NewCluster(state.Options{Clock: clk})
	first, second, nc := twoPendingAndAClaim(c)
	c.Nominate("nc-1", []*corev1.Pod{first})
	clk.Step(time.Second)
	c.Nominate("nc-1", []*corev1.Pod{second})
	if got := names(c.PendingPods()); got != "" {
		t.Fatalf("pending before the node exists = %q, want none", got)
	}

	// The node registers and initialises; another pod took 1.5 of its 2 CPUs.
	c.UpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("10")}}})
	other := withCPU(pendingPod("other"), "1500m")
	other.Spec.NodeName = "node-1"
	c.UpdatePod(other)
	initialized := nc.DeepCopy()
	initialized.Status.NodeName = "node-1"
	initialized.Status.Conditions = []metav1.Condition{{Type: state.ConditionInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(clk.Now())}}
	c.UpdateNodeClaim(initialized)

	if got := names(c.PendingPods()); got != "second" {
		t.Errorf("pending = %q, want second (first, nominated earlier, still fits)", got)
	}
	if _, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "second"}); ok {
		t.Error("second keeps a nomination to a node it does not fit")
	}
	if got, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "first"}); !ok || got != "nc-1" {
		t.Errorf("first's nomination = %q, %v; want nc-1 (it still fits)", got, ok)
	}
	if got := c.Objects().Nominated["nc-1"]; len(got) != 1 || got[0].Name != "first" {
		t.Errorf("snapshot nominations = %v, want only first", got)
	}
	// The other pod finishes: both fit again.
	done := other.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	c.UpdatePod(done)
	if got := names(c.PendingPods()); got != "" {
		t.Errorf("pending after the node freed up = %q, want none", got)
	}
	// A pod of the same name comes back on node-1 (the node index follows it), moves to
	// another node, comes back, then goes: node-1's room follows each step.
	again := withCPU(pendingPod("other"), "1500m")
	again.Spec.NodeName = "node-1"
	for i, step := range []struct {
		node    string
		deleted bool
		pending string
	}{{"node-1", false, "second"}, {"node-2", false, ""}, {"node-1", false, "second"}, {"", true, ""}} {
		if step.deleted {
			c.DeletePod(types.NamespacedName{Namespace: "default", Name: "other"})
		} else {
			p := again.DeepCopy()
			p.Spec.NodeName = step.node
			p.ResourceVersion = fmt.Sprint(i + 10)
			c.UpdatePod(p)
		}
		// A lapsed nomination does not come back by itself: nominate again as the
		// provisioner would.
		c.Nominate("nc-1", []*corev1.Pod{first, second})
		if got := names(c.PendingPods()); got != step.pending {
			t.Errorf("step %d (other on %q, deleted %v): pending = %q, want %q", i, step.node, step.deleted, got, step.pending)
		}
	}
}

// TestNominateByNodeName: a Node's name resolves to the NodeClaim it registered as (an
// index, not a scan), and no longer once that NodeClaim is deleted or being deleted.
func TestNominateByNodeName(t *testing.T) {
	c := state.NewCluster(state.Options{})
	pod := pendingPod("p")
	c.UpdatePod(pod)
	for i, name := range []string{"nc-a", "nc-b"} {
		nc := nodeClaim(name, "small")
		nc.Status.NodeName = []string{"node-a", "node-b"}[i]
		c.UpdateNodeClaim(nc)
	}
	if n := c.Nominate("node-b", []*corev1.Pod{pod}); n != 1 {
		t.Fatalf("Nominate(node-b) = %d, want 1", n)
	}
	if got, _ := c.Nomination(types.NamespacedName{Namespace: "default", Name: "p"}); got != "nc-b" {
		t.Errorf("nominated to %q, want nc-b", got)
	}
	deleting := nodeClaim("nc-a", "small")
	deleting.Status.NodeName = "node-a"
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	c.UpdateNodeClaim(deleting)
	c.DeleteNodeClaim("nc-b")
	for _, node := range []string{"node-a", "node-b"} {
		if n := c.Nominate(node, []*corev1.Pod{pod}); n != 0 {
			t.Errorf("Nominate(%s) = %d after its NodeClaim went, want 0", node, n)
		}
	}
}

// TestOverflowSettlesWhileBinding: a pod whose initialised node is full is planned again
// only once kube-scheduler has bound no pod for state.Settle (it is likely to land in room
// the binding pods leave), and at the latest state.MaxSettle after the node was initialised.
// Disruption still counts it as pending all along.
func TestOverflowSettlesWhileBinding(t *testing.T) {
	start := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC) // whole seconds, as conditions keep
	clk := clocktesting.NewFakeClock(start)
	c := state.NewCluster(state.Options{Clock: clk})
	first, second, nc := twoPendingAndAClaim(c)
	c.Nominate("nc-1", []*corev1.Pod{first, second})
	c.UpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("10")}}})
	// kube-scheduler binds pods one by one: every bind is an unbound pod turning bound.
	binds := 0
	bind := func(node, cpu string) {
		binds++
		p := withCPU(pendingPod(fmt.Sprintf("bound-%d", binds)), cpu)
		c.UpdatePod(p)
		bound := p.DeepCopy()
		bound.Spec.NodeName = node
		bound.ResourceVersion = "2"
		c.UpdatePod(bound)
	}
	bind("node-1", "1500m") // it takes the room planned for second
	initialized := nc.DeepCopy()
	initialized.Status.NodeName = "node-1"
	initialized.Status.Conditions = []metav1.Condition{{Type: state.ConditionInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(clk.Now())}}
	c.UpdateNodeClaim(initialized)
	key := types.NamespacedName{Namespace: "default", Name: "second"}

	check := func(when, toProvision string, settling time.Duration) {
		t.Helper()
		toPlan, wait := c.PodsToProvision()
		if got := names(toPlan); got != toProvision {
			t.Errorf("%s: to provision = %q, want %q", when, got, toProvision)
		}
		if wait != settling {
			t.Errorf("%s: the first held-back pod may be planned in %v, want %v", when, wait, settling)
		}
		if got := names(c.PendingPods()); got != "second" {
			t.Errorf("%s: pending = %q, want second (disruption counts it)", when, got)
		}
		if got := c.Settling(key); got != settling {
			t.Errorf("%s: settling for %v, want %v", when, got, settling)
		}
		if got, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "first"}); !ok || got != "nc-1" {
			t.Errorf("%s: first's nomination = %q, %v; want nc-1 (it fits)", when, got, ok)
		}
	}
	check("just bound", "", state.Settle)
	clk.Step(600 * time.Millisecond)
	check("0.6 s after the bind", "", 400*time.Millisecond)
	clk.Step(400 * time.Millisecond)
	check("1 s after the bind", "second", 0)

	// Binding goes on elsewhere: held back again, but not past MaxSettle after initialisation.
	for at := 1500 * time.Millisecond; at < state.MaxSettle; at += 500 * time.Millisecond {
		clk.SetTime(start.Add(at))
		bind("node-2", "100m")
		want := state.Settle
		if left := state.MaxSettle - at; left < want {
			want = left
		}
		check(fmt.Sprintf("%v after initialisation, binding", at), "", want)
	}
	clk.SetTime(start.Add(state.MaxSettle))
	bind("node-2", "100m")
	check("MaxSettle after initialisation, binding", "second", 0)
}
