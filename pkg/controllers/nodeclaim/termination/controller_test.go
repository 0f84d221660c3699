package termination

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// TestDrainOrderAndFinalize walks a node through a whole termination: non-critical pods
// are evicted first, critical pods next, DaemonSet pods last; pods that tolerate the
// disrupted taint and static pods stay; then the instance, the Node and both finalizers go.
func TestDrainOrderAndFinalize(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 0)
	h.pod("web", node.Name, fixtures.OwnedBy("ReplicaSet"))
	h.pod("dns", node.Name, fixtures.OwnedBy("ReplicaSet"), fixtures.Priority(pods.SystemClusterCritical))
	h.pod("agent", node.Name, fixtures.OwnedBy("DaemonSet"))
	h.pod("tolerant", node.Name, fixtures.Tolerating(v1.DisruptedTaintKey))
	h.pod("static", node.Name, fixtures.OwnedBy("Node"))

	// Not being deleted: nothing happens.
	if d := h.reconcile(nc.Name); d != 0 || h.podStates()["web"] {
		t.Fatalf("a live nodeclaim must be left alone (requeue %v)", d)
	}
	h.deleteClaim(nc)

	steps := []struct{ evicted string }{{"web"}, {"dns"}, {"agent"}}
	for _, step := range steps {
		if d := h.reconcile(nc.Name); d <= 0 {
			t.Fatalf("draining must requeue, got %v", d)
		}
		states := h.podStates()
		for name, terminating := range states {
			if terminating != (name == step.evicted) {
				t.Fatalf("after evicting %s: pod states %v", step.evicted, states)
			}
		}
		if removed := h.kubelet(); !slices.Equal(removed, []string{step.evicted}) {
			t.Fatalf("kubelet removed %v, want [%s]", removed, step.evicted)
		}
	}
	if !h.exists(node) || !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) }) {
		t.Fatalf("node must be tainted %v while draining, got %v", v1.DisruptedNoScheduleTaint, node.Spec.Taints)
	}
	if calls := h.cloud.Calls(fake.MethodDelete); len(calls) != 0 {
		t.Fatalf("instance deleted before the drain finished: %v", calls)
	}

	if d := h.reconcile(nc.Name); d != 0 {
		t.Fatalf("drained node must finish, requeue %v", d)
	}
	if h.exists(nc) || h.exists(node) {
		t.Fatalf("nodeclaim and node must be gone")
	}
	if calls := h.cloud.Calls(fake.MethodDelete); len(calls) != 1 || calls[0].NodeClaim.Status.ProviderID != nc.Status.ProviderID {
		t.Fatalf("cloud Delete calls = %+v", calls)
	}
	if states := h.podStates(); len(states) != 2 || states["tolerant"] || states["static"] {
		t.Fatalf("tolerating and static pods must be left alone: %v", states)
	}
	ev := h.events()
	for _, want := range []string{ReasonDraining, ReasonEvicted, ReasonTerminatingInstance, ReasonTerminated} {
		if !strings.Contains(ev, want) {
			t.Errorf("events %q lack %s", ev, want)
		}
	}
	if nc.Labels[v1.LabelTopologyZone] == "" {
		t.Fatal("the fixture launched no zone label: the zone label checks below would prove nothing")
	}
	if got := h.counter("nodes", "pool", nc.Labels[v1.LabelTopologyZone]); got != 1 {
		t.Errorf("karpenter_nodes_terminated_total = %v", got)
	}
	if got := h.counter("nodeclaims", "pool", nc.Labels[v1.CapacityTypeLabelKey], nc.Labels[v1.LabelTopologyZone]); got != 1 {
		t.Errorf("karpenter_nodeclaims_terminated_total = %v", got)
	}
}

