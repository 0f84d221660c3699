package explain

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

// TestNodeReasons gives each node one rule that keeps it, and checks that explain names it.
func TestNodeReasons(t *testing.T) {
	c := newCluster(t)
	old := c.now.Add(-2 * time.Hour)
	c.create(nodePool("general"))
	c.create(nodePool("frozen", func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0"}} }))
	c.create(nodePool("empty-only", func(np *v1.NodePool) { np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty }))
	c.create(nodePool("slow", func(np *v1.NodePool) { np.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("10m") }))

	// Rule by rule, on m5.2xlarge nodes (8 vCPU) whose one 1-CPU pod could go elsewhere.
	c.managedNode("dnd", "general", "m5.2xlarge", old)
	c.boundPod("dnd-pod", "1", "dnd", old, func(p *corev1.Pod) { p.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"} })
	c.managedNode("guarded", "general", "m5.2xlarge", old)
	c.boundPod("guarded-pod", "1", "guarded", old)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "guard"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrIntStr(1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded-pod"}}},
	}
	c.create(pdb)
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, ObservedGeneration: pdb.Generation}
	if err := c.c.Status().Update(c.ctx, pdb); err != nil {
		t.Fatal(err)
	}
	c.managedNode("awaited", "general", "m5.2xlarge", old)
	c.boundPod("awaited-pod", "1", "awaited", old)
	waiting := c.pendingPod("waiting", "1")
	c.event(waiting, reason.EventNominated, reason.NominatedMessage("awaited"), c.now.Add(-5*time.Second))
	c.managedNode("fresh", "slow", "m5.2xlarge", old)
	c.boundPod("fresh-pod", "1", "fresh", c.now.Add(-time.Minute))
	c.lastPodEvent("fresh", c.now.Add(-time.Minute))
	c.managedNode("budgeted", "frozen", "m5.2xlarge", old)
	c.boundPod("budgeted-pod", "1", "budgeted", old)
	c.managedNode("policy", "empty-only", "m5.2xlarge", old)
	c.boundPod("policy-pod", "1", "policy", old)
	// Its own pool: a node being disrupted uses up its pool's budget (see "budgeted").
	c.create(nodePool("doomed"))
	c.managedNode("leaving", "doomed", "m5.2xlarge", old, func(_ *v1.NodeClaim, n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{v1.DisruptedNoScheduleTaint}
	})
	c.managedNode("booting", "general", "m5.2xlarge", time.Time{})
	c.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "unmanaged"}})
	c.managedNode("unregistered", "general", "m5.2xlarge", old)
	if err := c.c.Delete(c.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "unregistered"}}); err != nil {
		t.Fatal(err)
	}
	c.managedNode("annotated", "general", "m5.2xlarge", old, func(nc *v1.NodeClaim, _ *corev1.Node) {
		nc.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"}
	})
	c.managedNode("orphan", "gone", "m5.2xlarge", old)
	c.managedNode("deleted", "doomed", "m5.2xlarge", old, func(nc *v1.NodeClaim, _ *corev1.Node) {
		nc.Finalizers = []string{v1.TerminationFinalizer}
	})
	if err := c.c.Delete(c.ctx, &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "deleted"}}); err != nil {
		t.Fatal(err)
	}
	// A pod pinned to its node by hostname fits nowhere else.
	c.managedNode("pinned", "general", "m5.2xlarge", old)
	c.boundPod("pinned-pod", "1", "pinned", old, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "pinned"} })
	w := c.world()

	for _, tc := range []struct {
		kind, name string
		want       reason.Code
		message    string
	}{
		{"node", "dnd", reason.DoNotDisruptPod, "dnd-pod"},
		{"node", "guarded", reason.PDB, c.ns + "/guard"},
		{"node", "awaited", reason.Nominated, "nominated to node awaited"},
		{"nodeclaim", "fresh", reason.NotConsolidatable, "consolidateAfter 10m"},
		{"node", "budgeted", reason.Budget, `"frozen"`},
		{"node", "policy", reason.NotConsolidatable, "only empty nodes"},
		{"node", "leaving", reason.BeingDisrupted, "disrupted"},
		{"nodeclaim", "booting", reason.NotInitialized, "not initialized"},
		{"node", "unmanaged", reason.NotManaged, "no NodeClaim"},
		{"nodeclaim", "unregistered", reason.NotRegistered, "no registered node"},
		{"node", "annotated", reason.DoNotDisruptNode, "nodeclaim annotated carries karpenter.sh/do-not-disrupt"},
		{"node", "orphan", reason.NotManaged, "nodepool gone of nodeclaim orphan does not exist"},
		{"nodeclaim", "deleted", reason.Deleting, "being deleted"},
		{"node", "pinned", reason.NoCheaperReplacement, "fit nowhere else"},
	} {
		r := must[*NodeReport](t)(Node(w, ControllerEligibility{}, tc.kind, tc.name, c.now))
		if r.Reason != tc.want || r.Candidate || !strings.Contains(r.Message, tc.message) {
			t.Errorf("%s %s: got %s %q (candidate %v), want %s containing %q", tc.kind, tc.name, r.Reason, r.Message, r.Candidate, tc.want, tc.message)
		}
	}

	// The kept nodes' price is read from the catalogue, and the cheapest type one CPU fits
	// is smaller than the m5.2xlarge it holds.
	r := must[*NodeReport](t)(Node(w, ControllerEligibility{}, "node", "guarded", c.now))
	if r.PricePerHour <= 0 || r.Cheapest == nil || r.Cheapest.PricePerHour >= r.PricePerHour || r.Pods != 1 {
		t.Errorf("guarded: price %v cheapest %+v pods %d", r.PricePerHour, r.Cheapest, r.Pods)
	}
}

