package status

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
)

func wantCondition(t *testing.T, pool *v1.NodePool, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	cond := meta.FindStatusCondition(pool.Status.Conditions, typ)
	if cond == nil || cond.Status != status || cond.Reason != reason {
		t.Fatalf("%s = %+v, want %s/%s", typ, cond, status, reason)
	}
	return cond
}

// TestValidationSucceeded: what the CRD cannot check is checked against the cloud's instance
// types; a failure makes the pool not Ready with the reason, and fixing the pool recovers it.
func TestValidationSucceeded(t *testing.T) {
	ctx, _ := setup(t)
	its := catalog.Default()
	ctrl := NewController(Deps{Client: env.Client, Clock: clocktesting.NewFakeClock(time.Now()), CloudProvider: fake.New(fake.Options{})})
	for _, tc := range []struct {
		name   string
		mutate func(*v1.NodePool)
		reason string
	}{
		{"no-type", func(p *v1.NodePool) {
			p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"z9.mega"}}}
		}, ReasonNoCompatibleInstanceTypes},
		{"no-zone", func(p *v1.NodePool) {
			p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelTopologyZone, Operator: v1.NodeSelectorOpIn, Values: []string{"mars-1a"}}}
		}, ReasonNoCompatibleInstanceTypes},
		{"label-excludes-types", func(p *v1.NodePool) {
			p.Spec.Template.ObjectMeta.Labels = map[string]string{v1.LabelArch: "s390x"}
		}, ReasonNoCompatibleInstanceTypes},
		{"label-conflict", func(p *v1.NodePool) {
			p.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "a"}
			p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: "team", Operator: v1.NodeSelectorOpNotIn, Values: []string{"a"}}}
		}, ReasonLabelConflict},
		{"min-values", func(p *v1.NodePool) {
			p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{
				Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{its[0].Name, its[1].Name, "z9.mega"}, MinValues: ptr.To(3),
			}}
		}, ReasonMinValuesUnsatisfiable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := fixtures.NodePool(fixtures.Name(t, "pool"))
			tc.mutate(pool)
			if err := env.Client.Create(ctx, pool); err != nil {
				t.Fatal(err)
			}
			if d := reconcilePool(ctx, t, ctrl, pool); d != RecheckInterval {
				t.Errorf("requeue %v, want %v while not ready", d, RecheckInterval)
			}
			valid := wantCondition(t, pool, ConditionValidationSucceeded, metav1.ConditionFalse, tc.reason)
			ready := wantCondition(t, pool, ConditionReady, metav1.ConditionFalse, tc.reason)
			if valid.Message == "" || ready.Message == "" {
				t.Errorf("conditions without a message: %+v %+v", valid, ready)
			}

			stored := pool.DeepCopy()
			pool.Spec.Template.ObjectMeta.Labels = nil
			pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{}
			if err := env.Client.Patch(ctx, pool, client.MergeFrom(stored)); err != nil {
				t.Fatal(err)
			}
			reconcilePool(ctx, t, ctrl, pool)
			wantCondition(t, pool, ConditionValidationSucceeded, metav1.ConditionTrue, ReasonValidationSucceeded)
			wantCondition(t, pool, ConditionReady, metav1.ConditionTrue, ReasonNodeClassUnchecked)
		})
	}
}

// TestNodeRegistrationHealthy: Unknown until a node of the current template registers or
// times out; the latest outcome wins and sticks after its NodeClaim is gone; a template
// change starts over.
func TestNodeRegistrationHealthy(t *testing.T) {
	ctx, _ := setup(t)
	clk := clocktesting.NewFakeClock(time.Now())
	ctrl := NewController(Deps{Client: env.Client, Clock: clk, RegistrationTimeout: 10 * time.Minute})
	pool := fixtures.NodePool(fixtures.Name(t, "pool"))
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionUnknown, ReasonAwaitingRegistration)
	hash := pool.Annotations[v1.NodePoolHashAnnotationKey]
	if hash == "" {
		t.Fatal("pool not annotated with its hash")
	}

	// A NodeClaim that launched and never registered.
	stuck := fixtures.NodeClaim(fixtures.Name(t, "stuck"), pool.Name)
	stuck.Annotations = map[string]string{v1.NodePoolHashAnnotationKey: hash}
	if err := env.Client.Create(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	stored := stuck.DeepCopy()
	meta.SetStatusCondition(&stuck.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeLaunched, Status: metav1.ConditionTrue, Reason: "Launched", LastTransitionTime: metav1.Now()})
	meta.SetStatusCondition(&stuck.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeRegistered, Status: metav1.ConditionUnknown, Reason: "AwaitingRegistration", LastTransitionTime: metav1.Now()})
	if err := env.Client.Status().Patch(ctx, stuck, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionUnknown, ReasonAwaitingRegistration)
	clk.Step(11 * time.Minute)
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionFalse, ReasonRegistrationTimedOut)
	wantCondition(t, pool, ConditionReady, metav1.ConditionTrue, ReasonNodeClassUnchecked) // informs, does not gate

	// The lifecycle controller deletes the stuck NodeClaim: the verdict stays.
	if err := env.Client.Patch(ctx, stuck, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionFalse, ReasonRegistrationTimedOut)

	// A later registration heals it.
	good := fixtures.NodeClaim(fixtures.Name(t, "good"), pool.Name)
	good.Annotations = map[string]string{v1.NodePoolHashAnnotationKey: hash}
	if _, err := fixtures.Launch(ctx, env.Client, fake.New(fake.Options{}), good, clk.Now()); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionTrue, ReasonNodeRegistered)

	// A new template: NodeClaims of the old one no longer count.
	stored2 := pool.DeepCopy()
	pool.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "b"}
	if err := env.Client.Patch(ctx, pool, client.MergeFrom(stored2)); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	if pool.Annotations[v1.NodePoolHashAnnotationKey] == hash {
		t.Fatal("hash did not change with the template")
	}
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionUnknown, ReasonAwaitingRegistration)
}

// TestRegistrationTimeoutConditionMakesThePoolUnhealthy: the lifecycle controller's
// Registered=False/RegistrationTimeout counts as a failed registration at once.
func TestRegistrationTimeoutConditionMakesThePoolUnhealthy(t *testing.T) {
	ctx, ctrl := setup(t)
	pool := fixtures.NodePool(fixtures.Name(t, "pool"))
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	nc := fixtures.NodeClaim(fixtures.Name(t, "late"), pool.Name)
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	stored := nc.DeepCopy()
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeLaunched, Status: metav1.ConditionTrue, Reason: "Launched", LastTransitionTime: metav1.Now()})
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeRegistered, Status: metav1.ConditionFalse,
		Reason: v1.ConditionReasonRegistrationTimeout, Message: "not registered within 5m", LastTransitionTime: metav1.Now()})
	if err := env.Client.Status().Patch(ctx, nc, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	wantCondition(t, pool, ConditionNodeRegistrationHealthy, metav1.ConditionFalse, ReasonRegistrationTimedOut)
}