// TestPDBBlocksDrainUntilGracePeriod: a PodDisruptionBudget of maxUnavailable 0 turns
// every eviction into a 429; the pod and node stay until the terminationGracePeriod ends,
// then the pod is deleted directly and the node terminated.
func TestPDBBlocksDrainUntilGracePeriod(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 5*time.Minute)
	pod := h.pod("guarded", node.Name, fixtures.OwnedBy("ReplicaSet"))
	zero := intstr.FromInt32(0)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guard", Namespace: h.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &zero,
			Selector:       &metav1.LabelSelector{MatchLabels: pod.Labels},
		},
	}
	if err := env.Client.Create(h.ctx, pdb); err != nil {
		t.Fatal(err)
	}
	h.deleteClaim(nc)

	var backoffs []time.Duration
	for range 3 {
		d := h.reconcile(nc.Name)
		if d <= 0 {
			t.Fatalf("blocked drain must requeue")
		}
		backoffs = append(backoffs, d)
		if states := h.podStates(); states["guarded"] {
			t.Fatal("the PDB must keep the pod")
		}
	}
	if !(backoffs[0] < backoffs[1] && backoffs[1] < backoffs[2]) {
		t.Errorf("requeues %v must back off", backoffs)
	}
	if !h.exists(nc) || !h.exists(node) || len(h.cloud.Calls(fake.MethodDelete)) != 0 {
		t.Fatal("node and instance must stay while the PDB blocks")
	}
	deadline := nc.DeletionTimestamp.Add(5 * time.Minute).UTC().Format(time.RFC3339)
	if got := nc.Annotations[v1.NodeClaimTerminationTimestampAnnotationKey]; got != deadline {
		t.Errorf("termination timestamp annotation = %q, want %q", got, deadline)
	}
	if ev := h.events(); !strings.Contains(ev, ReasonEvictionBlocked) {
		t.Errorf("events %q lack %s", ev, ReasonEvictionBlocked)
	}

	h.clock.SetTime(nc.DeletionTimestamp.Add(5*time.Minute + time.Second))
	if d := h.reconcile(nc.Name); d != 0 {
		t.Fatalf("after the grace period the node must finish, requeue %v", d)
	}
	if states := h.podStates(); len(states) != 0 && !states["guarded"] {
		t.Fatalf("the pod must be deleted once the grace period is over: %v", states)
	}
	if h.exists(nc) || h.exists(node) || len(h.cloud.Calls(fake.MethodDelete)) != 1 {
		t.Fatal("node, nodeclaim and instance must be gone")
	}
	if ev := h.events(); !strings.Contains(ev, ReasonGracePeriodExpiring) {
		t.Errorf("events %q lack %s", ev, ReasonGracePeriodExpiring)
	}
}

// TestDoNotDisruptWaitsForGracePeriod: a do-not-disrupt pod is never evicted; a pod whose
// own grace period would outlast the node's is deleted early with the time left.
func TestDoNotDisruptWaitsForGracePeriod(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 10*time.Minute)
	h.pod("precious", node.Name, fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"))
	slow := int64(4 * 60)
	h.pod("slow", node.Name, fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"), func(p *corev1.Pod) {
		p.Spec.TerminationGracePeriodSeconds = &slow
	})
	h.deleteClaim(nc)
	for range 2 {
		if d := h.reconcile(nc.Name); d <= 0 {
			t.Fatal("must keep waiting")
		}
	}
	if states := h.podStates(); states["precious"] || states["slow"] {
		t.Fatalf("do-not-disrupt pods must not be evicted: %v", states)
	}
	// Seven minutes in, the slow pod's 4-minute grace period no longer fits: it is deleted.
	h.clock.SetTime(nc.DeletionTimestamp.Add(7 * time.Minute))
	h.reconcile(nc.Name)
	stored := &corev1.Pod{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "slow"}, stored); err != nil {
		t.Fatal(err)
	}
	if stored.DeletionTimestamp == nil || stored.DeletionGracePeriodSeconds == nil || *stored.DeletionGracePeriodSeconds > 180 {
		t.Fatalf("slow pod must be deleted with at most 180s left, got %v / %v", stored.DeletionTimestamp, stored.DeletionGracePeriodSeconds)
	}
	if h.podStates()["precious"] {
		t.Fatal("the 30s pod must wait until its own grace period no longer fits")
	}
	h.clock.SetTime(nc.DeletionTimestamp.Add(10 * time.Minute))
	if d := h.reconcile(nc.Name); d != 0 {
		t.Fatalf("requeue %v after the grace period", d)
	}
	if h.exists(nc) || h.exists(node) {
		t.Fatal("node must be terminated at the end of the grace period")
	}
}

