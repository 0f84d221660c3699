package test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ListReader is a client.Reader serving fixed Pod and Node lists without copying them, as
// the informer cache does with UnsafeDisableDeepCopy: a benchmark reading through it
// measures its own code, not a fake client's copies. Any other read panics (nil Reader).
type ListReader struct {
	client.Reader
	Pods  []corev1.Pod
	Nodes []corev1.Node
}

// List fills a PodList or NodeList; options are ignored.
func (r *ListReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *corev1.PodList:
		l.Items = r.Pods
	case *corev1.NodeList:
		l.Items = r.Nodes
	default:
		return fmt.Errorf("listing %T: ListReader serves only pods and nodes", list)
	}
	return nil
}
