package disruption

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
)

// TestEmptinessTaintsThenDeletesAfterValidation: an empty node is tainted at once, and
// deleted only after the validation TTL, by the Empty method.
func TestEmptinessTaintsThenDeletesAfterValidation(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	h.node("empty", "small")
	res := h.reconcile()
	if res.Started == nil || res.Started.Method != (Emptiness{}).Name() {
		t.Fatalf("started %+v, want emptiness", res.Started)
	}
	if got, want := h.tainted(), names(t, "empty"); !maps.Equal(got, want) {
		t.Fatalf("tainted %v, want %v", got, want)
	}
	if len(h.deleting()) != 0 {
		t.Fatal("deleted before the validation TTL")
	}
	h.clock.Step(DefaultValidationTTL)
	if res := h.reconcile(); len(res.Deleted) != 1 {
		t.Fatalf("deleted %v after the TTL, want the empty node", res.Deleted)
	}
	if got := testutil.ToFloat64(h.ctrl.metrics.Decisions.WithLabelValues("delete", "empty", TypeEmpty)); got != 1 {
		t.Errorf("decisions_total{delete,empty,empty} = %v, want 1", got)
	}
	if ev := strings.Join(h.events(), "\n"); !strings.Contains(ev, EventTerminating) {
		t.Errorf("no %s event:\n%s", EventTerminating, ev)
	}
}

// TestEmptinessWaitsForConsolidateAfter: lastPodEventTime 10s ago and consolidateAfter 30s.
func TestEmptinessWaitsForConsolidateAfter(t *testing.T) {
	h := newHarness(t, "100%", "30s")
	nc, _ := h.node("empty", "small")
	stored := nc.DeepCopy()
	nc.Status.LastPodEventTime = metav1.NewTime(h.clock.Now().Add(-10 * time.Second))
	if err := env.Client.Status().Patch(h.ctx, nc, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("started %s before consolidateAfter", res.Started.Why)
	}
	h.clock.Step(21 * time.Second)
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started once consolidateAfter passed")
	}
}

