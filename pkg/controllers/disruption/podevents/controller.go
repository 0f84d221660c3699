package podevents

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// Name is the controller's name in logs.
const Name = "disruption.podevents"

// Deps are what the controller works with.
type Deps struct {
	Client client.Client
	// Clock stamps the events; the real clock when nil.
	Clock clock.Clock
}

// Controller writes status.lastPodEventTime. Its requests are node names.
type Controller struct {
	kube  client.Client
	clock clock.Clock
	// indexed is set by Register once NodeClaims are indexed by NodeNameField in the
	// manager's cache (which Client reads): Reconcile then lists only the node's NodeClaim.
	indexed bool
}

// NodeNameField indexes NodeClaims by status.nodeName in the manager's cache.
const NodeNameField = "status.nodeName"

// IndexNodeNames adds the status.nodeName index of NodeClaims to an indexer.
func IndexNodeNames(ctx context.Context, indexer client.FieldIndexer) error {
	err := indexer.IndexField(ctx, &v1.NodeClaim{}, NodeNameField, func(o client.Object) []string {
		if name := o.(*v1.NodeClaim).Status.NodeName; name != "" {
			return []string{name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing nodeclaims by node name: %w", err)
	}
	return nil
}

var _ reconcile.Reconciler = (*Controller)(nil)

// NewController builds the controller.
func NewController(deps Deps) *Controller {
	c := &Controller{kube: deps.Client, clock: deps.Clock}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches pods; a bind or a departure enqueues the pod's node by name.
func (c *Controller) Register(ctx context.Context, mgr manager.Manager) error {
	if err := IndexNodeNames(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	c.indexed = true
	b := builder.ControllerManagedBy(mgr).Named(Name).Watches(&corev1.Pod{}, Handler())
	if err := b.Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Handler maps pod events that change what runs on a node to a request for that node.
func Handler() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if p, ok := e.Object.(*corev1.Pod); ok && p.Spec.NodeName != "" && counts(p) {
				enqueue(q, p.Spec.NodeName)
			}
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, ok1 := e.ObjectOld.(*corev1.Pod)
			p, ok2 := e.ObjectNew.(*corev1.Pod)
			if !ok1 || !ok2 || p.Spec.NodeName == "" || !counts(p) {
				return
			}
			bound := old.Spec.NodeName == ""
			left := (old.DeletionTimestamp == nil && p.DeletionTimestamp != nil) || (!pods.IsTerminal(old) && pods.IsTerminal(p))
			if bound || left {
				enqueue(q, p.Spec.NodeName)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if p, ok := e.Object.(*corev1.Pod); ok && p.Spec.NodeName != "" && counts(p) {
				enqueue(q, p.Spec.NodeName)
			}
		},
	}
}

func counts(p *corev1.Pod) bool { return !pods.IsOwnedByDaemonSet(p) && !pods.IsStatic(p) }

func enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], node string) {
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: node}})
}

// MinInterval: a NodeClaim's lastPodEventTime is not rewritten more often than this (a
// Deployment rolling 50 pods is one event, not 50 writes).
const MinInterval = time.Second

// Reconcile stamps lastPodEventTime on the NodeClaim whose node is req.Name.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	list := &v1.NodeClaimList{}
	var opts []client.ListOption
	if c.indexed {
		opts = append(opts, client.MatchingFields{NodeNameField: req.Name})
	}
	if err := c.kube.List(ctx, list, opts...); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing nodeclaims: %w", err)
	}
	now := c.clock.Now()
	for i := range list.Items {
		nc := &list.Items[i]
		if nc.Status.NodeName != req.Name {
			continue
		}
		if now.Sub(nc.Status.LastPodEventTime.Time) < MinInterval {
			return reconcile.Result{}, nil
		}
		stored := nc.DeepCopy()
		nc.Status.LastPodEventTime = metav1.NewTime(now)
		if err := c.kube.Status().Patch(ctx, nc, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("setting lastPodEventTime of nodeclaim %s: %w", nc.Name, err)
		}
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, nil
}
