package emptiness

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

type harness struct {
	t     *testing.T
	ctx   context.Context
	ctrl  *Controller
	cloud *fake.Provider
	clock *clocktesting.FakeClock
	pool  *v1.NodePool
	ns    string
}

// newHarness creates a pool with the given budget and consolidateAfter. The fake clock
// starts on a whole second: condition times are stored with second precision.
func newHarness(t *testing.T, budget, consolidateAfter string) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{t: t, ctx: test.Context(t), cloud: fake.New(fake.Options{}),
		clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), ns: fixtures.Name(t, "")}
	ctrl, err := NewController(Deps{Client: env.Client, Recorder: record.NewFakeRecorder(1000), Clock: h.clock, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h.ctrl = ctrl
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, h.ns); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	if err := fixtures.Namespace(h.ctx, env.Client, h.ns); err != nil {
		t.Fatal(err)
	}
	h.pool = fixtures.NodePool(fixtures.Name(t, "pool"))
	h.pool.Spec.Disruption.Budgets = []v1.Budget{{Nodes: budget}}
	h.pool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration(consolidateAfter)
	if err := env.Client.Create(h.ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) node(name string) (*v1.NodeClaim, *corev1.Node) {
	h.t.Helper()
	nc, err := fixtures.Launch(h.ctx, env.Client, h.cloud, fixtures.NodeClaim(fixtures.Name(h.t, name), h.pool.Name), h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	node, err := fixtures.Node(h.ctx, env.Client, nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, node
}

func (h *harness) pod(name, node string, opts ...fixtures.PodOption) *corev1.Pod {
	h.t.Helper()
	p, err := fixtures.Pod(h.ctx, env.Client, h.ns, name, node, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) reconcile() time.Duration {
	h.t.Helper()
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(h.pool), h.pool); err != nil {
		h.t.Fatal(err)
	}
	res, err := h.ctrl.Reconcile(h.ctx, h.pool)
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res.RequeueAfter
}

// deleting returns the names of the pool's NodeClaims being deleted.
func (h *harness) deleting() map[string]bool {
	h.t.Helper()
	list := &v1.NodeClaimList{}
	if err := env.Client.List(h.ctx, list, client.MatchingLabels{v1.NodePoolLabelKey: h.pool.Name}); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, nc := range list.Items {
		if nc.DeletionTimestamp != nil {
			out[nc.Name] = true
		}
	}
	return out
}

// finishTerminations plays termination: deleting NodeClaims lose their finalizer.
func (h *harness) finishTerminations() {
	h.t.Helper()
	for name := range h.deleting() {
		nc := &v1.NodeClaim{}
		if err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, nc); err != nil {
			h.t.Fatal(err)
		}
		stored := nc.DeepCopy()
		nc.Finalizers = nil
		if err := env.Client.Patch(h.ctx, nc, client.MergeFrom(stored)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// TestBudgetLimitsEmptyDeletions: ten empty nodes and a budget of 2 → two deletions per
// pass, and none while two are still terminating. A busy node is never touched.
func TestBudgetLimitsEmptyDeletions(t *testing.T) {
	h := newHarness(t, "2", "30s")
	for i := range 10 {
		h.node(fmt.Sprintf("empty-%d", i))
	}
	_, busy := h.node("busy")
	h.pod("web", busy.Name)

	if d := h.reconcile(); d != 10*time.Second || len(h.deleting()) != 0 {
		t.Fatalf("nothing may go before consolidateAfter: requeue %v, deleting %v", d, h.deleting())
	}
	h.clock.Step(29 * time.Second)
	if d := h.reconcile(); d != time.Second || len(h.deleting()) != 0 {
		t.Fatalf("at 29s: requeue %v (want 1s), deleting %v", d, h.deleting())
	}
	h.clock.Step(time.Second)
	h.reconcile()
	if got := h.deleting(); len(got) != 2 || !got[fixtures.Name(t, "empty-0")] || !got[fixtures.Name(t, "empty-1")] {
		t.Fatalf("first pass must delete exactly 2 (oldest, then by name), got %v", got)
	}
	h.reconcile()
	if got := h.deleting(); len(got) != 2 {
		t.Fatalf("two terminating nodes use the whole budget, got %v", got)
	}
	h.finishTerminations()
	h.reconcile()
	if got := h.deleting(); len(got) != 2 || got[fixtures.Name(t, "empty-0")] {
		t.Fatalf("next pass must delete the next 2, got %v", got)
	}
	if got := testutil.ToFloat64(h.ctrl.disrupted.WithLabelValues("empty", h.pool.Name, "on-demand")) +
		testutil.ToFloat64(h.ctrl.disrupted.WithLabelValues("empty", h.pool.Name, "spot")); got != 4 {
		t.Errorf(`karpenter_nodeclaims_disrupted_total{reason="empty"} = %v, want 4`, got)
	}
	nc := &v1.NodeClaim{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Name: busy.Name}, nc); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(nc.Status.Conditions, ConditionEmpty); cond == nil || cond.Status != "False" || nc.DeletionTimestamp != nil {
		t.Fatalf("busy node: Empty = %+v, deleting %v", cond, nc.DeletionTimestamp)
	}
}

// TestPodArrivalResetsConsolidateAfter: a pod resets the empty clock; DaemonSet pods do
// not count.
func TestPodArrivalResetsConsolidateAfter(t *testing.T) {
	h := newHarness(t, "100%", "1m")
	nc, node := h.node("n")
	h.pod("agent", node.Name, fixtures.OwnedBy("DaemonSet"))
	h.reconcile()
	h.clock.Step(50 * time.Second)
	web := h.pod("web", node.Name)
	h.reconcile()
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(nc), nc); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionFalse(nc.Status.Conditions, ConditionEmpty) {
		t.Fatalf("a pod arrived: Empty must be False, got %+v", nc.Status.Conditions)
	}
	h.clock.Step(20 * time.Second)
	if err := env.Client.Delete(h.ctx, web, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	h.reconcile() // empty again since 70s
	h.clock.Step(59 * time.Second)
	if d := h.reconcile(); len(h.deleting()) != 0 || d != time.Second {
		t.Fatalf("59s after the pod left: requeue %v, deleting %v", d, h.deleting())
	}
	h.clock.Step(time.Second)
	h.reconcile()
	if !h.deleting()[nc.Name] {
		t.Fatal("empty for consolidateAfter: must be deleted")
	}
}

// TestDoNotDisrupt: the annotation on the Node or on any pod (DaemonSet pods included)
// keeps an empty node.
func TestDoNotDisrupt(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	_, annotated := h.node("annotated")
	stored := annotated.DeepCopy()
	annotated.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"}
	if err := env.Client.Patch(h.ctx, annotated, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	_, guarded := h.node("guarded")
	h.pod("agent", guarded.Name, fixtures.OwnedBy("DaemonSet"), fixtures.Annotated(v1.DoNotDisruptAnnotationKey, "true"))
	plain, _ := h.node("plain")
	h.reconcile()
	if got := h.deleting(); len(got) != 1 || !got[plain.Name] {
		t.Fatalf("only the unprotected node may go, got %v", got)
	}
}

// TestConsolidateAfterNever: such a pool is left alone entirely.
func TestConsolidateAfterNever(t *testing.T) {
	never := newHarness(t, "100%", "Never")
	neverClaim, _ := never.node("never")
	if d := never.reconcile(); d != 0 || len(never.deleting()) != 0 {
		t.Fatalf("consolidateAfter Never: requeue %v, deleting %v", d, never.deleting())
	}
	if err := env.Client.Get(never.ctx, client.ObjectKeyFromObject(neverClaim), neverClaim); err != nil {
		t.Fatal(err)
	}
	if meta.FindStatusCondition(neverClaim.Status.Conditions, ConditionEmpty) != nil {
		t.Error("a pool that never consolidates needs no Empty condition")
	}
}

// TestRegister wires the controller into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr, err := manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
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
}
