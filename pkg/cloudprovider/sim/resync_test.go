package sim_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
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
