package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// ephemeralTaintKeys are put on nodes by Kubernetes while they start and go away on their
// own; a node is not initialised while it has one.
var ephemeralTaintKeys = []string{
	corev1.TaintNodeNotReady,
	corev1.TaintNodeUnreachable,
	"node.cloudprovider.kubernetes.io/uninitialized",
}

// initialize marks the NodeClaim Initialized once its Node can run the pods it was made
// for. Initialized stays True once set.
func (c *Controller) initialize(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if !isTrue(nc, ConditionRegistered) || isTrue(nc, ConditionInitialized) {
		return reconcile.Result{}, nil
	}
	node, err := c.nodeFor(ctx, nc.Status.ProviderID)
	if errors.Is(err, errNodeNotFound) || errors.Is(err, errMultipleNodes) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if reason, message := notInitialized(node, nc); reason != "" {
		c.setCondition(nc, ConditionInitialized, metav1.ConditionUnknown, reason, message)
		return reconcile.Result{}, nil
	}
	if node.Labels[v1.NodeInitializedLabelKey] != "true" {
		before := node.DeepCopy()
		node.Labels[v1.NodeInitializedLabelKey] = "true"
		if err := c.kube.Patch(ctx, node, client.MergeFrom(before)); err != nil {
			return reconcile.Result{}, fmt.Errorf("labelling node %s initialized: %w", node.Name, err)
		}
	}
	c.setCondition(nc, ConditionInitialized, metav1.ConditionTrue, ReasonInitialized, "")
	return reconcile.Result{}, nil
}

// notInitialized returns why the Node is not yet usable, or "".
func notInitialized(node *corev1.Node, nc *v1.NodeClaim) (reason, message string) {
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return ReasonNodeNotReady, "node is not ready"
	}
	for _, t := range node.Spec.Taints {
		if slices.Contains(ephemeralTaintKeys, t.Key) || slices.ContainsFunc(nc.Spec.StartupTaints, func(s corev1.Taint) bool { return s.MatchTaint(&t) }) {
			return ReasonStartupTaintsExist, fmt.Sprintf("startup taint %q still exists", t.ToString())
		}
	}
	for name, q := range nc.Spec.Resources.Requests {
		if !isExtended(name) || q.IsZero() {
			continue
		}
		if alloc, ok := node.Status.Allocatable[name]; !ok || alloc.IsZero() {
			return ReasonResourceNotRegistered, fmt.Sprintf("resource %q was requested but is not allocatable", name)
		}
	}
	return "", ""
}

// isExtended reports whether a resource is not one every node has.
func isExtended(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage:
		return false
	}
	return true
}

// liveness deletes a NodeClaim that has not registered within the registration TTL.
func (c *Controller) liveness(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if isTrue(nc, ConditionRegistered) {
		return reconcile.Result{}, nil
	}
	left := c.registrationTTL - c.clock.Since(nc.CreationTimestamp.Time)
	if left > 0 {
		return reconcile.Result{RequeueAfter: left}, nil
	}
	msg := fmt.Sprintf("not registered within %s", c.registrationTTL)
	log.FromContext(ctx).Info("deleting nodeclaim, "+msg, "providerID", nc.Status.ProviderID)
	c.recorder.Event(nc, corev1.EventTypeWarning, EventRegistrationTimeout, msg)
	if err := c.markRegistrationTimedOut(ctx, nc, msg); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, c.delete(ctx, nc)
}
