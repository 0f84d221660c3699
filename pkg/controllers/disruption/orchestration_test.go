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
)

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
