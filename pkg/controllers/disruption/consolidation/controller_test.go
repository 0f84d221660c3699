package consolidation

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// underused builds two small nodes with a 500m pod each and a large node with three 1 CPU
// pods: both small nodes' pods fit on the large one, the large one's fit nowhere else.
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

// TestUnderutilizedNodesConsolidated: the two small nodes go in one pass, after
// consolidateAfter; they are tainted, deleted, counted and told why. The large one stays.
func TestUnderutilizedNodesConsolidated(t *testing.T) {
	h := newHarness(t, "100%", "30s")
	underused(h)
	if res := h.reconcile(); len(res.Consolidated) != 0 || len(h.deleting()) != 0 {
		t.Fatalf("nothing may go before consolidateAfter: %v", res.Consolidated)
	}
	h.clock.Step(30 * time.Second)
	res := h.reconcile()
	want := names(t, "small-a", "small-b")
	if got := h.deleting(); !maps.Equal(got, want) {
		t.Fatalf("deleting %v, want %v (result %v)", got, want, res.Consolidated)
	}
	if len(res.Consolidated) != 2 {
		t.Errorf("result lists %v, want both small nodes", res.Consolidated)
	}
	if got := h.tainted(); !maps.Equal(got, want) {
		t.Errorf("tainted %v, want %v", got, want)
	}
	if got := h.disrupted(); got != 2 {
		t.Errorf(`karpenter_nodeclaims_disrupted_total{reason="underutilized"} = %v, want 2`, got)
	}
	events := strings.Join(drain(h), "\n")
	if !strings.Contains(events, "Underutilized: its 1 pods fit on other nodes") {
		t.Errorf("events must say why, got:\n%s", events)
	}
	// The next pass finds nothing more to do: the large node's pods fit nowhere else.
	if res := h.reconcile(); len(res.Consolidated) != 0 {
		t.Errorf("second pass consolidated %v", res.Consolidated)
	}
}

// TestPodsThatDoNotFitKeepTheNode: two small nodes with 1500m each; neither's pod fits on
// the other, so both stay and neither is left tainted.
func TestPodsThatDoNotFitKeepTheNode(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, a := h.node("small-a", "small")
	_, b := h.node("small-b", "small")
	h.pod("a", a.Name, "1500m")
	h.pod("b", b.Name, "1500m")
	if res := h.reconcile(); len(res.Consolidated) != 0 || len(h.deleting()) != 0 || len(h.tainted()) != 0 {
		t.Fatalf("consolidated %v, deleting %v, tainted %v; want nothing", res.Consolidated, h.deleting(), h.tainted())
	}
}

