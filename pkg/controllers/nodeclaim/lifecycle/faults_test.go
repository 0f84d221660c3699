package lifecycle_test

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
	lc "github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
)

// direct returns a controller that the test drives by calling Reconcile itself, on a
// manager's client (the provider ID indexes need its cache) with no controller running.
func (h *harness) direct() *lc.Controller {
	h.t.Helper()
	mgr := env.StartManager(h.t, func(ctx context.Context, mgr manager.Manager) error {
		return providerid.Index(ctx, mgr.GetFieldIndexer())
	})
	return lc.NewController(lc.Deps{Client: mgr.GetClient(), CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk})
}

// stored creates the NodeClaim with the termination finalizer and returns it as stored.
func (h *harness) stored(name string, mutate ...func(*v1.NodeClaim)) *v1.NodeClaim {
	h.t.Helper()
	nc := newNodeClaim(name, append([]func(*v1.NodeClaim){func(nc *v1.NodeClaim) { nc.Finalizers = []string{v1.TerminationFinalizer} }}, mutate...)...)
	h.create(nc)
	return nc
}

// gone strips the finalizers and deletes the NodeClaim, so no version of it is left.
func (h *harness) gone(nc *v1.NodeClaim) {
	h.t.Helper()
	cp := nc.DeepCopy()
	if err := env.Client.Patch(h.ctx, cp, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		h.t.Fatal(err)
	}
	if err := env.Client.Delete(h.ctx, cp); client.IgnoreNotFound(err) != nil {
		h.t.Fatal(err)
	}
	h.eventually(func() error {
		if _, err := h.get(nc.Name); err == nil {
			return errors.New("still there")
		}
		return nil
	})
}

// TestDeletedBeforeLaunchMarkerIsNotLaunched: the NodeClaim is deleted between the read
// the reconcile works from and the write that marks its launch in flight. That write's
// NotFound must stop the launch; taken as success, it launched an instance nothing claims.
func TestDeletedBeforeLaunchMarkerIsNotLaunched(t *testing.T) {
	h := newHarness(t)
	nc := h.stored("deleted-before-launch")
	h.gone(nc)
	if _, err := h.direct().Reconcile(h.ctx, nc); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if calls := h.cloud.Calls(fake.MethodCreate); len(calls) != 0 {
		t.Fatalf("%d Create calls for a NodeClaim that no longer exists, want 0", len(calls))
	}
	if instances, _ := h.cloud.List(h.ctx); len(instances) != 0 {
		t.Fatalf("%d instances launched for a deleted NodeClaim", len(instances))
	}
}

// TestLaunchFailedIsPersistedInOneReconcile: the launch marker's write changes the
// resource version, and the reconcile's final status write used the version read at its
// start, so it always conflicted and the LaunchFailed reason never reached the API server.
func TestLaunchFailedIsPersistedInOneReconcile(t *testing.T) {
	h := newHarness(t)
	nc := h.stored("launch-fails")
	h.cloud.FailNext(fake.MethodCreate, errors.New("internal error"))
	if _, err := h.direct().Reconcile(h.ctx, nc); err == nil {
		t.Fatal("reconcile succeeded, want the launch error")
	}
	got, err := h.get(nc.Name)
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, lc.ConditionLaunched)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != lc.ReasonLaunchFailed {
		t.Fatalf("stored Launched = %+v, want False/%s", c, lc.ReasonLaunchFailed)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, lc.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("stored Ready = %+v, want False (the final write must land too)", c)
	}
}

// TestRecreatedNodeClaimDoesNotAdoptPredecessorsInstance: a NodeClaim is deleted and one of
// the same name created while the first one's instance still runs. The new one, seen
// mid-launch (a restart), must launch its own instance: matching by name adopted the old
// instance, and termination would then have deleted it under the wrong NodeClaim.
func TestRecreatedNodeClaimDoesNotAdoptPredecessorsInstance(t *testing.T) {
	h := newHarness(t)
	old := h.stored("recreated")
	oldInstance, err := h.cloud.Create(h.ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	h.gone(old)
	nc := h.stored("recreated")
	if nc.UID == old.UID {
		t.Fatal("the API server reused the UID")
	}
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionUnknown, Reason: lc.ReasonLaunching, Message: "launching", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	if _, err := h.direct().Reconcile(h.ctx, nc); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	got, err := h.get(nc.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ProviderID == "" || got.Status.ProviderID == oldInstance.Status.ProviderID {
		t.Fatalf("provider ID = %q; want a new instance, not the predecessor's %q", got.Status.ProviderID, oldInstance.Status.ProviderID)
	}

	// Deleted mid-launch, it must not record the predecessor's instance either.
	h.gone(got)
	again := h.stored("recreated")
	again.Status.Conditions = nc.Status.Conditions
	if err := env.Client.Status().Update(h.ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(h.ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(again), again); err != nil {
		t.Fatal(err)
	}
	if _, err := h.direct().Reconcile(h.ctx, again); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if after, err := h.get(again.Name); err == nil && after.Status.ProviderID != "" {
		t.Fatalf("deleted NodeClaim recorded provider ID %q of an instance it never launched", after.Status.ProviderID)
	}
}

// TestStaleMidLaunchReadDoesNotLaunchAgain: a reconcile reads, from a lagging cache, the
// version that marked the launch in flight, while the stored NodeClaim has since failed
// with insufficient capacity and is being deleted. Resuming a launch skips the marker's
// write, the only write whose optimistic lock would have caught the stale read, so it
// launched a second instance for a NodeClaim already given up on (seen as
// TestInsufficientCapacityDeletesTheNodeClaim's rare "nodeclaim still there" under load).
func TestStaleMidLaunchReadDoesNotLaunchAgain(t *testing.T) {
	h := newHarness(t)
	nc := h.stored("stale-mid-launch")
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionUnknown, Reason: lc.ReasonLaunching, Message: "launching", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	stale := nc.DeepCopy()
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionFalse, Reason: lc.ReasonInsufficientCapacity, Message: "no capacity", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	_, err := h.direct().Reconcile(h.ctx, stale)
	if calls := h.cloud.Calls(fake.MethodCreate); len(calls) != 0 {
		t.Fatalf("%d Create calls from a stale read of a NodeClaim being deleted, want 0 (reconcile: %v)", len(calls), err)
	}
	if instances, _ := h.cloud.List(h.ctx); len(instances) != 0 {
		t.Fatalf("%d instances launched for a NodeClaim being deleted", len(instances))
	}
}
