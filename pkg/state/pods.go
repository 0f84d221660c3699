package state

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// IsProvisionable reports whether Karpenter should find capacity for the pod; see
// pods.IsProvisionable, where the predicate lives.
func IsProvisionable(pod *corev1.Pod) bool { return pods.IsProvisionable(pod) }
