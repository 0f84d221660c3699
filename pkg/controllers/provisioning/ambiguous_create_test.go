package provisioning_test

import (
	"context"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// storedThenTimeout stores the first NodeClaim it is asked to create and then answers with
// a timeout, as an API server that committed the write but whose answer was lost.
type storedThenTimeout struct {
	client.Client
	creates atomic.Int64
}

func (c *storedThenTimeout) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*v1.NodeClaim); !ok {
		return c.Client.Create(ctx, obj, opts...)
	}
	if c.creates.Add(1) > 1 {
		return c.Client.Create(ctx, obj, opts...)
	}
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	return apierrors.NewTimeoutError("the server was unable to return a response in the time allotted", 1)
}

// TestAmbiguousNodeClaimCreateMakesOneNodeClaim: the create of the planned NodeClaim timed
// out after the API server stored it. Retried (here, or by the next round planning the
// same pods), it made a second NodeClaim, and a second instance, for the same pods.
func TestAmbiguousNodeClaimCreateMakesOneNodeClaim(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("ambiguous"))
	h.createPendingPod("web", "500m")
	h.ctrl = provisioning.NewController(provisioning.Deps{
		Client: &storedThenTimeout{Client: env.Client}, Cluster: h.cluster, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk,
	})
	// Two rounds back to back, as the batcher runs them while the pods are still pending.
	first, err1 := h.ctrl.Provision(h.ctx)
	_, err2 := h.ctrl.Provision(h.ctx)
	if ncs := h.nodeClaims(); len(ncs) != 1 {
		t.Fatalf("%d NodeClaims for one pending pod after an ambiguous create (errors %v, %v), want 1", len(ncs), err1, err2)
	}
	if err1 != nil || len(first.NodeClaims) != 1 {
		t.Fatalf("first round = %d NodeClaims, %v; want the stored one, recognised", len(first.NodeClaims), err1)
	}
}
