package provisioning_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
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

// TestPendingPodsAreRechecked: a pod that stays pending is reconciled again later, because
// its nomination can lapse with no event on the pod; a bound pod is left alone.
func TestPendingPodsAreRechecked(t *testing.T) {
	c := provisioning.NewController(provisioning.Deps{Clock: clocktesting.NewFakeClock(time.Now())})
	pending := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
	}}}}
	res, err := c.Reconcile(context.Background(), pending)
	if err != nil || res.RequeueAfter != provisioning.RecheckInterval {
		t.Errorf("pending pod: result %+v, err %v; want a recheck after %v", res, err, provisioning.RecheckInterval)
	}
	bound := pending.DeepCopy()
	bound.Spec.NodeName = "node-a"
	if res, err := c.Reconcile(context.Background(), bound); err != nil || res.RequeueAfter != 0 {
		t.Errorf("bound pod: result %+v, err %v; want no recheck", res, err)
	}
}
