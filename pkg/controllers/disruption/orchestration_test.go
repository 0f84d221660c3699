package disruption

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