// TestNodeDeletionCascades: deleting a Node deletes its NodeClaim, whose termination then
// removes the Node; a Node without a NodeClaim is simply released.
func TestNodeDeletionCascades(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 0)
	nodes := NewNodeController(env.Client, h.recorder)
	if err := env.Client.Delete(h.ctx, node); err != nil {
		t.Fatal(err)
	}
	if !h.exists(node) {
		t.Fatal("the finalizer must hold the node")
	}
	if _, err := nodes.Reconcile(h.ctx, node); err != nil {
		t.Fatal(err)
	}
	if !h.exists(nc) || nc.DeletionTimestamp == nil {
		t.Fatal("the nodeclaim must be deleted with its node")
	}
	h.reconcile(nc.Name)
	if h.exists(nc) || h.exists(node) {
		t.Fatal("termination must finish both")
	}

	orphan := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fixtures.Name(t, "orphan"), Finalizers: []string{v1.TerminationFinalizer}},
		Spec: corev1.NodeSpec{ProviderID: "fake:///zone/none"}}
	if err := env.Client.Create(h.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(h.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	h.exists(orphan)
	if _, err := nodes.Reconcile(h.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if h.exists(orphan) {
		t.Fatal("a node without nodeclaim must be released")
	}
}

// TestInstanceAlreadyGone: NodeClaimNotFound from Delete means done.
func TestInstanceAlreadyGone(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 0)
	if err := h.cloud.Delete(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	h.deleteClaim(nc)
	if d := h.reconcile(nc.Name); d != 0 {
		t.Fatalf("requeue %v", d)
	}
	if h.exists(nc) || h.exists(node) {
		t.Fatal("nodeclaim and node must be gone")
	}
}

// TestLaunchInFlightKeepsTheFinalizer: a NodeClaim deleted while its launch is in flight
// (Launched=Unknown, reason Launching, no provider ID yet) must keep its finalizer: the
// instance may be coming up, and once the NodeClaim is gone nothing would claim it. The
// lifecycle controller, which owns the launch, either records the instance or releases
// the NodeClaim. A NodeClaim that never started launching is released at once.
func TestLaunchInFlightKeepsTheFinalizer(t *testing.T) {
	h := newHarness(t)
	launching := fixtures.NodeClaim(fixtures.Name(t, "launching"), "pool")
	idle := fixtures.NodeClaim(fixtures.Name(t, "idle"), "pool")
	for _, nc := range []*v1.NodeClaim{launching, idle} {
		if err := env.Client.Create(h.ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	stored := launching.DeepCopy()
	meta.SetStatusCondition(&launching.Status.Conditions, metav1.Condition{
		Type: "Launched", Status: metav1.ConditionUnknown, Reason: "Launching", LastTransitionTime: metav1.NewTime(h.clock.Now()),
	})
	if err := env.Client.Status().Patch(h.ctx, launching, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	h.deleteClaim(launching)
	h.deleteClaim(idle)

	if d := h.reconcile(launching.Name); d <= 0 {
		t.Fatalf("a nodeclaim whose launch is in flight must be looked at again, requeue %v", d)
	}
	if !h.exists(launching) || !slices.Contains(launching.Finalizers, v1.TerminationFinalizer) {
		t.Fatal("the finalizer of a nodeclaim whose launch is in flight was released: its instance would leak")
	}
	h.reconcile(idle.Name)
	if h.exists(idle) {
		t.Fatal("a nodeclaim that never started launching must be released")
	}
}

// TestAlreadyGoneIsNotAnError: a reconcile that works from a stale copy (the informer had
// not caught up) and finds the NodeClaim or Node already gone has nothing left to do. It
// must not fail: fmt.Errorf("...: %w", client.IgnoreNotFound(err)) is a non-nil error
// ("%!w(<nil>)") that logged spurious errors and requeued with backoff.
func TestAlreadyGoneIsNotAnError(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("n", 0)
	h.deleteClaim(nc)
	staleClaim := nc.DeepCopy()
	staleNode := node.DeepCopy()
	h.reconcile(nc.Name)
	if h.exists(nc.DeepCopy()) || h.exists(node.DeepCopy()) {
		t.Fatal("nodeclaim and node must be gone")
	}
	if _, err := h.ctrl.Reconcile(h.ctx, staleClaim); err != nil {
		t.Errorf("reconciling a nodeclaim already gone: %v", err)
	}
	staleNode.DeletionTimestamp = staleClaim.DeletionTimestamp
	if err := h.ctrl.removeNode(h.ctx, staleClaim, staleNode); err != nil {
		t.Errorf("removing a node already gone: %v", err)
	}
	if _, err := NewNodeController(env.Client, h.recorder).Reconcile(h.ctx, staleNode); err != nil {
		t.Errorf("releasing a node already gone: %v", err)
	}
	staleNode.DeletionTimestamp = nil
	if err := h.ctrl.removeNode(h.ctx, staleClaim, staleNode); err != nil {
		t.Errorf("deleting a node already gone: %v", err)
	}
}
