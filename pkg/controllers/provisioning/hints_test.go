package provisioning_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/state"
)

func (h *harness) nominatedNodeName(name string) string {
	h.t.Helper()
	var p corev1.Pod
	if err := env.Client.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &p); err != nil {
		h.t.Fatal(err)
	}
	return p.Status.NominatedNodeName
}

// TestHintsNominatePlannedPodsOntoTheirNode: once the NodeClaim a round planned registers,
// its pods carry the Node's name in status.nominatedNodeName, for kube-scheduler; pods
// planned elsewhere do not.
func TestHintsNominatePlannedPodsOntoTheirNode(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("hinted"))
	h.createPendingPod("a", "1")
	h.createPendingPod("b", "500m")
	res := h.provision()
	if len(res.NodeClaims) != 1 {
		t.Fatalf("created %d nodeclaims, want 1", len(res.NodeClaims))
	}
	h.createPendingPod("later", "500m") // pending, nominated nowhere
	hints := provisioning.NewHints(env.Client, h.cluster)

	hints.Placed(h.ctx, res.NodeClaims[0].Name) // not registered yet: nothing to name
	for _, name := range []string{"a", "b"} {
		if got := h.nominatedNodeName(name); got != "" {
			t.Fatalf("pod %s nominated to %q before its NodeClaim registered", name, got)
		}
	}
	hints.Registering(h.ctx, res.NodeClaims[0].Name, "node-hinted")
	for name, want := range map[string]string{"a": "node-hinted", "b": "node-hinted", "later": ""} {
		if got := h.nominatedNodeName(name); got != want {
			t.Errorf("pod %s: status.nominatedNodeName = %q, want %q", name, got, want)
		}
	}
}

// TestHintsLeaveARecreatedPodAlone: a pod deleted and created again under the same name
// while the state still holds the old one is not the pod that was planned; the hint's UID
// precondition leaves it alone.
func TestHintsLeaveARecreatedPodAlone(t *testing.T) {
	h := newHarness(t)
	cluster := state.NewCluster(state.Options{}) // fed by hand: it keeps the old pod
	var planned []*corev1.Pod
	for _, name := range []string{"recreated", "kept"} {
		p := h.pod(name, "500m")
		if err := env.Client.Create(h.ctx, p); err != nil {
			t.Fatal(err)
		}
		cluster.UpdatePod(p.DeepCopy())
		planned = append(planned, p)
	}
	cluster.UpdateNodeClaim(&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc-recreated"}})
	if n := cluster.Nominate("nc-recreated", planned); n != 2 {
		t.Fatalf("nominated %d pods, want 2", n)
	}
	if err := env.Client.Delete(h.ctx, planned[0], client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(h.ctx, h.pod("recreated", "500m")); err != nil {
		t.Fatal(err)
	}

	provisioning.NewHints(env.Client, cluster).Registering(h.ctx, "nc-recreated", "node-x")
	if got := h.nominatedNodeName("kept"); got != "node-x" {
		t.Errorf("planned pod: status.nominatedNodeName = %q, want node-x", got)
	}
	if got := h.nominatedNodeName("recreated"); got != "" {
		t.Errorf("the namesake created after planning was nominated to %q", got)
	}
}
