package termination

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
)

// NodeControllerName is the Node cascade controller's name in logs.
const NodeControllerName = "node.termination"

// NodeController turns the deletion of a Node with the termination finalizer into the
// deletion of its NodeClaim, so that one termination path drains and releases both.
type NodeController struct {
	kube     client.Client
	recorder record.EventRecorder
	// indexed: the client's cache has the provider ID indexes (see providerid.Index).
	indexed bool
}

var _ reconcile.ObjectReconciler[*corev1.Node] = (*NodeController)(nil)

// NewNodeController builds the cascade controller on its own (Controller.Register adds it
// too). A nil recorder discards events.
func NewNodeController(kube client.Client, recorder record.EventRecorder) *NodeController {
	if recorder == nil {
		recorder = &record.FakeRecorder{}
	}
	return &NodeController{kube: kube, recorder: recorder}
}

// Reconcile deletes the NodeClaim of a deleted Node; a Node with no NodeClaim is released
// at once (garbage collection takes care of any instance left behind).
func (n *NodeController) Reconcile(ctx context.Context, node *corev1.Node) (reconcile.Result, error) {
	if node.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(node, v1.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("node", klog.KObj(node), "providerID", node.Spec.ProviderID)
	ctx = log.IntoContext(ctx, logger)
	var claims []*v1.NodeClaim
	if node.Spec.ProviderID != "" {
		var err error
		if claims, err = nodeClaimsByProviderID(ctx, n.kube, node.Spec.ProviderID, n.indexed); err != nil {
			return reconcile.Result{}, err
		}
	}
	if len(claims) == 0 {
		logger.Info("releasing a deleted node that has no nodeclaim")
		return reconcile.Result{}, removeNodeFinalizer(ctx, n.kube, node)
	}
	for _, nc := range claims {
		if !nc.DeletionTimestamp.IsZero() {
			continue
		}
		logger.Info("deleting the nodeclaim of a deleted node", "nodeclaim", klog.KObj(nc))
		if err := n.kube.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("deleting nodeclaim %s: %w", nc.Name, err)
		}
		n.recorder.Event(nc, corev1.EventTypeNormal, ReasonCascadingTermination, "Node "+node.Name+" was deleted")
	}
	return reconcile.Result{}, nil
}

// taint puts karpenter.sh/disrupted:NoSchedule on the node, once.
func (c *Controller) taint(ctx context.Context, nc *v1.NodeClaim, node *corev1.Node) error {
	for _, t := range node.Spec.Taints {
		if t.MatchTaint(&v1.DisruptedNoScheduleTaint) {
			return nil
		}
	}
	log.FromContext(ctx).Info("tainting node for draining", "node", klog.KObj(node))
	stored := node.DeepCopy()
	node.Spec.Taints = append(node.Spec.Taints, v1.DisruptedNoScheduleTaint)
	if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("tainting node %s: %w", node.Name, err)
	}
	c.recorder.Event(node, corev1.EventTypeNormal, ReasonDraining, "Draining node: nodeclaim "+nc.Name+" is being deleted")
	c.recorder.Event(nc, corev1.EventTypeNormal, ReasonDraining, "Draining node "+node.Name)
	return nil
}

// removeNode deletes the drained Node and removes its finalizer.
func (c *Controller) removeNode(ctx context.Context, nc *v1.NodeClaim, node *corev1.Node) error {
	if node.DeletionTimestamp.IsZero() {
		log.FromContext(ctx).Info("deleting node", "node", klog.KObj(node))
		if err := c.kube.Delete(ctx, node); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // already gone
			}
			return fmt.Errorf("deleting node %s: %w", node.Name, err)
		}
		if err := c.kube.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // gone with the delete
			}
			return fmt.Errorf("getting node %s: %w", node.Name, err)
		}
	}
	if !controllerutil.ContainsFinalizer(node, v1.TerminationFinalizer) {
		return nil
	}
	if err := removeNodeFinalizer(ctx, c.kube, node); err != nil {
		return err
	}
	c.nodesTerminated.WithLabelValues(nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.LabelTopologyZone]).Inc()
	return nil
}

func removeNodeFinalizer(ctx context.Context, kube client.Client, node *corev1.Node) error {
	stored := node.DeepCopy()
	if !controllerutil.RemoveFinalizer(node, v1.TerminationFinalizer) {
		return nil
	}
	if err := kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing the finalizer of node %s: %w", node.Name, err)
	}
	return nil
}

// nodesByProviderID lists the Nodes with the provider ID ("" matches none): through the
// index when indexed, else every Node filtered (a client without the index, in tests).
func nodesByProviderID(ctx context.Context, kube client.Reader, providerID string, indexed bool) ([]*corev1.Node, error) {
	if providerID == "" {
		return nil, nil
	}
	list := &corev1.NodeList{}
	var opts []client.ListOption
	if indexed {
		opts = append(opts, client.MatchingFields{providerid.NodeIndex: providerID})
	}
	if err := kube.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	var out []*corev1.Node
	for i := range list.Items {
		if list.Items[i].Spec.ProviderID == providerID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// nodeClaimsByProviderID lists the NodeClaims whose status has the provider ID, through
// the index when indexed, with the further options given.
func nodeClaimsByProviderID(ctx context.Context, kube client.Reader, providerID string, indexed bool, more ...client.ListOption) ([]*v1.NodeClaim, error) {
	list := &v1.NodeClaimList{}
	opts := more
	if indexed && providerID != "" {
		opts = append(opts, client.MatchingFields{providerid.NodeClaimIndex: providerID})
	}
	if err := kube.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing nodeclaims: %w", err)
	}
	var out []*v1.NodeClaim
	for i := range list.Items {
		if list.Items[i].Status.ProviderID == providerID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}
