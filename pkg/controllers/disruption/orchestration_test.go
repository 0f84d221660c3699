package disruption

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
)

// TestFailedCandidateDeleteIsRetried: the API server refuses the first delete of a validated
// candidate (429); the next pass deletes it again rather than waiting forever for a node
// that keeps its taint and its share of the budget.
func TestFailedCandidateDeleteIsRetried(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	var failures atomic.Int32
	h.kube = interceptor.NewClient(h.watchClient(), interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*v1.NodeClaim); ok && failures.Add(1) == 1 {
				return apierrors.NewTooManyRequests("throttled by the test", 1)
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	h.ctrl = h.newController()
	h.node("empty", "small")
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	h.clock.Step(DefaultValidationTTL)
	h.waitForState()
	res, err := h.ctrl.Reconcile(h.ctx)
	if err == nil || len(res.Deleted) != 0 {
		t.Fatalf("the first delete: err %v, deleted %v; want the injected error and nothing deleted", err, res.Deleted)
	}
	if len(h.deleting()) != 0 {
		t.Fatal("the candidate is being deleted although its delete failed")
	}
	want := fixtures.Name(t, "empty")
	if res := h.reconcile(); !slices.Equal(res.Deleted, []string{want}) {
		t.Fatalf("the pass after the failure deleted %v, want [%s]", res.Deleted, want)
	}
	if !h.deleting()[want] {
		t.Fatalf("%s is not being deleted after the retry", want)
	}
	// The retried delete completes the command as usual; no third delete is sent.
	h.finishTerminations()
	h.reconcile()
	h.clock.Step(DefaultSettle)
	h.reconcile()
	if len(h.ctrl.commands) != 0 {
		t.Errorf("%d commands still in flight after the candidate went", len(h.ctrl.commands))
	}
	if n := failures.Load(); n != 2 {
		t.Errorf("%d nodeclaim deletes, want 2 (the failed one and the retry)", n)
	}
}

// TestAmbiguousReplacementCreateIsTracked: the API server stores a replacement NodeClaim
// but the create answers with a timeout. The command must still know the replacement
// (under its final name), exactly one exists, and abandoning the command deletes it.
func TestAmbiguousReplacementCreateIsTracked(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	var timedOut atomic.Bool
	h.kube = interceptor.NewClient(h.watchClient(), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			err := c.Create(ctx, obj, opts...)
			if nc, ok := obj.(*v1.NodeClaim); ok && err == nil && nc.Annotations[RoleAnnotationKey] == RoleReplacement && timedOut.CompareAndSwap(false, true) {
				return apierrors.NewTimeoutError("the test drops the answer", 1)
			}
			return err
		},
	})
	h.ctrl = h.newController()
	_, big := h.node("large", "large")
	h.pod("p", big.Name, "1")
	h.waitForState()
	res, err := h.ctrl.Reconcile(h.ctx)
	if !timedOut.Load() {
		t.Fatalf("no replacement was created (started %+v, err %v)", res.Started, err)
	}
	reps := h.replacements()
	if len(reps) != 1 {
		t.Fatalf("%d replacement nodeclaims exist, want 1 (err %v)", len(reps), err)
	}
	var tracked []string
	for _, f := range h.ctrl.commands {
		tracked = append(tracked, f.replacements...)
	}
	if !slices.Equal(tracked, []string{reps[0].Name}) {
		t.Fatalf("the commands track replacements %v, want [%s] (err %v)", tracked, reps[0].Name, err)
	}
	// The replacement never initializes: the command is abandoned and deletes it.
	h.clock.Step(DefaultReplacementTimeout + DefaultValidationTTL)
	if res := h.reconcile(); len(res.Aborted) != 1 {
		t.Fatalf("aborted %v after the replacement timeout, want the command", res.Aborted)
	}
	stored := &v1.NodeClaim{}
	err = env.Client.Get(h.ctx, client.ObjectKey{Name: reps[0].Name}, stored)
	if !apierrors.IsNotFound(err) && (err != nil || stored.DeletionTimestamp.IsZero()) {
		t.Fatalf("the abandoned replacement %s is neither gone nor being deleted (err %v)", reps[0].Name, err)
	}
	if len(h.tainted()) != 0 {
		t.Errorf("tainted %v after the abort, want none", h.tainted())
	}
}

