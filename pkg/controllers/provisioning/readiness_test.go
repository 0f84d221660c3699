package provisioning_test

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// setNotReady writes Ready=False on the pool and waits until the cluster state sees it.
func (h *harness) setNotReady(np *v1.NodePool, reason, message string) {
	h.t.Helper()
	stored := np.DeepCopy()
	meta.SetStatusCondition(&np.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeReady, Status: metav1.ConditionFalse, Reason: reason, Message: message, LastTransitionTime: metav1.Now()})
	if err := env.Client.Status().Patch(h.ctx, np, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
	h.eventually("nodepool "+np.Name+" not ready in state", func() bool {
		for _, seen := range h.cluster.NodePools() {
			if seen.Name == np.Name && meta.IsStatusConditionFalse(seen.Status.Conditions, v1.ConditionTypeReady) {
				return true
			}
		}
		return false
	})
}

// TestNotReadyNodePoolIsSkipped: a NodePool whose Ready is False launches nothing, even with
// the highest weight, and gets a Warning saying why; the others still provision.
func TestNotReadyNodePoolIsSkipped(t *testing.T) {
	h := newHarness(t)
	broken := h.createNodePool(nodePool("broken", func(np *v1.NodePool) { np.Spec.Weight = new(int32(100)) }))
	h.setNotReady(broken, "NoCompatibleInstanceTypes", "no instance type offering satisfies the requirements")
	h.createPendingPod("p", "1")

	res := h.provision()
	if len(res.NodeClaims) != 0 {
		t.Fatalf("nodeclaims = %+v, want none from a pool that is not ready", res.NodeClaims)
	}
	want := "Warning " + provisioning.ReasonNodePoolNotReady + " Not provisioning from this NodePool: it is not ready (NoCompatibleInstanceTypes: no instance type offering satisfies the requirements)"
	if evs := h.events(); !slices.Contains(evs, want) {
		t.Fatalf("events = %q, want %q", evs, want)
	}

	h.createNodePool(nodePool("fine"))
	res = h.provision()
	if len(res.NodeClaims) != 1 || res.NodeClaims[0].Labels[v1.NodePoolLabelKey] != "fine" {
		t.Fatalf("nodeclaims = %+v, want one from nodepool fine", res.NodeClaims)
	}
	if evs := h.events(); !slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, "Warning "+provisioning.ReasonNodePoolNotReady) }) {
		t.Errorf("events = %q, want the skip reported again", evs)
	}
}
