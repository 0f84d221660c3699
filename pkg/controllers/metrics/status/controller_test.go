package status

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// TestConditionsTransitionsAndTermination: one count series per current condition, a
// transition counted and timed when a status changes, and every series of a deleted object
// dropped with its termination time observed.
func TestConditionsTransitionsAndTermination(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: []string{"test/hold"}}}
	meta.SetStatusCondition(&pool.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NodeClassNotFound", LastTransitionTime: metav1.NewTime(t0)})
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pool).WithStatusSubresource(pool).Build()
	clk := clocktesting.NewFakeClock(t0.Add(5 * time.Second))
	c, err := NewNodePoolController(Deps{Client: kube, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "p"}}
	rec := func() {
		t.Helper()
		if _, err := c.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	rec()
	notReady := prometheus.Labels{"namespace": "", "name": "p", "type": "Ready", "status": "False", "reason": "NodeClassNotFound"}
	if got := values(t, c.metrics.CurrentStatusSeconds)[key(notReady)]; got != 5 {
		t.Errorf("current status seconds = %v, want 5", got)
	}
	if err := kube.Get(ctx, req.NamespacedName, pool); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&pool.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(t0.Add(30 * time.Second))})
	if err := kube.Status().Update(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rec()
	rec()
	if n := testutil.CollectAndCount(c.metrics.Count); n != 1 {
		t.Errorf("count series = %d, want only the current condition", n)
	}
	if got := testutil.ToFloat64(c.metrics.TransitionsTotal.WithLabelValues("Ready", "True", "Ready")); got != 1 {
		t.Errorf("transitions to True = %v, want 1", got)
	}
	if got := testutil.ToFloat64(c.metrics.TransitionsTotal.WithLabelValues("Ready", "False", "NodeClassNotFound")); got != 1 {
		t.Errorf("first observation = %v, want counted once", got)
	}
	if n := testutil.CollectAndCount(c.metrics.TransitionSeconds); n != 1 {
		t.Errorf("transition seconds series = %d, want 1", n)
	}

	if err := kube.Delete(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rec()
	if n := testutil.CollectAndCount(c.metrics.TerminationCurrentTime); n != 1 {
		t.Errorf("termination current time series = %d while terminating", n)
	}
	if err := kube.Get(ctx, req.NamespacedName, pool); err != nil {
		t.Fatal(err)
	}
	pool.Finalizers = nil
	if err := kube.Update(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rec()
	for name, g := range map[string]prometheus.Collector{"count": c.metrics.Count, "current": c.metrics.CurrentStatusSeconds, "terminating": c.metrics.TerminationCurrentTime} {
		if n := testutil.CollectAndCount(g); n != 0 {
			t.Errorf("%s keeps %d series of a deleted pool", name, n)
		}
	}
	if n := testutil.CollectAndCount(c.metrics.TerminationDuration); n != 1 {
		t.Errorf("termination duration series = %d, want 1", n)
	}
}

// TestComputedWhenScraped: the per-object families are read from the client when scraped,
// so they cost no stored series (some 25,000 at 2,000 NodeClaims) and no reconcile to stay
// current: a NodeClaim no reconcile has seen is reported, current_status_seconds moves with
// the clock, and a deleted NodeClaim's series are gone.
func TestComputedWhenScraped(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc"}}
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(t0)})
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: "Launched", Status: metav1.ConditionTrue, Reason: "Launched", LastTransitionTime: metav1.NewTime(t0)})
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(nc).WithStatusSubresource(nc).Build()
	clk := clocktesting.NewFakeClock(t0.Add(5 * time.Second))
	c, err := NewNodeClaimController(Deps{Client: kube, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ready := key(prometheus.Labels{"namespace": "", "name": "nc", "type": "Ready", "status": "True", "reason": "Ready"})
	if got := values(t, c.metrics.Count); len(got) != 2 || got[ready] != 1 {
		t.Errorf("count series before any reconcile = %v, want Ready and Launched", got)
	}
	clk.Step(20 * time.Second)
	if got := values(t, c.metrics.CurrentStatusSeconds)[ready]; got != 25 {
		t.Errorf("current status seconds = %v, want 25", got)
	}
	if err := kube.Delete(context.Background(), nc); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c.metrics.Count) + testutil.CollectAndCount(c.metrics.CurrentStatusSeconds); n != 0 {
		t.Errorf("%d series of a deleted NodeClaim", n)
	}
}

// values collects a family into its values by key(labels).
func values(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		l := prometheus.Labels{}
		for _, p := range pb.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		out[key(l)] = pb.GetGauge().GetValue()
	}
	return out
}

// key is a label set as one comparable string.
func key(l prometheus.Labels) string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + "=" + l[n] + ",")
	}
	return b.String()
}
