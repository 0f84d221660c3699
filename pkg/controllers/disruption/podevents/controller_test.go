package podevents

import (
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// TestHandlerEnqueuesBindsAndDepartures: binding, deletion and finishing enqueue the node;
// other updates and DaemonSet pods do not.
func TestHandlerEnqueuesBindsAndDepartures(t *testing.T) {
	h := Handler()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	bound := pending.DeepCopy()
	bound.Spec.NodeName = "n1"
	relabelled := bound.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	done := bound.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	yes := true
	daemon := bound.DeepCopy()
	daemon.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: &yes}}
	ctx := t.Context()
	h.Update(ctx, event.UpdateEvent{ObjectOld: pending, ObjectNew: bound}, q)
	h.Update(ctx, event.UpdateEvent{ObjectOld: bound, ObjectNew: relabelled}, q)
	h.Create(ctx, event.CreateEvent{Object: daemon}, q)
	if q.Len() != 1 {
		t.Fatalf("queue has %d items after a bind, a relabel and a DaemonSet pod; want 1", q.Len())
	}
	item, _ := q.Get()
	q.Done(item)
	if item.Name != "n1" {
		t.Fatalf("enqueued %v, want n1", item)
	}
	h.Update(ctx, event.UpdateEvent{ObjectOld: bound, ObjectNew: done}, q)
	if q.Len() != 1 {
		t.Fatal("a finished pod was not enqueued")
	}
}

// TestReconcileStampsLastPodEventTime: the NodeClaim whose node is the request gets the
// clock's time.
func TestReconcileStampsLastPodEventTime(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	nc := fixtures.NodeClaim(fixtures.Name(t, "nc"), "pool")
	nc.Finalizers = nil
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, nc) })
	stored := nc.DeepCopy()
	nc.Status.NodeName = "node-" + nc.Name
	if err := env.Client.Status().Patch(ctx, nc, client.MergeFrom(stored)); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second).Add(time.Hour))
	c := NewController(Deps{Client: env.Client, Clock: clk})
	if _, err := c.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: nc.Status.NodeName}}); err != nil {
		t.Fatal(err)
	}
	got := &v1.NodeClaim{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), got); err != nil {
		t.Fatal(err)
	}
	if !got.Status.LastPodEventTime.Time.Equal(clk.Now()) {
		t.Fatalf("lastPodEventTime = %v, want %v", got.Status.LastPodEventTime, clk.Now())
	}
}
