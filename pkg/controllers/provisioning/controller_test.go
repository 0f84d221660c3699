package provisioning_test

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// TestPendingPodsAreBatchedThenProvisioned runs the provisioner under a manager: pending
// pods open a batch, nothing is launched until the batch closes on the fake clock, then
// one round launches for all of them; deleting the NodeClaim (as insufficient capacity
// does) re-batches its pods.
func TestPendingPodsAreBatchedThenProvisioned(t *testing.T) {
	h := newHarness(t)
	h.startManager()
	h.createNodePool(nodePool("batched"))
	h.createPendingPod("a", "500m")
	h.createPendingPod("b", "500m")

	// The batch is open (its timers are armed) but does not close without the clock.
	h.eventually("batch opened", func() bool { return h.clk.Waiters() >= 2 })
	time.Sleep(300 * time.Millisecond)
	if n := len(h.nodeClaims()); n != 0 {
		t.Fatalf("%d nodeclaims before the batch closed", n)
	}
	h.clk.Step(time.Second)
	h.eventually("a nodeclaim for the batch", func() bool { return len(h.nodeClaims()) == 1 })
	first := h.nodeClaims()[0]

	// Deleting it puts the pods back into a batch, which launches again.
	if err := env.Client.Delete(h.ctx, &first); err != nil {
		t.Fatal(err)
	}
	h.eventually("a replacement nodeclaim", func() bool {
		if h.clk.Waiters() >= 2 {
			h.clk.Step(time.Second)
		}
		ncs := h.nodeClaims()
		return len(ncs) == 1 && ncs[0].Name != first.Name
	})
	var list v1.NodeClaimList
	if err := env.Client.List(context.Background(), &list, client.MatchingLabels{v1.NodePoolLabelKey: "batched"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("nodeclaims = %d (%v), want exactly 1", len(list.Items), err)
	}
}
