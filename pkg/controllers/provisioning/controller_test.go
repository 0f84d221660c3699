package provisioning_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// TestPendingPodsAreBatchedThenProvisioned runs the provisioner under a manager: pending
// pods open a batch, nothing is launched until the batch closes on the fake clock, then
// one round launches for all of them; deleting the NodeClaim (as insufficient capacity
// does) re-batches its pods.
func TestPendingPodsAreBatchedThenProvisioned(t *testing.T) {
	h := newHarness(t)
	h.startManager()
	h.createNodePool(nodePool("batched"))
	h.createPendingPod("a", "500m")
	h.createPendingPod("b", "500m")

	// The batch is open (its timers are armed) but does not close without the clock.
	h.eventually("batch opened", func() bool { return h.clk.Waiters() >= 2 })
	time.Sleep(300 * time.Millisecond)
	if n := len(h.nodeClaims()); n != 0 {
		t.Fatalf("%d nodeclaims before the batch closed", n)
	}
	h.clk.Step(time.Second)
	h.eventually("a nodeclaim for the batch", func() bool { return len(h.nodeClaims()) == 1 })
	first := h.nodeClaims()[0]

	// Deleting it puts the pods back into a batch, which launches again.
	if err := env.Client.Delete(h.ctx, &first); err != nil {
		t.Fatal(err)
	}
	h.eventually("a replacement nodeclaim", func() bool {
		if h.clk.Waiters() >= 2 {
			h.clk.Step(time.Second)
		}
		ncs := h.nodeClaims()
		return len(ncs) == 1 && ncs[0].Name != first.Name
	})
	var list v1.NodeClaimList
	if err := env.Client.List(context.Background(), &list, client.MatchingLabels{v1.NodePoolLabelKey: "batched"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("nodeclaims = %d (%v), want exactly 1", len(list.Items), err)
	}
}

// TestPendingPodsAreRechecked: a pod that stays pending is reconciled again later, because
// its nomination can lapse with no event on the pod; a bound pod is left alone.
func TestPendingPodsAreRechecked(t *testing.T) {
	c := provisioning.NewController(provisioning.Deps{Clock: clocktesting.NewFakeClock(time.Now())})
	pending := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
	}}}}
	res, err := c.Reconcile(context.Background(), pending)
	if err != nil || res.RequeueAfter != provisioning.RecheckInterval {
		t.Errorf("pending pod: result %+v, err %v; want a recheck after %v", res, err, provisioning.RecheckInterval)
	}
	bound := pending.DeepCopy()
	bound.Spec.NodeName = "node-a"
	if res, err := c.Reconcile(context.Background(), bound); err != nil || res.RequeueAfter != 0 {
		t.Errorf("bound pod: result %+v, err %v; want no recheck", res, err)
	}
}

