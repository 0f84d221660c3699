package termination

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestNodeEventReadsOnlyItsNodeClaim: with the provider ID indexes, a Node event maps to
// its NodeClaim, and a NodeClaim finds its Node, by reading one object, not every
// NodeClaim and Node of the cluster.
func TestNodeEventReadsOnlyItsNodeClaim(t *testing.T) {
	ctx := t.Context()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for i := range 5 {
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("nc-%d", i)}}
		nc.Status.ProviderID = fmt.Sprintf("sim:///z/i-%d", i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i)}, Spec: corev1.NodeSpec{ProviderID: nc.Status.ProviderID}}
		objs = append(objs, nc, node)
	}
	listed := map[string]int{}
	b := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1.NodeClaim{}).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			err := c.List(ctx, list, opts...)
			switch l := list.(type) {
			case *v1.NodeClaimList:
				listed["nodeclaims"] += len(l.Items)
			case *corev1.NodeList:
				listed["nodes"] += len(l.Items)
			}
			return err
		}})
	if err := providerid.Index(ctx, test.BuilderIndexer{Builder: b}); err != nil {
		t.Fatal(err)
	}
	kube := b.Build()
	c := &Controller{kube: kube, indexed: true} // what Register sets once it indexed the manager's cache
	reqs := c.nodeClaimsOfNode(ctx, objs[5].(*corev1.Node))
	if len(reqs) != 1 || reqs[0].Name != "nc-2" {
		t.Errorf("node-2 maps to %v, want nc-2", reqs)
	}
	nodes, err := nodesByProviderID(ctx, kube, "sim:///z/i-3", c.indexed)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "node-3" {
		t.Errorf("nodes of i-3: %v, %v", nodes, err)
	}
	if listed["nodeclaims"] != 1 || listed["nodes"] != 1 {
		t.Errorf("read %d NodeClaims and %d Nodes, want one of each", listed["nodeclaims"], listed["nodes"])
	}
	// Without the index (a client that has none) the answer is the same.
	for id, want := range map[string]string{"sim:///z/i-4": "nc-4", "": ""} {
		claims, err := nodeClaimsByProviderID(ctx, kube, id, false)
		if err != nil || (want == "") != (len(claims) == 0) || (want != "" && claims[0].Name != want) {
			t.Errorf("unindexed %q: %v, %v", id, claims, err)
		}
	}
}