// TestNodeCandidate: a node whose pod fits on another node is a candidate for deletion,
// and the pods the other node already runs stay counted.
func TestNodeCandidate(t *testing.T) {
	c := newCluster(t)
	old := c.now.Add(-2 * time.Hour)
	c.create(nodePool("general"))
	c.managedNode("roomy", "general", "m5.2xlarge", old)
	c.boundPod("roomy-pod", "1", "roomy", old)
	c.managedNode("idle", "general", "m5.2xlarge", old)
	c.boundPod("idle-pod", "1", "idle", old)
	w := c.world()
	r := must[*NodeReport](t)(Node(w, ControllerEligibility{}, "node", "idle", c.now))
	if !r.Candidate || r.Reason != reason.Candidate || r.Replacement == nil || !r.Replacement.Fits || len(r.Replacement.NodeClaims) != 0 {
		t.Errorf("idle: %+v replacement %+v, want a candidate whose pod fits on roomy", r, r.Replacement)
	}
	// An over-sized node holding a small pod alone is replaced by a cheaper one.
	c2 := newCluster(t)
	c2.create(nodePool("general"))
	c2.managedNode("oversized", "general", "m5.4xlarge", old)
	c2.boundPod("small", "500m", "oversized", old)
	r = must[*NodeReport](t)(Node(c2.world(), ControllerEligibility{}, "nodeclaim", "oversized", c2.now))
	if !r.Candidate || r.Replacement == nil || len(r.Replacement.NodeClaims) != 1 || r.Replacement.PricePerHour >= r.PricePerHour {
		t.Errorf("oversized: %+v replacement %+v, want a cheaper replacement", r, r.Replacement)
	}
	// The cheapest type its pod fits, alone: nothing cheaper replaces it.
	c3 := newCluster(t)
	c3.create(nodePool("general"))
	c3.managedNode("snug", "general", "t3a.micro", old)
	c3.boundPod("snug-pod", "1500m", "snug", old)
	r = must[*NodeReport](t)(Node(c3.world(), ControllerEligibility{}, "node", "snug", c3.now))
	if r.Candidate || r.Reason != reason.NoCheaperReplacement || r.Cheapest == nil || r.Cheapest.InstanceType != "t3a.micro" ||
		r.Replacement.PricePerHour != r.PricePerHour {
		t.Errorf("snug: %+v replacement %+v cheapest %+v, want kept for no cheaper replacement", r, r.Replacement, r.Cheapest)
	}
	// Drifted, the same node is replaced whatever the price.
	c3.setCondition("snug", v1.ConditionTypeDrifted)
	r = must[*NodeReport](t)(Node(c3.world(), ControllerEligibility{}, "node", "snug", c3.now))
	if !r.Candidate || r.Reason != reason.Candidate || !strings.Contains(r.Message, "drifted") {
		t.Errorf("drifted snug: %s %q candidate %v", r.Reason, r.Message, r.Candidate)
	}
	// Two cheaper nodes are not a replacement: consolidation swaps one node for at most one.
	c4 := newCluster(t)
	c4.create(nodePool("narrow", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, requirement(v1.LabelInstanceType, "m5.xlarge"))
	}))
	c4.managedNode("wide", "narrow", "m5.4xlarge", old)
	c4.boundPod("wide-a", "3", "wide", old)
	c4.boundPod("wide-b", "3", "wide", old)
	r = must[*NodeReport](t)(Node(c4.world(), ControllerEligibility{}, "node", "wide", c4.now))
	if r.Candidate || r.Reason != reason.NoCheaperReplacement || len(r.Replacement.NodeClaims) != 2 || r.Replacement.PricePerHour >= r.PricePerHour {
		t.Errorf("wide: %s %q, replacement %+v, want kept: two m5.xlarge are cheaper but two", r.Reason, r.Message, r.Replacement)
	}
}

