package aws_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/garbagecollection"
)

// TestGarbageCollection runs the core garbage collector over the aws provider: of two
// tagged instances, the one no NodeClaim owns is terminated once past the launch grace
// period, the owned one is kept.
func TestGarbageCollection(t *testing.T) {
	s := newSetup(t, "gc", setupOptions{})
	ctx := t.Context()
	owned, err := s.provider.Create(ctx, nodeClaim("gc-owned", "gc"))
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, owned)
	orphan, err := s.provider.Create(ctx, nodeClaim("gc-orphan", "gc"))
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, orphan)
	// Only the owned one is a NodeClaim in the cluster (the fake client keeps its status).
	stored := owned.DeepCopy()
	stored.ResourceVersion = ""
	stored.CreationTimestamp = metav1.Time{}
	if err := s.kube.Create(ctx, stored); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now().Add(garbagecollection.DefaultLaunchGracePeriod + time.Minute))
	gc := garbagecollection.NewController(garbagecollection.Deps{Client: s.kube, CloudProvider: s.provider, Clock: clk})
	if _, err := gc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.Get(ctx, orphan.Status.ProviderID); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Errorf("the orphan %s survived garbage collection: %v", orphan.Status.ProviderID, err)
	}
	if _, err := s.provider.Get(ctx, owned.Status.ProviderID); err != nil {
		t.Errorf("the owned instance was collected: %v", err)
	}
}
