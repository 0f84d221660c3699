package sim_test

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// The SimNodeClass fault knobs are read on every launch, so `kubectl patch` on a running
// controller injects them.

// TestClassInsufficientCapacity: the class's insufficientCapacity selectors (globs, empty
// matching anything) exhaust pools; launches fail over around them, each pool tried is
// reported unavailable, and when nothing compatible is left the launch is an
// InsufficientCapacityError.
func TestClassInsufficientCapacity(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{InsufficientCapacity: []simv1alpha1.SimOfferingSelector{
		{CapacityType: "spot"},                       // every spot pool
		{InstanceType: "c7*", Zone: "us-east-1a"},    // c7 families in zone a, any capacity type
		{InstanceType: "m7i.large", Zone: "nowhere"}, // matches no pool
	}})
	ctx := test.Context(t)
	types := in(v1.LabelInstanceType, "c7i.large", "m7i.large")
	// Without faults the cheapest is a spot pool; spot is out, and c7i.large on demand is
	// cheaper than m7i.large but out in zone a.
	got, err := f.provider.Create(ctx, f.nodeClaim("storm", types))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.provider.Delete(ctx, got) })
	if it, zone, ct := got.Labels[v1.LabelInstanceType], got.Labels[v1.LabelTopologyZone], got.Labels[v1.CapacityTypeLabelKey]; it != "c7i.large" || zone == "us-east-1a" || ct != "on-demand" {
		t.Fatalf("launched %s in %s (%s), want c7i.large on demand outside us-east-1a", it, zone, ct)
	}
	// The pools the launch tried are reported unavailable; the others are not.
	for _, pool := range [][3]string{{"c7i.large", "us-east-1a", "spot"}, {"m7i.large", "us-east-1b", "spot"}, {"c7i.large", "us-east-1a", "on-demand"}} {
		if available(t, f.provider, pool[0], pool[1], pool[2]) {
			t.Errorf("exhausted pool %v still reported available", pool)
		}
	}
	if !available(t, f.provider, "m7i.large", "us-east-1a", "on-demand") {
		t.Error("m7i.large on demand in us-east-1a reported unavailable; no selector matches it")
	}
	// A glob does not match other families: m7i.large on demand in zone a launches.
	m7, err := f.provider.Create(ctx, f.nodeClaim("m7", in(v1.LabelInstanceType, "m7i.large"), in(v1.LabelTopologyZone, "us-east-1a"), in(v1.CapacityTypeLabelKey, "on-demand")))
	if err != nil {
		t.Fatalf("launching a pool no selector matches: %v", err)
	}
	t.Cleanup(func() { _ = f.provider.Delete(ctx, m7) })
	// Spot only: nothing left, and nothing launched.
	_, err = f.provider.Create(ctx, f.nodeClaim("spot-only", types, in(v1.CapacityTypeLabelKey, "spot")))
	if !cloudprovider.IsInsufficientCapacityError(err) {
		t.Fatalf("spot-only Create: %v, want InsufficientCapacityError", err)
	}
	if list, _ := f.provider.List(ctx); len(list) != 2 {
		t.Fatalf("%d instances, want 2", len(list))
	}
	// The storm ends: the class no longer lists spot. The pools stay unavailable until the
	// TTL, as a cloud's capacity answer is cached; then spot launches again.
	f.class.Spec.InsufficientCapacity = nil
	if err := env.Client.Update(ctx, f.class); err != nil {
		t.Fatal(err)
	}
	if available(t, f.provider, "c7i.large", "us-east-1a", "spot") {
		t.Error("a pool the storm exhausted is available again before the TTL")
	}
	f.clock.Step(sim.DefaultUnavailableOfferingsTTL)
	spot, err := f.provider.Create(ctx, f.nodeClaim("calm", types, in(v1.CapacityTypeLabelKey, "spot")))
	if err != nil {
		t.Fatalf("spot launch after the storm: %v", err)
	}
	if err := f.provider.Delete(ctx, spot); err != nil {
		t.Fatal(err)
	}
}

// TestLateLaunch: with lateLaunch the launch request times out, yet the cloud records the
// instance and shows it once the delay has passed; retries time out until then and adopt it
// after, never launching a second instance, also across a restart of the provider.
func TestLateLaunch(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{LateLaunch: &metav1.Duration{Duration: 20 * time.Second}})
	ctx := test.Context(t)
	nc := f.nodeClaim("ambiguous")
	_, err := f.provider.Create(ctx, nc)
	if !errors.Is(err, sim.ErrLaunchTimedOut) {
		t.Fatalf("Create = %v, want ErrLaunchTimedOut", err)
	}
	if cloudprovider.IsInsufficientCapacityError(err) || cloudprovider.AsCreateError(err) != nil {
		t.Fatalf("a timeout must read as retryable, not as %v", err)
	}
	expectStored := func(n int) []simv1alpha1.SimInstance {
		t.Helper()
		var list simv1alpha1.SimInstanceList
		if err := env.Client.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != n {
			t.Fatalf("%d SimInstances stored, want %d", len(list.Items), n)
		}
		return list.Items
	}
	// The cloud acted: one instance is recorded, but no API shows it yet.
	stored := expectStored(1)
	if stored[0].Spec.NodeClaimUID != string(nc.UID) {
		t.Fatalf("stored instance is for %q, want %q", stored[0].Spec.NodeClaimUID, nc.UID)
	}
	providerID := sim.ProviderIDPrefix + stored[0].Spec.Zone + "/" + stored[0].Name
	expectHidden := func(p *sim.Provider) {
		t.Helper()
		if list, err := p.List(ctx); err != nil || len(list) != 0 {
			t.Fatalf("List before the instance appeared = %d, %v", len(list), err)
		}
		if insts, err := p.Instances(ctx); err != nil || len(insts) != 0 {
			t.Fatalf("Instances before the instance appeared = %d, %v", len(insts), err)
		}
		if _, err := p.Get(ctx, providerID); !cloudprovider.IsNodeClaimNotFoundError(err) {
			t.Fatalf("Get before the instance appeared: %v", err)
		}
	}
	expectHidden(f.provider)
	// A retry times out as well and launches nothing more.
	f.clock.Step(10 * time.Second)
	if _, err := f.provider.Create(ctx, nc); !errors.Is(err, sim.ErrLaunchTimedOut) {
		t.Fatalf("retried Create = %v, want ErrLaunchTimedOut", err)
	}
	expectStored(1)
	// A restarted provider loads the pending launch and hides it as well.
	restarted := f.newProvider()
	expectHidden(restarted)
	f.clock.Step(10 * time.Second)
	for _, p := range []*sim.Provider{f.provider, restarted} {
		list, err := p.List(ctx)
		if err != nil || len(list) != 1 || list[0].Status.ProviderID != providerID || list[0].Name != nc.Name || list[0].UID != nc.UID {
			t.Fatalf("List after the delay = %+v, %v", list, err)
		}
		got, err := p.Create(ctx, nc)
		if err != nil || got.Status.ProviderID != providerID {
			t.Fatalf("Create after the delay = %v, %v; want the late instance %s", got, err, providerID)
		}
	}
	expectStored(1)
	if err := f.provider.Delete(ctx, &v1.NodeClaim{Status: v1.NodeClaimStatus{ProviderID: providerID}}); err != nil {
		t.Fatal(err)
	}
}
