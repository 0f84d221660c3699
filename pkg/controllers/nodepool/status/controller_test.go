package status

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

func setup(t *testing.T) (context.Context, *Controller) {
	t.Helper()
	test.RequireEnvironment(t, env)
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, ""); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return test.Context(t), NewController(Deps{Client: env.Client, Clock: clocktesting.NewFakeClock(time.Now())})
}

func reconcilePool(ctx context.Context, t *testing.T, c *Controller, pool *v1.NodePool) time.Duration {
	t.Helper()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	res, err := c.Reconcile(ctx, pool)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	return res.RequeueAfter
}

// TestResourcesAndHash: nodes and resources sum the pool's launched NodeClaims only; the
// hash annotations are set, follow drift-relevant changes, and a settled pool is not
// patched again.
func TestResourcesAndHash(t *testing.T) {
	ctx, ctrl := setup(t)
	cloud := fake.New(fake.Options{})
	pool := fixtures.NodePool(fixtures.Name(t, "pool"))
	other := fixtures.NodePool(fixtures.Name(t, "other"))
	for _, p := range []*v1.NodePool{pool, other} {
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	want := corev1.ResourceList{}
	for _, name := range []string{"a", "b", "c"} {
		nc, err := fixtures.Launch(ctx, env.Client, cloud, fixtures.NodeClaim(fixtures.Name(t, name), pool.Name), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for k, q := range nc.Status.Capacity {
			sum := want[k]
			sum.Add(q)
			want[k] = sum
		}
	}
	if _, err := fixtures.Launch(ctx, env.Client, cloud, fixtures.NodeClaim(fixtures.Name(t, "elsewhere"), other.Name), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, fixtures.NodeClaim(fixtures.Name(t, "unlaunched"), pool.Name)); err != nil {
		t.Fatal(err)
	}
	want[ResourceNodes] = resource.MustParse("3")

	if d := reconcilePool(ctx, t, ctrl, pool); d != 0 {
		t.Errorf("a ready pool needs no requeue, got %v", d)
	}
	if pool.Status.Nodes == nil || *pool.Status.Nodes != 3 {
		t.Fatalf("status.nodes = %v, want 3", pool.Status.Nodes)
	}
	if len(pool.Status.Resources) != len(want) {
		t.Fatalf("status.resources = %v, want %v", pool.Status.Resources, want)
	}
	for k, q := range want {
		if got := pool.Status.Resources[k]; got.Cmp(q) != 0 {
			t.Errorf("resources[%s] = %s, want %s", k, got.String(), q.String())
		}
	}
	if q := want[corev1.ResourceCPU]; q.IsZero() {
		t.Fatal("the fake's capacity must include cpu")
	}
	cond := meta.FindStatusCondition(pool.Status.Conditions, ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != ReasonNodeClassUnchecked {
		t.Errorf("Ready = %+v, want True/%s for a kind nobody serves", cond, ReasonNodeClassUnchecked)
	}
	hash, _ := Hash(pool)
	if pool.Annotations[v1.NodePoolHashAnnotationKey] != hash || pool.Annotations[v1.NodePoolHashVersionAnnotationKey] != HashVersion {
		t.Fatalf("hash annotations = %v, want %s/%s", pool.Annotations, hash, HashVersion)
	}

	rv := pool.ResourceVersion
	reconcilePool(ctx, t, ctrl, pool)
	if pool.ResourceVersion != rv {
		t.Error("a settled pool must not be patched")
	}

	stored := pool.DeepCopy()
	pool.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "checkout"}
	if err := env.Client.Patch(ctx, pool, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	if pool.Annotations[v1.NodePoolHashAnnotationKey] == hash {
		t.Error("a template label change must change the hash")
	}
}

// TestNodeClassReadiness: a served kind is looked up: missing → False/NodeClassNotFound
// with a requeue; present → True; its own Ready=False → False/NodeClassNotReady.
func TestNodeClassReadiness(t *testing.T) {
	ctx, ctrl := setup(t)
	className := fixtures.Name(t, "class")
	pool := fixtures.NodePool(fixtures.Name(t, "pool"))
	pool.Spec.Template.Spec.NodeClassRef = &v1.NodeClassReference{Group: rbacv1.GroupName, Kind: "ClusterRole", Name: className}
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	check := func(status metav1.ConditionStatus, reason string) {
		t.Helper()
		for _, typ := range []string{ConditionNodeClassReady, ConditionReady} {
			cond := meta.FindStatusCondition(pool.Status.Conditions, typ)
			if cond == nil || cond.Status != status || cond.Reason != reason {
				t.Fatalf("%s = %+v, want %s/%s", typ, cond, status, reason)
			}
		}
	}
	if d := reconcilePool(ctx, t, ctrl, pool); d != RecheckInterval {
		t.Errorf("requeue %v, want %v while not ready", d, RecheckInterval)
	}
	check(metav1.ConditionFalse, ReasonNodeClassNotFound)

	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: className}}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), role) })
	reconcilePool(ctx, t, ctrl, pool)
	check(metav1.ConditionTrue, ReasonNodeClassReady)

	// A NodePool stands in for a node class with a Ready condition of its own.
	notReady := fixtures.NodePool(fixtures.Name(t, "not-ready-class"))
	if err := env.Client.Create(ctx, notReady); err != nil {
		t.Fatal(err)
	}
	stored := notReady.DeepCopy()
	meta.SetStatusCondition(&notReady.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Broken", Message: "no subnets", LastTransitionTime: metav1.Now()})
	if err := env.Client.Status().Patch(ctx, notReady, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	dependent := fixtures.NodePool(fixtures.Name(t, "dependent"))
	dependent.Spec.Template.Spec.NodeClassRef = &v1.NodeClassReference{Group: v1.Group, Kind: "NodePool", Name: notReady.Name}
	if err := env.Client.Create(ctx, dependent); err != nil {
		t.Fatal(err)
	}
	pool = dependent
	reconcilePool(ctx, t, ctrl, pool)
	check(metav1.ConditionFalse, ReasonNodeClassNotReady)
}

// TestRegister wires the controller into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr := env.NewManager(t)
	if err := NewController(Deps{Client: mgr.GetClient()}).Register(test.Context(t), mgr); err != nil {
		t.Fatal(err)
	}
}

