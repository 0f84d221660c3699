package lifecycle_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	lc "github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
)

// errTimeout is a Create failure that says nothing about whether the cloud acted.
var errTimeout = errors.New("launching instance: request timed out")

// TestRetryAfterAmbiguousFailureAdoptsTheInstance: Create timed out after the cloud had in
// fact launched the instance, and the Launched condition says LaunchFailed. The retry must
// adopt that instance, not launch a second one.
func TestRetryAfterAmbiguousFailureAdoptsTheInstance(t *testing.T) {
	h := newHarness(t)
	nc := h.ambiguouslyLaunched("ambiguous")
	h.start()
	got := h.condition("ambiguous", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	instances, err := h.cloud.List(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(instances) != 1 {
		t.Fatalf("%d instances, want 1: the retry launched again instead of adopting", len(instances))
	}
	if got.Status.ProviderID != instances[0].Status.ProviderID {
		t.Errorf("provider ID = %q, want the instance launched by the failed call, %q", got.Status.ProviderID, instances[0].Status.ProviderID)
	}
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 1 {
		t.Errorf("%d Create calls for %s, want only the failed one", n, nc.Name)
	}
}

// ambiguouslyLaunched stores a NodeClaim whose Create failed after the cloud launched its
// instance: Launched=False with reason LaunchFailed, no provider ID, and one instance in
// the fake cloud named after it.
func (h *harness) ambiguouslyLaunched(name string) *v1.NodeClaim {
	h.t.Helper()
	nc := newNodeClaim(name, func(nc *v1.NodeClaim) { nc.Finalizers = []string{v1.TerminationFinalizer} })
	h.create(nc)
	h.cloud.LaunchThenFail(errTimeout)
	if _, err := h.cloud.Create(h.ctx, nc); !errors.Is(err, errTimeout) {
		h.t.Fatalf("Create = %v, want the injected timeout", err)
	}
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionFalse, Reason: lc.ReasonLaunchFailed, Message: errTimeout.Error(), LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		h.t.Fatal(err)
	}
	return nc
}

// TestDeletedAfterAmbiguousFailureKeepsTheInstance: Create timed out after launching, the
// Launched condition says LaunchFailed, and the NodeClaim is deleted before a retry. Its
// finalizer must stay and its provider ID be recorded, so termination deletes the instance
// instead of leaving it to garbage collection.
func TestDeletedAfterAmbiguousFailureKeepsTheInstance(t *testing.T) {
	h := newHarness(t)
	nc := h.ambiguouslyLaunched("ambiguous-deleted")
	if err := env.Client.Delete(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	instances, err := h.cloud.List(h.ctx)
	if err != nil || len(instances) != 1 {
		t.Fatalf("List = %v, %v; want the instance the failed call launched", instances, err)
	}
	h.start()
	h.eventually(func() error {
		got, err := h.get("ambiguous-deleted")
		if err != nil {
			return fmt.Errorf("nodeclaim released without its instance (%w)", err)
		}
		if got.Status.ProviderID != instances[0].Status.ProviderID {
			return fmt.Errorf("provider ID = %q, want %q", got.Status.ProviderID, instances[0].Status.ProviderID)
		}
		if !slices.Contains(got.Finalizers, v1.TerminationFinalizer) {
			return fmt.Errorf("finalizers = %v", got.Finalizers)
		}
		return nil
	})
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 1 {
		t.Errorf("%d Create calls, want only the failed one", n)
	}
}
