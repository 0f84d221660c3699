package node

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func TestCreatedTerminatedLifetime(t *testing.T) {
	start := time.Now().Truncate(time.Second)
	clk := clocktesting.NewFakeClock(start)
	node := func(name string, created time.Time, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created), Labels: labels, Finalizers: []string{"test/hold"}}}
	}
	managed := map[string]string{v1.NodePoolLabelKey: "default", v1.LabelTopologyZone: "us-east-1a"}
	fresh := node("fresh", start.Add(time.Second), managed)
	old := node("old", start.Add(-time.Hour), managed)
	foreign := node("foreign", start.Add(time.Second), nil)
	kube := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(fresh, old, foreign).Build()
	c, err := NewController(Deps{Client: kube, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := func(name string) {
		t.Helper()
		if _, err := c.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for _, n := range []string{"fresh", "old", "foreign"} {
			rec(n)
		}
	}
	if got := testutil.ToFloat64(c.metrics.Created.WithLabelValues("default", "us-east-1a")); got != 1 {
		t.Errorf("created = %v, want 1 (the node made after start, once)", got)
	}
	if n := testutil.CollectAndCount(c.metrics.Created); n != 1 {
		t.Errorf("created series = %d, want 1 (no series for the foreign node)", n)
	}

	// Deleting: seen with a deletion timestamp, then gone.
	if err := kube.Delete(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	rec("fresh")
	clk.SetTime(time.Now().Add(30 * time.Second))
	if err := kube.Get(ctx, types.NamespacedName{Name: "fresh"}, fresh); err != nil {
		t.Fatal(err)
	}
	fresh.Finalizers = nil
	if err := kube.Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	rec("fresh")
	if got := testutil.CollectAndCount(c.metrics.TerminationDuration); got != 1 {
		t.Fatalf("termination duration series = %d, want 1", got)
	}
	count, sum, err := test.HistogramOf(c.metrics.LifetimeDuration)
	if err != nil {
		t.Fatal(err)
	}
	if count != 1 || sum < 29 {
		t.Errorf("lifetime count %d sum %v, want one observation of about 31s", count, sum)
	}
	// Gone and forgotten: a second NotFound observes nothing more.
	rec("fresh")
	if count, _, err = test.HistogramOf(c.metrics.LifetimeDuration); err != nil || count != 1 {
		t.Errorf("lifetime observed %d times (%v), want once", count, err)
	}
}