// TestNominatedNodeIsNotDisrupted: an empty node a pending pod is nominated to stays.
func TestNominatedNodeIsNotDisrupted(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	nc, _ := h.node("empty", "small")
	pending := h.pod("pending", "", "100m")
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := env.Client.Status().Update(h.ctx, pending, &client.SubResourceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitForState()
	deadline := time.Now().Add(10 * time.Second)
	for h.cluster.Nominate(nc.Name, []*corev1.Pod{pending}) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("could not nominate")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The state is current (waited above); the harness's wait does not count nominations.
	res, err := h.ctrl.Reconcile(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Started != nil {
		t.Fatalf("disrupted a nominated node: %s", res.Started.Why)
	}
	if ev := strings.Join(h.events(), "\n"); !strings.Contains(ev, "nominated") {
		t.Errorf("no event says the node is nominated:\n%s", ev)
	}
}

// TestBudgetCountsAndSharesAcrossMethods: budget 1 with two empty nodes and a drifted one:
// one node only, over passes, whatever the method.
func TestBudgetCountsAndSharesAcrossMethods(t *testing.T) {
	h := newHarness(t, "1", "0s")
	h.node("empty-a", "small")
	h.node("empty-b", "small")
	nc, node := h.node("drifted", "small")
	h.pod("p", node.Name, "100m")
	h.setCondition(nc.Name, v1.ConditionTypeDrifted, "NodePoolDrifted")
	if res := h.reconcile(); res.Started == nil || len(res.Started.Candidates) != 1 {
		t.Fatalf("started %+v, want one candidate", res.Started)
	}
	for range 2 {
		if res := h.reconcile(); res.Started != nil {
			t.Fatalf("a second command %s broke the budget of 1", res.Started.Why)
		}
	}
	if got := len(h.tainted()); got != 1 {
		t.Fatalf("%d nodes tainted, budget is 1", got)
	}
}

// TestNotReadyNodeCountsAgainstBudget: a NotReady initialized node uses the only slot.
func TestNotReadyNodeCountsAgainstBudget(t *testing.T) {
	h := newHarness(t, "1", "0s")
	h.node("empty", "small")
	_, sick := h.node("sick", "small")
	h.pod("p", sick.Name, "100m")
	stored := sick.DeepCopy()
	sick.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletDown"}}
	if err := env.Client.Status().Patch(h.ctx, sick, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("started %s although a NotReady node uses the budget", res.Started.Why)
	}
}

// TestValidationAbandonsWhenDoNotDisruptAppears: a pod with do-not-disrupt lands on the
// tainted node (it tolerates the taint) during the TTL: the command is abandoned, the
// node untainted and nothing deleted.
func TestValidationAbandonsWhenDoNotDisruptAppears(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, node := h.node("empty", "small")
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	h.pod("late", node.Name, "100m", fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"), fixtures.Tolerating(v1.DisruptedTaintKey))
	h.clock.Step(DefaultValidationTTL)
	res := h.reconcile()
	if len(res.Aborted) != 1 || len(res.Deleted) != 0 {
		t.Fatalf("aborted %v deleted %v, want the command abandoned", res.Aborted, res.Deleted)
	}
	if len(h.tainted()) != 0 || len(h.deleting()) != 0 {
		t.Fatalf("tainted %v deleting %v after abandoning", h.tainted(), h.deleting())
	}
}

// underused builds two small nodes with a 500m pod each and a large node with three 1 CPU
// pods: both small nodes' pods fit on the large one.
func underused(h *harness) {
	h.t.Helper()
	_, a := h.node("small-a", "small")
	_, b := h.node("small-b", "small")
	_, big := h.node("large", "large")
	h.pod("a", a.Name, "500m")
	h.pod("b", b.Name, "500m")
	for _, n := range []string{"big-0", "big-1", "big-2"} {
		h.pod(n, big.Name, "1")
	}
}

// TestMultiNodeDeleteBeforeSingle: both small nodes go in one multi-node command.
func TestMultiNodeDeleteBeforeSingle(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	underused(h)
	res := h.reconcile()
	if res.Started == nil || res.Started.ConsolidationType != TypeMulti || res.Started.Decision() != "delete" {
		t.Fatalf("started %+v, want a multi-node delete", res.Started)
	}
	if got, want := h.tainted(), names(t, "small-a", "small-b"); !maps.Equal(got, want) {
		t.Fatalf("tainted %v, want %v", got, want)
	}
	h.clock.Step(DefaultValidationTTL)
	if res := h.reconcile(); len(res.Deleted) != 2 {
		t.Fatalf("deleted %v, want both small nodes", res.Deleted)
	}
}

// TestSingleNodeReplaceByCheaper: a large node with one 1-CPU pod is replaced by a small
// one: the replacement launches first, the large node drains only after it initialized
// and the TTL passed.
func TestSingleNodeReplaceByCheaper(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, big := h.node("large", "large")
	h.pod("p", big.Name, "1")
	res := h.reconcile()
	if res.Started == nil || res.Started.Decision() != "replace" {
		t.Fatalf("started %+v, want a replace", res.Started)
	}
	reps := h.replacements()
	if len(reps) != 1 {
		t.Fatalf("%d replacements, want 1", len(reps))
	}
	if its := reps[0].Spec.Requirements; !strings.Contains(requirementValues(its, v1.LabelInstanceType), "small") ||
		strings.Contains(requirementValues(its, v1.LabelInstanceType), "large") {
		t.Fatalf("replacement instance types %v: want only the cheaper small", its)
	}
	h.clock.Step(DefaultValidationTTL)
	if res := h.reconcile(); len(res.Deleted) != 0 {
		t.Fatal("deleted before the replacement initialized")
	}
	if ev := strings.Join(h.events(), "\n"); !strings.Contains(ev, EventLaunching) || !strings.Contains(ev, EventWaitingReadiness) {
		t.Errorf("want %s and %s events:\n%s", EventLaunching, EventWaitingReadiness, ev)
	}
	h.initialize(reps[0])
	if res := h.reconcile(); len(res.Deleted) != 1 {
		t.Fatalf("deleted %v once the replacement initialized, want the large node (aborted %v)", res.Deleted, res.Aborted)
	}
	if len(h.replacements()) != 1 {
		t.Fatal("a second replacement was launched")
	}
}

func requirementValues(reqs []v1.NodeSelectorRequirementWithMinValues, key string) string {
	for _, r := range reqs {
		if r.Key == key {
			return strings.Join(r.Values, ",")
		}
	}
	return ""
}

// TestRestartMidCommandResumesWithoutDoubleReplacement: a new controller (a restart) finds
// the command from the annotations, launches nothing more, and finishes it.
func TestRestartMidCommandResumesWithoutDoubleReplacement(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, big := h.node("large", "large")
	h.pod("p", big.Name, "1")
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	h.ctrl = h.newController()
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("the restarted controller started %s", res.Started.Why)
	}
	reps := h.replacements()
	if len(reps) != 1 || len(h.tainted()) != 1 {
		t.Fatalf("after restart: %d replacements, tainted %v; want 1 and the large node", len(reps), h.tainted())
	}
	h.initialize(reps[0])
	h.clock.Step(DefaultValidationTTL)
	if res := h.reconcile(); len(res.Deleted) != 1 {
		t.Fatalf("deleted %v, want the large node", res.Deleted)
	}
}

// TestRestartRemovesOrphanTaint: a disrupted taint no command holds goes at start.
func TestRestartRemovesOrphanTaint(t *testing.T) {
	h := newHarness(t, "0", "0s")
	_, node := h.node("n", "small")
	h.pod("p", node.Name, "100m")
	if err := h.ctrl.taint(h.ctx, node.Name); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if len(h.tainted()) != 0 {
		t.Fatalf("orphan taint kept: %v", h.tainted())
	}
}

// TestDriftReplacesBeforeDraining: a drifted node with a pod gets a replacement first;
// an empty drifted node goes first and without one.
func TestDriftReplacesBeforeDraining(t *testing.T) {
	h := newHarness(t, "100%", "Never")
	old, node := h.node("old", "small")
	h.pod("p", node.Name, "1")
	h.setCondition(old.Name, v1.ConditionTypeDrifted, "NodePoolDrifted")
	emptyOld, _ := h.node("empty-old", "small")
	h.setCondition(emptyOld.Name, v1.ConditionTypeDrifted, "ImageDrift")
	res := h.reconcile()
	if res.Started == nil || res.Started.Method != "drift" || len(res.Started.Replacements) != 0 || res.Started.Candidates[0].Name() != emptyOld.Name {
		t.Fatalf("started %+v, want the empty drifted node deleted first", res.Started)
	}
	res = h.reconcile()
	if res.Started == nil || res.Started.Method != "drift" || len(res.Started.Replacements) != 1 {
		t.Fatalf("started %+v, want the drifted node replaced", res.Started)
	}
	h.clock.Step(DefaultValidationTTL)
	res = h.reconcile()
	for _, d := range res.Deleted {
		if d == old.Name {
			t.Fatal("drifted node deleted before its replacement initialized")
		}
	}
	h.initialize(h.replacements()[0])
	if res := h.reconcile(); !strings.Contains(strings.Join(res.Deleted, ","), old.Name) {
		t.Fatalf("deleted %v, want %s", res.Deleted, old.Name)
	}
}

// TestPDBBlocksConsolidation: a PDB allowing nothing keeps the small nodes.
func TestPDBBlocksConsolidation(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, a := h.node("small-a", "small")
	_, big := h.node("large", "large")
	h.pod("a", a.Name, "500m", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} })
	h.pod("big", big.Name, "1")
	h.pdb("web", 0)
	res := h.reconcile()
	if res.Started != nil {
		for _, c := range res.Started.Candidates {
			if c.Name() == fixtures.Name(t, "small-a") {
				t.Fatalf("disrupted %s whose pod a PDB protects", c.Name())
			}
		}
	}
}