// TestNominatedPodsDoNotOpenBatches: the recheck of a pod validly nominated to a NodeClaim
// opens no batch (with a thousand such pods, rechecks would hold every batch open until its
// max duration); a pod that is not nominated does.
func TestNominatedPodsDoNotOpenBatches(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	cluster := state.NewCluster(state.Options{Clock: clk})
	c := provisioning.NewController(provisioning.Deps{Clock: clk, Cluster: cluster})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = c.Start(ctx) }()

	pending := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid")},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			}}},
		}
	}
	nominated, free := pending("nominated"), pending("free")
	cluster.UpdatePod(nominated)
	cluster.UpdatePod(free)
	cluster.UpdateNodeClaim(&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc-1"}})
	if n := cluster.Nominate("nc-1", []*corev1.Pod{nominated}); n != 1 {
		t.Fatalf("Nominate = %d", n)
	}

	res, err := c.Reconcile(ctx, nominated)
	if err != nil || res.RequeueAfter != provisioning.RecheckInterval {
		t.Fatalf("nominated pod: result %+v, err %v; want a recheck", res, err)
	}
	time.Sleep(100 * time.Millisecond)
	if w := clk.Waiters(); w != 0 {
		t.Fatalf("a nominated pod's recheck opened a batch (%d timers armed)", w)
	}
	if _, err := c.Reconcile(ctx, free); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("a pending pod with no nomination opened no batch")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPodsAreProvisionedBeforeTheSchedulerMarksThem: a pod the kube-scheduler has not looked
// at yet (no PodScheduled condition; envtest runs no kube-scheduler) gets capacity from the
// batch its creation opened, instead of waiting for the mark, which comes a few a second under
// a burst. A gated pod does not.
func TestPodsAreProvisionedBeforeTheSchedulerMarksThem(t *testing.T) {
	h := newHarness(t)
	h.startManager()
	h.createNodePool(nodePool("unmarked"))
	for _, p := range []*corev1.Pod{h.pod("fresh", "500m"), h.pod("gated", "500m", func(p *corev1.Pod) {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/hold"}}
	})} {
		if err := env.Client.Create(h.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	h.eventually("a nodeclaim for the unmarked pod", func() bool {
		if h.clk.Waiters() >= 2 {
			h.clk.Step(time.Second)
		}
		return len(h.nodeClaims()) > 0
	})
	ncs := h.nodeClaims()
	if len(ncs) != 1 {
		t.Fatalf("%d nodeclaims, want 1", len(ncs))
	}
	// The provisioner nominates the pods right after the NodeClaim's Create returns, so the
	// list above can see the NodeClaim first: wait for the nomination, then check its target.
	h.eventually("the fresh pod's nomination", func() bool {
		_, ok := h.cluster.Nomination(types.NamespacedName{Namespace: h.ns, Name: "fresh"})
		return ok
	})
	if got, ok := h.cluster.Nomination(types.NamespacedName{Namespace: h.ns, Name: "fresh"}); !ok || got != ncs[0].Name {
		t.Errorf("fresh pod nominated to %q (%v), want %s", got, ok, ncs[0].Name)
	}
	if _, ok := h.cluster.Nomination(types.NamespacedName{Namespace: h.ns, Name: "gated"}); ok {
		t.Error("the gated pod was nominated")
	}
}

// TestSettlingPodsWaitThenOpenABatch: a pod whose initialised node kube-scheduler filled
// while it is still binding (state.Settle) opens no batch; its reconcile comes back when the
// settle ends, and a provisioning round that left it out opens a batch then, without
// waiting for an event on the pod.
func TestSettlingPodsWaitThenOpenABatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC))
	cluster := state.NewCluster(state.Options{Clock: clk})
	c := provisioning.NewController(provisioning.Deps{Clock: clk, Cluster: cluster})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = c.Start(ctx) }()

	pod := func(name, cpu string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			}}},
		}
	}
	waiting, other := pod("waiting", "1"), pod("other", "1500m")
	cluster.UpdatePod(waiting)
	cluster.UpdatePod(other)
	cluster.UpdateNodeClaim(&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc-1"}})
	if n := cluster.Nominate("nc-1", []*corev1.Pod{waiting}); n != 1 {
		t.Fatalf("Nominate = %d", n)
	}
	cluster.UpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("10")}}})
	bound := other.DeepCopy()
	bound.Spec.NodeName = "node-1"
	bound.ResourceVersion = "2"
	cluster.UpdatePod(bound) // kube-scheduler binds another pod where waiting was planned
	cluster.UpdateNodeClaim(&v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "nc-1"},
		Status: v1.NodeClaimStatus{NodeName: "node-1", Conditions: []metav1.Condition{{
			Type: state.ConditionInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(clk.Now())}}},
	})

	res, err := c.Reconcile(ctx, waiting)
	if err != nil || res.RequeueAfter != state.Settle {
		t.Fatalf("settling pod: result %+v, err %v; want a look again after %v", res, err, state.Settle)
	}
	if _, err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if w := clk.Waiters(); w != 1 {
		t.Fatalf("%d timers armed while the pod settles, want 1 (the round's trigger, no batch)", w)
	}
	clk.Step(state.Settle)
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no batch opened once the settle ended")
		}
		time.Sleep(time.Millisecond)
	}
	if res, err := c.Reconcile(ctx, waiting); err != nil || res.RequeueAfter != provisioning.RecheckInterval {
		t.Errorf("settled pod: result %+v, err %v; want it batched with a recheck", res, err)
	}
}
