package termination

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
)

// stubEvictor answers every eviction with err.
type stubEvictor struct{ err error }

func (s stubEvictor) Evict(context.Context, *policyv1.Eviction) error { return s.err }

// withEvictor rebuilds the harness's controller around another Evictor.
func (h *harness) withEvictor(e Evictor) {
	h.t.Helper()
	ctrl, err := NewController(Deps{Client: env.Client, Evictor: e, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clock, Registerer: prometheus.NewRegistry()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.ctrl = ctrl
}

// replaced force-deletes the pod and creates another of the same name on the same node,
// returning the new one; the caller keeps the old object, as a stale list would.
func (h *harness) replaced(old *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	if err := env.Client.Delete(h.ctx, old.DeepCopy(), client.GracePeriodSeconds(0)); err != nil {
		h.t.Fatal(err)
	}
	var p *corev1.Pod
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for p, err = fixtures.Pod(h.ctx, env.Client, h.ns, old.Name, old.Spec.NodeName); err != nil; p, err = fixtures.Pod(h.ctx, env.Client, h.ns, old.Name, old.Spec.NodeName) {
		if time.Now().After(deadline) {
			h.t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.UID == old.UID {
		h.t.Fatal("the replacement pod has the old UID")
	}
	return p
}

// terminating reports whether the pod is being deleted or already gone.
func (h *harness) terminating(p *corev1.Pod) bool {
	h.t.Helper()
	cur := &corev1.Pod{}
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(p), cur); err != nil {
		if apierrors.IsNotFound(err) {
			return true
		}
		h.t.Fatal(err)
	}
	return cur.DeletionTimestamp != nil || cur.UID != p.UID
}

// TestEvictionCarriesTheUIDPrecondition: the pod drained was listed, then replaced by one
// of the same name (a StatefulSet's). Evicting by name alone evicted the replacement.
func TestEvictionCarriesTheUIDPrecondition(t *testing.T) {
	h := newHarness(t)
	_, node := h.node("uid-evict", 0)
	stale := h.pod("db-0", node.Name)
	fresh := h.replaced(stale)
	if _, err := h.ctrl.evict(h.ctx, node, []*corev1.Pod{stale}); err != nil {
		t.Fatal(err)
	}
	if h.terminating(fresh) {
		t.Fatal("the replacement pod was evicted in place of the listed one")
	}
}

// TestGracePeriodDeleteCarriesTheUIDPrecondition: same for the delete that enforces the
// termination grace period, which bypasses PodDisruptionBudgets.
func TestGracePeriodDeleteCarriesTheUIDPrecondition(t *testing.T) {
	h := newHarness(t)
	nc, node := h.node("uid-delete", 0)
	stale := h.pod("db-0", node.Name)
	fresh := h.replaced(stale)
	now := h.clock.Now()
	if _, err := h.ctrl.deleteExpiring(h.ctx, nc, []*corev1.Pod{stale}, now, now); err != nil {
		t.Fatal(err)
	}
	if h.terminating(fresh) {
		t.Fatal("the replacement pod was deleted in place of the listed one")
	}
}

// TestEvictionErrorsOtherThan429AreRetriedOnThePoll: a 500 (a pod under two PDBs) or a
// webhook's 403 must not become a reconcile error, whose exponential backoff reaches about
// 16 minutes and would hold the drain past its termination grace period's deadline.
func TestEvictionErrorsOtherThan429AreRetriedOnThePoll(t *testing.T) {
	for name, err := range map[string]error{
		"two-pdbs": apierrors.NewInternalError(errTwoPDBs),
		"webhook":  apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web", errTwoPDBs),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.withEvictor(stubEvictor{err: err})
			nc, node := h.node("evict-"+name, 0)
			h.pod("web", node.Name, fixtures.OwnedBy("ReplicaSet"))
			h.deleteClaim(nc)
			for range 3 { // and again: no growing backoff
				if d := h.reconcile(nc.Name); d <= 0 || d > DrainPollInterval {
					t.Fatalf("requeue after %v, want within the drain poll %v", d, DrainPollInterval)
				}
			}
			if ev := h.events(); !strings.Contains(ev, ReasonEvictionBlocked) {
				t.Fatalf("events %q, want %s", ev, ReasonEvictionBlocked)
			}
		})
	}
}

var errTwoPDBs = apierrors.NewBadRequest("this pod has more than one PodDisruptionBudget")

// TestEvictionBackoffForgetsPodsThatAreGone: a pod refused by a PDB gets a backoff entry;
// once it is gone from the node (deleted by someone else), the next drain pass drops it,
// and entries of nodes no longer drained expire.
func TestEvictionBackoffForgetsPodsThatAreGone(t *testing.T) {
	h := newHarness(t)
	h.withEvictor(stubEvictor{err: apierrors.NewTooManyRequests("pdb", 10)})
	nc, node := h.node("backoff", 0)
	p := h.pod("web", node.Name, fixtures.OwnedBy("ReplicaSet"))
	h.deleteClaim(nc)
	h.reconcile(nc.Name)
	if n := h.ctrl.backoff.NumRequeues(p.UID); n != 1 {
		t.Fatalf("backoff entries for the refused pod = %d, want 1", n)
	}
	if err := env.Client.Delete(h.ctx, p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	h.reconcile(nc.Name)
	if n := h.ctrl.backoff.NumRequeues(p.UID); n != 0 {
		t.Fatalf("backoff kept %d refusals of a pod that is gone", n)
	}

	// A node whose drain stopped (its NodeClaim went away) is never pruned by name: its
	// entries expire.
	b := newPodBackoff(time.Second, time.Minute)
	now := h.clock.Now()
	b.When("a", "other", now)
	b.When("b", "node", now)
	b.Prune("node", nil, now.Add(backoffForgetAfter+time.Second))
	if b.Len() != 0 {
		t.Fatalf("%d entries left after they expired", b.Len())
	}
}
