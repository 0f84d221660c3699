package provisioning

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gokarpenter/karpenter/pkg/state"
)

// Hints tells kube-scheduler where the provisioner planned each pod, by setting the pod's
// status.nominatedNodeName to the Node its NodeClaim registered as (Kubernetes 1.34+ reads a
// nomination set by another component as a hint: it tries that node first, and holds the
// pod's room there against pods of equal or lower priority). Without it kube-scheduler
// binds a burst's pods to whichever new node is ready first, by its own scores: pods of one
// planned node spill onto another, the ones left over fit nowhere and wait for a node of
// their own, and the planned nodes end part empty.
//
// The hint is written when a NodeClaim registers, before its Node loses the
// karpenter.sh/unregistered taint (so kube-scheduler cannot bind anything there first), and
// when the provisioner places pods on a node that has registered already. It is only a
// hint: a write that fails is logged and the pod is scheduled as it would have been
// without. Each write names the pod's UID, so a namesake created since is never touched.
type Hints struct {
	kube    client.Client
	cluster *state.Cluster
}

const (
	// hintWorkers bounds the writes in flight for one node.
	hintWorkers = 32
	// hintTimeout bounds the time one node's hints may hold up its registration: a burst's
	// hundreds of writes share the client's rate limit with every other controller, and a
	// node that waits for all of them is a node pods cannot use. The oldest pods, which
	// kube-scheduler takes first, are written first.
	hintTimeout = 2 * time.Second
)

// NewHints returns Hints writing through kube for the nominations the cluster state holds.
func NewHints(kube client.Client, cluster *state.Cluster) *Hints {
	return &Hints{kube: kube, cluster: cluster}
}

// Registering hints the pods nominated to the NodeClaim onto node, the Node it is about to
// register as. It fits lifecycle.Deps.BeforeRegister.
func (h *Hints) Registering(ctx context.Context, nodeClaim, node string) {
	if h == nil {
		return
	}
	_, pods := h.cluster.NominatedTo(nodeClaim)
	h.write(ctx, node, pods)
}

// Placed hints the pods nominated to target (a NodeClaim or Node name) when its NodeClaim
// has registered; before that, Registering will.
func (h *Hints) Placed(ctx context.Context, target string) {
	if h == nil {
		return
	}
	node, pods := h.cluster.NominatedTo(target)
	if node == "" {
		return
	}
	h.write(ctx, node, pods)
}

func (h *Hints) write(ctx context.Context, node string, pods []*corev1.Pod) {
	todo := slices.DeleteFunc(slices.Clone(pods), func(p *corev1.Pod) bool {
		return p.Spec.NodeName != "" || p.Status.NominatedNodeName == node
	})
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, hintTimeout)
	defer cancel()
	var failed atomic.Int64
	var lastErr atomic.Value
	workqueue.ParallelizeUntil(ctx, hintWorkers, len(todo), func(i int) {
		if err := h.nominate(ctx, todo[i], node); err != nil {
			failed.Add(1)
			lastErr.Store(err)
		}
	})
	logger := log.FromContext(ctx)
	if n := failed.Load(); n > 0 {
		logger.Error(lastErr.Load().(error), "writing scheduling hints: kube-scheduler will choose for these pods alone",
			"node", node, "failed", n, "pods", len(todo))
		return
	}
	logger.V(1).Info("hinted pods onto node", "node", node, "pods", len(todo))
}

// nominate sets the pod's status.nominatedNodeName. The patch carries the pod's UID: the API
// server refuses it (409) for a pod recreated under the same name. A pod gone or replaced,
// or bound meanwhile (422: "may not be set on pods that are already bound"), needs no hint.
func (h *Hints) nominate(ctx context.Context, p *corev1.Pod, node string) error {
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q},"status":{"nominatedNodeName":%q}}`, p.UID, node)
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
	err := h.kube.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nominating pod %s/%s to node %s: %w", p.Namespace, p.Name, node, err)
	}
	return nil
}