// watchClient is a client of the test API server that interceptor.NewClient can wrap.
func (h *harness) watchClient() client.WithWatch {
	h.t.Helper()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestRefusedCandidateDeleteIsGivenUp: a webhook refuses every delete of a validated
// candidate. The command retries each pass, and DeleteTimeout after it started draining
// gives the candidate up: untainted, unmarked, an event saying why, the command finished.
func TestRefusedCandidateDeleteIsGivenUp(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	var refusals atomic.Int32
	h.kube = interceptor.NewClient(h.watchClient(), interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*v1.NodeClaim); ok {
				refusals.Add(1)
				return apierrors.NewForbidden(schema.GroupResource{Group: v1.Group, Resource: "nodeclaims"}, obj.GetName(), errors.New("denied by the test's webhook"))
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	h.ctrl = h.newController()
	h.node("empty", "small")
	name := fixtures.Name(t, "empty")
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	h.clock.Step(DefaultValidationTTL)
	for i := range 3 {
		h.waitForState()
		res, err := h.ctrl.Reconcile(h.ctx)
		if err == nil || len(res.Released) != 0 {
			t.Fatalf("pass %d: err %v, released %v; want the refusal and nothing released yet", i, err, res.Released)
		}
		if !h.tainted()[name] {
			t.Fatalf("pass %d: the candidate lost its taint before the deadline", i)
		}
		h.clock.Step(DefaultDeleteTimeout / 4)
	}
	h.clock.Step(DefaultDeleteTimeout / 4)
	h.waitForState()
	res, _ := h.ctrl.Reconcile(h.ctx)
	if !slices.Equal(res.Released, []string{name}) {
		t.Fatalf("released %v after the deadline, want [%s]", res.Released, name)
	}
	if h.tainted()[name] {
		t.Error("the released candidate is still tainted")
	}
	if nc := h.claims()[name]; nc == nil || nc.Annotations[CommandAnnotationKey] != "" {
		t.Errorf("the released candidate still carries its command annotation (or is gone): %v", nc)
	}
	if !slices.ContainsFunc(h.events(), func(e string) bool {
		return strings.Contains(e, EventAbandoned) && strings.Contains(e, "denied by the test's webhook")
	}) {
		t.Error("no DisruptionAbandoned event quoting the refusal")
	}
	// The command has no candidate left: it ends after the settle time.
	h.clock.Step(DefaultSettle)
	h.waitForState()
	_, _ = h.ctrl.Reconcile(h.ctx)
	for id, f := range h.ctrl.commands {
		if slices.Contains(f.candidates, name) {
			t.Errorf("command %s still holds the released candidate", id)
		}
	}
}

// TestNextPassAtValidation: after a pass starts a command, the loop's next pass comes when the
// command's validation falls due (15 s), not on the next 10 s tick (20 s); once it has been
// validated and is draining, the interval applies again.
func TestNextPassAtValidation(t *testing.T) {
	h := newHarness(t, "100%", "0s")
	h.node("empty", "small")
	if got := h.ctrl.nextPass(); got != DefaultInterval {
		t.Fatalf("no command: next pass in %v, want the %v interval", got, DefaultInterval)
	}
	if res := h.reconcile(); res.Started == nil {
		t.Fatal("nothing started")
	}
	if got := h.ctrl.nextPass(); got != DefaultInterval {
		t.Fatalf("command just started: next pass in %v, want %v (the validation is %v away)", got, DefaultInterval, DefaultValidationTTL)
	}
	h.clock.Step(DefaultInterval)
	if got, want := h.ctrl.nextPass(), DefaultValidationTTL-DefaultInterval; got != want {
		t.Fatalf("10 s into the command: next pass in %v, want %v, when its validation falls due", got, want)
	}
	h.clock.Step(DefaultValidationTTL - DefaultInterval)
	h.waitForState()
	if res := h.reconcile(); len(res.Deleted) != 1 {
		t.Fatalf("the pass at the validation deleted %v, want the candidate", res.Deleted)
	}
	if got := h.ctrl.nextPass(); got != DefaultInterval {
		t.Fatalf("command draining: next pass in %v, want %v", got, DefaultInterval)
	}
}
