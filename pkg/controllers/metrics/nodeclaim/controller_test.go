package nodeclaim

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

func TestTerminationDurationObservedOnce(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc", Labels: map[string]string{v1.NodePoolLabelKey: "default"}, Finalizers: []string{v1.TerminationFinalizer}}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(nc).Build()
	clk := clocktesting.NewFakeClock(time.Now())
	reg := prometheus.NewRegistry()
	c, err := NewController(Deps{Client: kube, Registerer: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "nc"}}
	rec := func() {
		t.Helper()
		if _, err := c.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	rec() // alive: nothing
	if n := testutil.CollectAndCount(c.duration); n != 0 {
		t.Fatalf("series = %d before any deletion", n)
	}
	if err := kube.Delete(ctx, nc); err != nil {
		t.Fatal(err)
	}
	rec()
	if err := kube.Get(ctx, req.NamespacedName, nc); err != nil {
		t.Fatal(err)
	}
	nc.Finalizers = nil
	if err := kube.Update(ctx, nc); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(time.Now().Add(time.Minute))
	rec()
	rec()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "karpenter_nodeclaims_termination_duration_seconds" {
		t.Fatalf("families %v", mfs)
	}
	s := mfs[0].GetMetric()[0].GetSummary()
	if s.GetSampleCount() != 1 || s.GetSampleSum() < 59 || mfs[0].GetMetric()[0].GetLabel()[0].GetValue() != "default" {
		t.Errorf("summary %v, want one observation of about a minute for nodepool default", s)
	}
}
