package conditions

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// TestDriftedAndConsolidatable: the provider's IsDrifted and a vanished instance type set
// Drifted with their reason; clearing the cause removes it. Consolidatable follows
// lastPodEventTime and consolidateAfter.
func TestDriftedAndConsolidatable(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	cloud := fake.New(fake.Options{})
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	pool := fixtures.NodePool(fixtures.Name(t, "pool"))
	pool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("1m")
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pool) })
	nc := fixtures.NodeClaim(fixtures.Name(t, "nc"), pool.Name)
	nc.Finalizers = nil
	nc, err := fixtures.Launch(ctx, env.Client, cloud, nc, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), nc) })
	c := NewController(Deps{Client: env.Client, CloudProvider: cloud, Clock: clk})
	get := func() *v1.NodeClaim {
		t.Helper()
		out := &v1.NodeClaim{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), out); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Reconcile(ctx, out); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := get()
	if meta.FindStatusCondition(got.Status.Conditions, v1.ConditionTypeDrifted) != nil {
		t.Fatal("drifted without a cause")
	}
	if meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionTypeConsolidatable) {
		t.Fatal("consolidatable before consolidateAfter")
	}
	cloud.SetDrifted(got.Status.ProviderID, "ImageDrift")
	if cond := meta.FindStatusCondition(get().Status.Conditions, v1.ConditionTypeDrifted); cond == nil || cond.Reason != "ImageDrift" {
		t.Fatalf("Drifted = %+v, want ImageDrift", cond)
	}
	cloud.SetDrifted(got.Status.ProviderID, "")
	if meta.FindStatusCondition(get().Status.Conditions, v1.ConditionTypeDrifted) != nil {
		t.Fatal("Drifted kept after the cause went")
	}
	stored := got.DeepCopy()
	got.Labels[v1.LabelInstanceType] = "gone.type"
	if err := env.Client.Patch(ctx, got, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(get().Status.Conditions, v1.ConditionTypeDrifted); cond == nil || cond.Reason != ReasonInstanceTypeGone {
		t.Fatalf("Drifted = %+v, want %s", cond, ReasonInstanceTypeGone)
	}
	clk.Step(61 * time.Second)
	if !meta.IsStatusConditionTrue(get().Status.Conditions, v1.ConditionTypeConsolidatable) {
		t.Fatal("not consolidatable after consolidateAfter")
	}
}
