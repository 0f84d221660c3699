package test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MarkNodeReady sets the Node's Ready condition to True, as a kubelet (or KWOK) would. It is
// for envtest-only tests, where no kubelet runs.
func MarkNodeReady(ctx context.Context, c client.Client, name string) error {
	node := &corev1.Node{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		return fmt.Errorf("getting node %s: %w", name, err)
	}
	base := node.DeepCopy()
	now := metav1.Now()
	ready := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "marked ready by a test", LastHeartbeatTime: now, LastTransitionTime: now,
	}
	replaced := false
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			node.Status.Conditions[i] = ready
			replaced = true
		}
	}
	if !replaced {
		node.Status.Conditions = append(node.Status.Conditions, ready)
	}
	if err := c.Status().Patch(ctx, node, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("marking node %s ready: %w", name, err)
	}
	return nil
}