// TestBlockers: a pod with do-not-disrupt, a node with it, a bare pod and a PDB allowing no
// disruption each keep their node; a PDB that allows one does not.
func TestBlockers(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, big := h.node("large", "large")
	h.pod("big", big.Name, "2") // fits no small node
	_, n := h.node("dnd-pod", "small")
	h.pod("dnd-pod", n.Name, "100m", fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"))
	_, n = h.node("dnd-node", "small")
	h.pod("dnd-node", n.Name, "100m")
	stored := n.DeepCopy()
	n.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"}
	if err := env.Client.Patch(h.ctx, n, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	_, n = h.node("bare", "small")
	h.pod("bare", n.Name, "100m", bare)
	_, n = h.node("pdb-zero", "small")
	h.pod("pdb-zero", n.Name, "100m")
	h.pdb("pdb-zero", 0)
	_, n = h.node("pdb-one", "small")
	h.pod("pdb-one", n.Name, "100m")
	h.pdb("pdb-one", 1)
	h.reconcile()
	if got, want := h.deleting(), names(t, "pdb-one"); !maps.Equal(got, want) {
		t.Fatalf("deleting %v, want only %v", got, want)
	}
}

// TestWhenEmptyKeepsUnderutilizedNodes: the policy WhenEmpty leaves busy nodes alone.
func TestWhenEmptyKeepsUnderutilizedNodes(t *testing.T) {
	h := newHarness(t, "100%", "0s", func(np *v1.NodePool) {
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
	})
	underused(h)
	h.clock.Step(time.Hour)
	if res := h.reconcile(); len(res.Consolidated) != 0 || len(h.deleting()) != 0 {
		t.Fatalf("WhenEmpty: consolidated %v", res.Consolidated)
	}
}

// TestConsolidateAfter: a node goes consolidateAfter after its last pod event, and a pod
// leaving (seen by a pass) restarts the wait.
func TestConsolidateAfter(t *testing.T) {
	h := newHarness(t, "100%", "1m")
	_, big := h.node("large", "large")
	h.pod("big", big.Name, "2") // fits no small node
	_, a := h.node("small-a", "small")
	_, b := h.node("small-b", "small")
	h.pod("a1", a.Name, "200m")
	leaving := h.pod("a2", a.Name, "200m")
	h.pod("b", b.Name, "200m")
	h.reconcile()
	h.clock.Step(40 * time.Second)
	if err := env.Client.Delete(h.ctx, leaving, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if res := h.reconcile(); len(res.Consolidated) != 0 {
		t.Fatalf("at 40s: consolidated %v", res.Consolidated)
	}
	h.clock.Step(20 * time.Second)
	h.reconcile()
	if got, want := h.deleting(), names(t, "small-b"); !maps.Equal(got, want) {
		t.Fatalf("at 60s: deleting %v, want %v (small-a lost a pod at 40s)", got, want)
	}
	h.clock.Step(39 * time.Second)
	h.reconcile()
	if got := h.deleting(); got[a.Name] {
		t.Fatal("at 99s: small-a lost a pod 59s ago and must stay")
	}
	h.clock.Step(time.Second)
	h.reconcile()
	if got := h.deleting(); !got[a.Name] {
		t.Fatalf("at 100s: small-a's last pod event was 1m ago, deleting %v", got)
	}
}

// drain returns the recorded events.
func drain(h *harness) []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestBudgetOfOne: one NodeClaim per pass, none while it is still being deleted, the next
// once it is gone.
func TestBudgetOfOne(t *testing.T) {
	h := newHarness(t, "1", "0s")
	underused(h)
	h.reconcile()
	first := h.deleting()
	if len(first) != 1 || !first[fixtures.Name(t, "small-a")] {
		t.Fatalf("first pass: deleting %v, want small-a (oldest of the fewest-pods nodes)", first)
	}
	h.reconcile()
	if got := h.deleting(); !maps.Equal(got, first) {
		t.Fatalf("a NodeClaim being deleted uses the budget: deleting %v", got)
	}
	h.finishTerminations()
	// The evicted pod lands on the large node, as the kube-scheduler would place it.
	h.pod("a-again", fixtures.Name(t, "large"), "500m")
	h.reconcile()
	if got, want := h.deleting(), names(t, "small-b"); !maps.Equal(got, want) {
		t.Fatalf("second round: deleting %v, want %v", got, want)
	}
}

// TestFailedRevalidationRemovesTheTaint: a pod that arrived after the simulation stops
// the deletion and the node is untainted.
func TestFailedRevalidationRemovesTheTaint(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	underused(h)
	h.waitForState()
	v, err := h.ctrl.observe(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	cands := h.ctrl.candidates(h.ctx, v, h.clock.Now())
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	cand := cands[0]
	h.pod("late", cand.node.Name, "100m")
	ok, err := h.ctrl.disrupt(h.ctx, cand, h.clock.Now())
	if err != nil || ok {
		t.Fatalf("disrupt = %v, %v; want not done", ok, err)
	}
	if len(h.deleting()) != 0 || len(h.tainted()) != 0 {
		t.Fatalf("deleting %v, tainted %v; want neither", h.deleting(), h.tainted())
	}
}

// TestStaleTaintRemoved: a disrupted taint this controller added whose NodeClaim never got
// deleted comes off after StaleTaintAfter; one without TimeAdded (termination's) stays.
func TestStaleTaintRemoved(t *testing.T) {
	h := newHarness(t, "0", "0s")
	_, stale := h.node("stale", "small")
	_, other := h.node("other", "small")
	for _, n := range []*corev1.Node{stale, other} {
		stored := n.DeepCopy()
		taint := v1.DisruptedNoScheduleTaint
		if n == stale {
			taint.TimeAdded = &metav1.Time{Time: h.clock.Now()}
		}
		n.Spec.Taints = append(n.Spec.Taints, taint)
		if err := env.Client.Patch(h.ctx, n, client.MergeFrom(stored)); err != nil {
			t.Fatal(err)
		}
	}
	h.reconcile()
	if got := h.tainted(); len(got) != 2 {
		t.Fatalf("a fresh taint stays: tainted %v", got)
	}
	h.clock.Step(StaleTaintAfter + time.Second)
	h.reconcile()
	if got, want := h.tainted(), names(t, "other"); !maps.Equal(got, want) {
		t.Fatalf("tainted %v, want %v", got, want)
	}
}

// TestStartRunsPasses: the loop the manager runs makes a pass each interval of the clock.
func TestStartRunsPasses(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	underused(h)
	h.waitForState()
	done := make(chan error, 1)
	go func() { done <- h.ctrl.Start(h.ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.deleting()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no pass consolidated: deleting %v", h.deleting())
		}
		if h.clock.HasWaiters() {
			h.clock.Step(DefaultInterval)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRegister wires the controller into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr, err := manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: new(true)}})
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := NewController(Deps{Client: mgr.GetClient()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Register(test.Context(t), mgr); err != nil {
		t.Fatal(err)
	}
	if !ctrl.NeedLeaderElection() || ctrl.Name() != Name {
		t.Error("consolidation must run on the leader only, under its name")
	}
}
