package expiration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// TestExpiresAtTheExactTime: one second before expiry the NodeClaim is requeued for that
// second; at expiry it is deleted and counted; "Never" is never requeued.
func TestExpiresAtTheExactTime(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, ""); err != nil {
			t.Error(err)
		}
	})
	clk := clocktesting.NewFakeClock(time.Now())
	reg := prometheus.NewRegistry()
	rec := record.NewFakeRecorder(10)
	ctrl, err := NewController(Deps{Client: env.Client, Recorder: rec, Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	nc := fixtures.NodeClaim(fixtures.Name(t, "expiring"), "pool")
	nc.Labels[v1.CapacityTypeLabelKey] = v1.CapacityTypeSpot
	nc.Spec.ExpireAfter = v1.MustParseNillableDuration("10m")
	never := fixtures.NodeClaim(fixtures.Name(t, "never"), "pool")
	for _, o := range []*v1.NodeClaim{nc, never} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	expiry := nc.CreationTimestamp.Add(10 * time.Minute)
	reconcile := func(o *v1.NodeClaim) time.Duration {
		t.Helper()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		res, err := ctrl.Reconcile(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return res.RequeueAfter
	}

	clk.SetTime(expiry.Add(-time.Second))
	if d := reconcile(nc); d != time.Second {
		t.Fatalf("requeue %v, want exactly 1s before expiry", d)
	}
	if nc.DeletionTimestamp != nil {
		t.Fatal("deleted before expiry")
	}
	clk.SetTime(expiry)
	if d := reconcile(nc); d != 0 {
		t.Fatalf("requeue %v after deleting", d)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), nc); err != nil || nc.DeletionTimestamp == nil {
		t.Fatalf("expired nodeclaim must be deleting (err %v)", err)
	}
	if got := testutil.ToFloat64(ctrl.disrupted.WithLabelValues("expired", "pool", v1.CapacityTypeSpot)); got != 1 {
		t.Errorf(`karpenter_nodeclaims_disrupted_total{reason="expired"} = %v`, got)
	}
	if ev := <-rec.Events; !strings.Contains(ev, ReasonExpired) {
		t.Errorf("event %q", ev)
	}

	clk.Step(1000 * time.Hour)
	if d := reconcile(never); d != 0 || never.DeletionTimestamp != nil {
		t.Fatalf("expireAfter Never must neither requeue (%v) nor delete", d)
	}
	// Already deleting: left to termination.
	if d := reconcile(nc); d != 0 {
		t.Fatalf("requeue %v for a deleting nodeclaim", d)
	}
}

// TestRegister wires the controller into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr := env.NewManager(t)
	ctrl, err := NewController(Deps{Client: mgr.GetClient()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Register(test.Context(t), mgr); err != nil {
		t.Fatal(err)
	}
}

// TestExpiredAndAlreadyGone: a stale copy of an expired NodeClaim that is already gone is
// not an error (and not counted): nothing is left to delete.
func TestExpiredAndAlreadyGone(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	clk := clocktesting.NewFakeClock(time.Now())
	ctrl, err := NewController(Deps{Client: env.Client, Clock: clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	nc := fixtures.NodeClaim(fixtures.Name(t, "gone"), "pool")
	nc.Finalizers = nil
	nc.Spec.ExpireAfter = v1.MustParseNillableDuration("10m")
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, nc.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(nc.CreationTimestamp.Add(time.Hour))
	if _, err := ctrl.Reconcile(ctx, nc); err != nil {
		t.Errorf("reconciling an expired nodeclaim already gone: %v", err)
	}
	if got := testutil.ToFloat64(ctrl.disrupted.WithLabelValues("expired", "pool", "")); got != 0 {
		t.Errorf("a nodeclaim already gone was counted as expired: %v", got)
	}
}
