package sim_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestRegistrarNoticesAnInstanceDeletedByHand: kubectl delete siminstance simulates an
// instance terminated outside Karpenter. After a registrar pass the provider no longer
// reports it, so garbage collection deletes its NodeClaim, and its Node is gone.
func TestRegistrarNoticesAnInstanceDeletedByHand(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	registrar := f.registrar(0)
	got, err := f.provider.Create(ctx, f.nodeClaim("terminated-by-hand"))
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := parse(t, got.Status.ProviderID)
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); err != nil {
		t.Fatalf("node not registered: %v", err)
	}
	if err := env.Client.Delete(ctx, &simv1alpha1.SimInstance{ObjectMeta: metav1.ObjectMeta{Name: id}}); err != nil {
		t.Fatal(err)
	}
	// Passes work from memory until the resync interval has passed.
	f.clock.Step(noderegistrar.DefaultResyncInterval)
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.provider.Get(ctx, got.Status.ProviderID); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Errorf("Get after the instance was deleted by hand = %v, want NodeClaimNotFound", err)
	}
	listed, err := f.provider.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(listed, func(nc *v1.NodeClaim) bool { return nc.Status.ProviderID == got.Status.ProviderID }) {
		t.Errorf("List still has the instance deleted by hand")
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); !apierrors.IsNotFound(err) {
		t.Errorf("node of the instance deleted by hand still there: %v", err)
	}
}

// laggingCache is an InstanceReader that lists what it was last given, as an informer
// cache that has not seen the latest writes yet does (or fails when err is set).
type laggingCache struct {
	items []simv1alpha1.SimInstance
	err   error
}

func (c *laggingCache) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("laggingCache: Get not used")
}

func (c *laggingCache) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if c.err != nil {
		return c.err
	}
	list.(*simv1alpha1.SimInstanceList).Items = slices.Clone(c.items)
	return nil
}

// TestResyncFromALaggingCache: with Options.InstanceReader a resync lists a cache, which can
// lag the provider's own writes. An instance just launched and not in the cached list yet
// stays (it vanished, and the registrar would have dropped its Node, when a write counted as
// seen by any list that began after it); once RecentWriteTTL has passed the cached list
// wins, so an instance deleted by hand is noticed; a cache that fails is passed over for
// the API server.
func TestResyncFromALaggingCache(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	cache := &laggingCache{}
	p, err := sim.New(sim.Options{Client: env.Client, Clock: f.clock, InstanceReader: cache})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Create(ctx, f.nodeClaim("lagging-cache"))
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := parse(t, got.Status.ProviderID)
	f.clock.Step(time.Second)
	if err := p.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, got.Status.ProviderID); err != nil {
		t.Fatalf("Get after a resync from a cache that has not seen the launch: %v, want the instance", err)
	}

	// The cache catches up, then the instance is deleted by hand; the cache sees that too.
	inst := &simv1alpha1.SimInstance{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, inst); err != nil {
		t.Fatal(err)
	}
	cache.items = []simv1alpha1.SimInstance{*inst}
	if err := env.Client.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	cache.items = nil
	f.clock.Step(sim.RecentWriteTTL)
	if err := p.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, got.Status.ProviderID); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("Get %s after its write aged past RecentWriteTTL and the cache lost it = %v, want NodeClaimNotFound", sim.RecentWriteTTL, err)
	}

	// A failing cache: the API server's list is used.
	second, err := p.Create(ctx, f.nodeClaim("failing-cache"))
	if err != nil {
		t.Fatal(err)
	}
	cache.err = errors.New("cache not started")
	f.clock.Step(sim.RecentWriteTTL)
	if err := p.Resync(ctx); err != nil {
		t.Fatalf("Resync with a failing cache: %v", err)
	}
	if _, err := p.Get(ctx, second.Status.ProviderID); err != nil {
		t.Errorf("Get after a resync that fell back to the API server: %v, want the instance", err)
	}
	if err := p.Delete(ctx, second); err != nil && !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatal(err)
	}
}
