package podevents

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestReconcileListsOnlyTheNodesNodeClaim: with the status.nodeName index, a pod event
// reads the one NodeClaim on the node, not every NodeClaim in the cluster.
func TestReconcileListsOnlyTheNodesNodeClaim(t *testing.T) {
	ctx := t.Context()
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var claims []client.Object
	for _, name := range []string{"a", "b", "c"} {
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc-" + name}}
		nc.Status.NodeName = "node-" + name
		claims = append(claims, nc)
	}
	listed := -1
	b := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1.NodeClaim{}).WithObjects(claims...).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			err := c.List(ctx, list, opts...)
			if l, ok := list.(*v1.NodeClaimList); ok {
				listed = len(l.Items)
			}
			return err
		}})
	if err := IndexNodeNames(ctx, test.BuilderIndexer{Builder: b}); err != nil {
		t.Fatal(err)
	}
	kube := b.Build()
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second).Add(time.Hour))
	c := NewController(Deps{Client: kube, Clock: clk})
	c.indexed = true // what Register sets once it indexed the manager's cache
	if _, err := c.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "node-b"}}); err != nil {
		t.Fatal(err)
	}
	if listed != 1 {
		t.Errorf("Reconcile listed %d NodeClaims, want only node-b's", listed)
	}
	for _, name := range []string{"a", "b", "c"} {
		got := &v1.NodeClaim{}
		if err := kube.Get(ctx, client.ObjectKey{Name: "nc-" + name}, got); err != nil {
			t.Fatal(err)
		}
		stamped := got.Status.LastPodEventTime.Time.Equal(clk.Now())
		if stamped != (name == "b") {
			t.Errorf("nc-%s lastPodEventTime = %v", name, got.Status.LastPodEventTime)
		}
	}
}