// TestDoNotDisruptDurationExpires: a pod's do-not-disrupt of 5m protects its node for five
// minutes after the pod started, then consolidation takes the node.
func TestDoNotDisruptDurationExpires(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, a := h.node("small-a", "small")
	_, big := h.node("large", "large")
	h.pod("a", a.Name, "500m", fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "5m"))
	h.pod("big", big.Name, "5") // needs the large node: it stays
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("started %s while do-not-disrupt runs", res.Started.Why)
	}
	h.clock.Step(6 * time.Minute)
	res := h.reconcile()
	if res.Started == nil || res.Started.Candidates[0].Name() != fixtures.Name(t, "small-a") {
		t.Fatalf("started %+v, want small-a once do-not-disrupt expired", res.Started)
	}
}

// TestDriftWithSeveralReplacements: a drifted large node whose three 1.5-CPU pods are
// cheapest on three small nodes gets three replacements; once they initialized and the
// TTL passed the drifted node is deleted, and no replacement is launched twice.
func TestDriftWithSeveralReplacements(t *testing.T) {
	h := newHarness(t, "100%", "Never")
	old, node := h.node("old", "large")
	for _, n := range []string{"p0", "p1", "p2"} {
		h.pod(n, node.Name, "1500m")
	}
	h.setCondition(old.Name, v1.ConditionTypeDrifted, "NodePoolDrifted")
	res := h.reconcile()
	if res.Started == nil || len(res.Started.Replacements) != 3 {
		t.Fatalf("started %+v, want a drift replace by 3 small nodes", res.Started)
	}
	for _, r := range h.replacements() {
		h.initialize(r)
	}
	h.clock.Step(DefaultValidationTTL)
	if res := h.reconcile(); len(res.Deleted) != 1 || len(res.Aborted) != 0 {
		t.Fatalf("deleted %v aborted %v, want the drifted node deleted", res.Deleted, res.Aborted)
	}
	if n := len(h.replacements()); n != 3 {
		t.Fatalf("%d replacements, want 3", n)
	}
}