// reconciledPool creates a NodePool, reconciles it once and returns it with a copy of it as
// read then (a stale copy once anything writes the pool).
func reconciledPool(ctx context.Context, t *testing.T, ctrl *Controller, name string) (pool, stale *v1.NodePool) {
	t.Helper()
	pool = fixtures.NodePool(fixtures.Name(t, name))
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	reconcilePool(ctx, t, ctrl, pool)
	return pool, pool.DeepCopy()
}

// TestPoolAlreadyGone: a stale copy of a deleted NodePool is not an error.
func TestPoolAlreadyGone(t *testing.T) {
	ctx, ctrl := setup(t)
	pool, stale := reconciledPool(ctx, t, ctrl, "gone")
	stale.Status = v1.NodePoolStatus{}
	if err := env.Client.Delete(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Reconcile(ctx, stale); err != nil {
		t.Errorf("reconciling a nodepool already gone: %v", err)
	}
}

// TestStaleCopyRequeuesQuietly: reconciling a NodePool read before another write (a cache
// behind the API server) conflicts on the status write; that is retried shortly, not
// reported as an error, and the next reconcile of the stored version writes the counts.
func TestStaleCopyRequeuesQuietly(t *testing.T) {
	ctx, ctrl := setup(t)
	pool, stale := reconciledPool(ctx, t, ctrl, "pool")
	if _, err := fixtures.Launch(ctx, env.Client, fake.New(fake.Options{}), fixtures.NodeClaim(fixtures.Name(t, "a"), pool.Name), time.Now()); err != nil {
		t.Fatal(err)
	}
	pool.Labels = map[string]string{"team": "checkout"} // someone else writes the NodePool
	if err := env.Client.Patch(ctx, pool, client.MergeFrom(stale)); err != nil {
		t.Fatal(err)
	}
	res, err := ctrl.Reconcile(ctx, stale.DeepCopy())
	if err != nil || res.RequeueAfter != ConflictRetry {
		t.Fatalf("stale copy: result %+v, err %v; want a retry after %v and no error", res, err, ConflictRetry)
	}
	reconcilePool(ctx, t, ctrl, pool)
	if pool.Status.Nodes == nil || *pool.Status.Nodes != 1 {
		t.Errorf("status.nodes = %v after the retry, want 1", pool.Status.Nodes)
	}
}
