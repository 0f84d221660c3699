package status

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	if got := testutil.ToFloat64(c.metrics.CurrentStatusSeconds.With(notReady)); got != 5 {
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
	for name, g := range map[string]*prometheus.GaugeVec{"count": c.metrics.Count, "current": c.metrics.CurrentStatusSeconds, "terminating": c.metrics.TerminationCurrentTime} {
		if n := testutil.CollectAndCount(g); n != 0 {
			t.Errorf("%s keeps %d series of a deleted pool", name, n)
		}
	}
	if n := testutil.CollectAndCount(c.metrics.TerminationDuration); n != 1 {
		t.Errorf("termination duration series = %d, want 1", n)
	}
}

// TestRefreshTicksWithoutReconciling: current_status_seconds moves on with the clock by one
// Refresh over every object, not by requeueing each object (200 reconciles a second at
// 2,000 NodeClaims); a forgotten object's series stay gone.
func TestRefreshTicksWithoutReconciling(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc"}}
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(t0)})
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(nc).WithStatusSubresource(nc).Build()
	clk := clocktesting.NewFakeClock(t0.Add(5 * time.Second))
	c, err := NewNodeClaimController(Deps{Client: kube, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "nc"}}
	res, err := c.Reconcile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 0 || res.Requeue {
		t.Errorf("reconcile requeues (%+v): the refresh is one pass over every object", res)
	}
	ready := prometheus.Labels{"namespace": "", "name": "nc", "type": "Ready", "status": "True", "reason": "Ready"}
	clk.Step(20 * time.Second)
	c.Refresh()
	if got := testutil.ToFloat64(c.metrics.CurrentStatusSeconds.With(ready)); got != 25 {
		t.Errorf("current status seconds after Refresh = %v, want 25", got)
	}
	if err := kube.Delete(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	c.Refresh()
	if n := testutil.CollectAndCount(c.metrics.CurrentStatusSeconds); n != 0 {
		t.Errorf("Refresh brought back %d series of a deleted NodeClaim", n)
	}
}