func ptrIntStr(i int) *intstr.IntOrString { v := intstr.FromInt(i); return &v }

// TestVocabularyIsTheControllers keeps the node codes equal to the disruption controller's
// BlockReason strings, which its events carry.
func TestVocabularyIsTheControllers(t *testing.T) {
	for code, block := range map[reason.Code]disruption.BlockReason{
		reason.NotManaged: disruption.BlockNotManaged, reason.Deleting: disruption.BlockDeleting,
		reason.NotRegistered: disruption.BlockNotRegistered, reason.NotInitialized: disruption.BlockNotInitialized,
		reason.BeingDisrupted: disruption.BlockBeingDisrupted, reason.Nominated: disruption.BlockNominated,
		reason.DoNotDisruptNode: disruption.BlockDoNotDisruptNode, reason.DoNotDisruptPod: disruption.BlockDoNotDisruptPod,
		reason.PDB: disruption.BlockPDB, reason.NotConsolidatable: disruption.BlockNoMethod,
	} {
		if string(code) != string(block) {
			t.Errorf("explain says %s where the controller says %s", code, block)
		}
	}
}

// TestNodeSpotToSpot: a spot node a cheaper spot node would replace is kept by upstream's
// spot-to-spot rule, and explain says so (it used to call it a candidate): without the
// SpotToSpotConsolidation gate always, with it when fewer than 15 instance types are cheaper.
func TestNodeSpotToSpot(t *testing.T) {
	spotty := func() *cluster {
		c := newCluster(t)
		c.create(nodePool("spotty", func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements[0] = requirement(v1.CapacityTypeLabelKey, v1.CapacityTypeSpot, v1.CapacityTypeOnDemand)
		}))
		return c
	}
	c := spotty()
	old := c.now.Add(-2 * time.Hour)
	spot := func(nc *v1.NodeClaim, _ *corev1.Node) { nc.Labels[v1.CapacityTypeLabelKey] = v1.CapacityTypeSpot }
	c.managedNode("big", "spotty", "m5.4xlarge", old, spot)
	c.boundPod("big-pod", "500m", "big", old)
	for _, tc := range []struct {
		gate      bool
		node      string
		want      reason.Code
		candidate bool
		message   string
	}{
		{false, "big", reason.SpotToSpot, false, "SpotToSpotConsolidation feature gate"},
		{true, "big", reason.Candidate, true, "a cheaper replacement exists"},
	} {
		w := c.world()
		w.SpotToSpotConsolidation = tc.gate
		r := must[*NodeReport](t)(Node(w, ControllerEligibility{}, "node", tc.node, c.now))
		t.Logf("gate %v %s: %s %q", tc.gate, tc.node, r.Reason, r.Message)
		if r.Reason != tc.want || r.Candidate != tc.candidate || !strings.Contains(r.Message, tc.message) {
			t.Errorf("gate %v, %s: %s %q (candidate %v), want %s containing %q", tc.gate, tc.node, r.Reason, r.Message, r.Candidate, tc.want, tc.message)
		}
	}
	// A small spot node alone: few instance types are cheaper, gate or not.
	c = spotty()
	c.managedNode("small", "spotty", "m5.large", old, spot)
	c.boundPod("small-pod", "1500m", "small", old)
	w := c.world()
	w.SpotToSpotConsolidation = true
	r := must[*NodeReport](t)(Node(w, ControllerEligibility{}, "node", "small", c.now))
	t.Logf("gate true small: %s %q", r.Reason, r.Message)
	if r.Reason != reason.SpotToSpot || r.Candidate || !strings.Contains(r.Message, "needs 15 cheaper instance types") {
		t.Errorf("small: %s %q (candidate %v), want SpotToSpot: needs 15 cheaper instance types", r.Reason, r.Message, r.Candidate)
	}
}