// TestAbandonKeepsTheTaintOfANodeClaimAnotherActorDeletes: a command is given up after
// someone else (expiration, an interruption, a user) started deleting its candidate's
// NodeClaim. Untainting that node would invite pods onto a node about to drain, so the
// disrupted taint stays.
func TestAbandonKeepsTheTaintOfANodeClaimAnotherActorDeletes(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	nc, node := h.node("empty", "small")
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	h.pod("late", node.Name, "100m", fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"), fixtures.Tolerating(v1.DisruptedTaintKey))
	if err := env.Client.Delete(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	h.clock.Step(DefaultValidationTTL)
	res := h.reconcile()
	if len(res.Aborted) != 1 {
		t.Fatalf("aborted %v, want the command abandoned", res.Aborted)
	}
	if !h.tainted()[node.Name] {
		t.Fatal("the node of a NodeClaim being deleted by another actor was untainted")
	}
}

// TestMoveMustNotTakePendingPodsRoom: node a's 1 CPU pod would fit in node b's free room,
// but a pending 900m pod fits there (or on a) with every node in place: deleting a would
// only make the provisioner launch a node for the pending pod. A growing cluster churned
// its half-filled nodes this way.
func TestMoveMustNotTakePendingPodsRoom(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, a := h.node("a", "small")
	_, b := h.node("b", "small")
	h.pod("a1", a.Name, "1")
	h.pod("b1", b.Name, "800m")
	pending := h.pod("pending", "", "900m")
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := env.Client.Status().Update(h.ctx, pending, &client.SubResourceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("started %s: it takes the room the pending pod needs", res.Started.Why)
	}
	// Once the pending pod is gone, the same move is fine.
	if err := env.Client.Delete(h.ctx, pending); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := h.reconcile()
		if res.Started != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no move once the pending pod was gone")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStrayTaintIsReleasedOnAnyPass: a disrupted taint no command holds (a rollback's untaint
// that conflicted with another writer left it) is removed by the next pass, not only by the
// first pass after a restart: the node took no pods and held its NodePool's budget (the chaos
// suite's scale-to-zero halved its pace and timed out with such a node).
func TestStrayTaintIsReleasedOnAnyPass(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, node := h.node("stray", "small")
	h.pod("kept", node.Name, "100m", fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"))
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("started %s on a node a do-not-disrupt pod holds", res.Started.Why)
	}
	stored := node.DeepCopy()
	node.Spec.Taints = append(node.Spec.Taints, v1.DisruptedNoScheduleTaint)
	if err := env.Client.Patch(h.ctx, node, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.tainted()[node.Name] {
		if time.Now().After(deadline) {
			t.Fatal("the stray disrupted taint is still on the node")
		}
		h.reconcile()
		time.Sleep(200 * time.Millisecond)
	}
}
