package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
)

// errNodeNotFound and errMultipleNodes explain why no single Node matches a provider ID.
var (
	errNodeNotFound  = errors.New("no node has the nodeclaim's provider ID yet")
	errMultipleNodes = errors.New("more than one node has the nodeclaim's provider ID")
)

// register matches the launched instance's Node and makes it the NodeClaim's. The Node's
// taints are set once, when it is first registered: startup taints are meant to be
// removed by someone else and must not come back.
func (c *Controller) register(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if nc.Status.ProviderID == "" {
		return reconcile.Result{}, nil
	}
	node, err := c.nodeFor(ctx, nc.Status.ProviderID)
	switch {
	case errors.Is(err, errNodeNotFound):
		c.setCondition(nc, ConditionRegistered, metav1.ConditionUnknown, ReasonNodeNotFound, "node not registered with the cluster")
		return reconcile.Result{}, nil
	case errors.Is(err, errMultipleNodes):
		c.setCondition(nc, ConditionRegistered, metav1.ConditionFalse, ReasonMultipleNodesFound, err.Error())
		return reconcile.Result{}, fmt.Errorf("registering nodeclaim: %w", err)
	case err != nil:
		return reconcile.Result{}, err
	}
	if isTrue(nc, ConditionRegistered) && nc.Status.NodeName == node.Name {
		return reconcile.Result{}, nil
	}
	if c.beforeRegister != nil && node.Labels[v1.NodeRegisteredLabelKey] != "true" {
		c.beforeRegister(ctx, nc.Name, node.Name)
	}
	before := node.DeepCopy()
	syncNode(node, nc)
	if !equality.Semantic.DeepEqual(before, node) {
		log.FromContext(ctx).V(1).Info("syncing node", "node", node.Name)
		if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("syncing node %s: %w", node.Name, err)
		}
	}
	nc.Status.NodeName = node.Name
	c.setCondition(nc, ConditionRegistered, metav1.ConditionTrue, ReasonRegistered, "")
	return reconcile.Result{}, nil
}

// syncNode gives the Node what the NodeClaim says it should have.
func syncNode(node *corev1.Node, nc *v1.NodeClaim) {
	if node.Labels[v1.NodeRegisteredLabelKey] != "true" {
		for _, t := range append(slices.Clone(nc.Spec.Taints), nc.Spec.StartupTaints...) {
			if !slices.ContainsFunc(node.Spec.Taints, func(have corev1.Taint) bool { return have.MatchTaint(&t) }) {
				node.Spec.Taints = append(node.Spec.Taints, t)
			}
		}
	}
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool {
		return t.MatchTaint(&v1.UnregisteredNoExecuteTaint)
	})
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	maps.Copy(node.Labels, nc.Labels)
	node.Labels[v1.NodeRegisteredLabelKey] = "true"
	if len(nc.Annotations) > 0 {
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		maps.Copy(node.Annotations, nc.Annotations)
	}
	if !slices.ContainsFunc(node.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == nc.UID }) {
		node.OwnerReferences = append(node.OwnerReferences, metav1.OwnerReference{
			APIVersion:         v1.SchemeGroupVersion.String(),
			Kind:               "NodeClaim",
			Name:               nc.Name,
			UID:                nc.UID,
			BlockOwnerDeletion: new(true),
		})
	}
	controllerutil.AddFinalizer(node, v1.TerminationFinalizer)
}

// nodeFor returns the one Node with the provider ID.
func (c *Controller) nodeFor(ctx context.Context, providerID string) (*corev1.Node, error) {
	var nodes corev1.NodeList
	if err := c.kube.List(ctx, &nodes, client.MatchingFields{providerid.NodeIndex: providerID}); err != nil {
		return nil, fmt.Errorf("listing nodes by provider ID: %w", err)
	}
	switch len(nodes.Items) {
	case 0:
		return nil, errNodeNotFound
	case 1:
		return &nodes.Items[0], nil
	default:
		return nil, fmt.Errorf("%w: %d nodes", errMultipleNodes, len(nodes.Items))
	}
}
