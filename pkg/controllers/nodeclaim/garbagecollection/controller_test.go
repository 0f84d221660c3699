package garbagecollection

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

type harness struct {
	ctx      context.Context
	ctrl     *Controller
	cloud    *fake.Provider
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{ctx: test.Context(t), cloud: fake.New(fake.Options{}), clock: clocktesting.NewFakeClock(time.Now()), recorder: record.NewFakeRecorder(100)}
	h.ctrl = NewController(Deps{Client: env.Client, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clock,
		Options: Options{Interval: 2 * time.Minute, LaunchGracePeriod: time.Minute}})
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, ""); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return h
}

func (h *harness) exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func (h *harness) launched(t *testing.T, name string) *v1.NodeClaim {
	t.Helper()
	nc, err := fixtures.Launch(h.ctx, env.Client, h.cloud, fixtures.NodeClaim(fixtures.Name(t, name), "pool"), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func deletedIDs(p *fake.Provider) []string {
	var out []string
	for _, c := range p.Calls(fake.MethodDelete) {
		out = append(out, c.NodeClaim.Status.ProviderID)
	}
	return out
}

// TestUnclaimedInstance: an instance with no NodeClaim survives the launch grace period,
// then is terminated with its Node; claimed instances are never touched.
func TestUnclaimedInstance(t *testing.T) {
	h := newHarness(t)
	claimed := h.launched(t, "claimed")
	orphan, err := h.cloud.Create(h.ctx, &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "leaked", CreationTimestamp: metav1.NewTime(h.clock.Now())},
		Spec: fixtures.NodeClaim("x", "pool").Spec})
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fixtures.Name(t, "leaked")}, Spec: corev1.NodeSpec{ProviderID: orphan.Status.ProviderID}}
	if err := env.Client.Create(h.ctx, node); err != nil {
		t.Fatal(err)
	}

	h.clock.Step(30 * time.Second)
	res, err := h.ctrl.Reconcile(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := deletedIDs(h.cloud); len(ids) != 0 {
		t.Fatalf("young unclaimed instance must be spared, deleted %v", ids)
	}
	if res.RequeueAfter != 30*time.Second {
		t.Errorf("requeue %v, want 30s: when the orphan comes of age", res.RequeueAfter)
	}

	h.clock.Step(31 * time.Second)
	res, err = h.ctrl.Reconcile(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := deletedIDs(h.cloud); len(ids) != 1 || ids[0] != orphan.Status.ProviderID {
		t.Fatalf("deleted %v, want only %s", ids, orphan.Status.ProviderID)
	}
	if h.exists(t, node) {
		t.Error("the orphan's node must be deleted")
	}
	if !h.exists(t, claimed) || claimed.DeletionTimestamp != nil {
		t.Error("the claimed nodeclaim must stay")
	}
	if res.RequeueAfter != 2*time.Minute {
		t.Errorf("requeue %v, want the interval", res.RequeueAfter)
	}
	if ev := <-h.recorder.Events; !strings.Contains(ev, ReasonGarbageCollected) {
		t.Errorf("event %q", ev)
	}
}

// TestNodeClaimWithoutInstance: a launched NodeClaim whose instance is gone is deleted; an
// unlaunched one, one whose instance exists, and one whose Get fails are kept.
func TestNodeClaimWithoutInstance(t *testing.T) {
	h := newHarness(t)
	gone := h.launched(t, "gone")
	alive := h.launched(t, "alive")
	flaky := h.launched(t, "flaky")
	pending := fixtures.NodeClaim(fixtures.Name(t, "pending"), "pool")
	if err := env.Client.Create(h.ctx, pending); err != nil {
		t.Fatal(err)
	}
	for _, nc := range []*v1.NodeClaim{gone, flaky} {
		if err := h.cloud.Delete(h.ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	// NodeClaims are listed by name, so flaky's Get comes first: it fails transiently.
	h.cloud.FailNext(fake.MethodGet, errors.New("throttled"))
	if _, err := h.ctrl.Reconcile(h.ctx); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("Get error must surface, got %v", err)
	}
	if !h.exists(t, flaky) || flaky.DeletionTimestamp != nil {
		t.Fatal("a nodeclaim must not be deleted on a transient error")
	}
	if !h.exists(t, gone) || gone.DeletionTimestamp == nil {
		t.Fatal("the nodeclaim without instance must be deleted (its finalizer holds it)")
	}
	for _, nc := range []*v1.NodeClaim{alive, pending} {
		if !h.exists(t, nc) || nc.DeletionTimestamp != nil {
			t.Errorf("%s must stay", nc.Name)
		}
	}
	// The next pass collects it.
	if _, err := h.ctrl.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	if !h.exists(t, flaky) || flaky.DeletionTimestamp == nil {
		t.Fatal("flaky must be collected on the next pass")
	}
}

// TestRegister wires the singleton into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr := env.NewManager(t)
	if err := NewController(Deps{Client: mgr.GetClient(), CloudProvider: fake.New(fake.Options{})}).Register(test.Context(t), mgr); err != nil {
		t.Fatal(err)
	}
}
