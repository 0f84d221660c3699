package pods

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// The predicates live in the public package pkg/pods; these names are kept so the
// controllers importing this package need no change. New code imports pkg/pods.

// StuckTerminatingAfter: see pods.StuckTerminatingAfter.
const StuckTerminatingAfter = pods.StuckTerminatingAfter

// Critical priority classes: see pkg/pods.
const (
	SystemClusterCritical = pods.SystemClusterCritical
	SystemNodeCritical    = pods.SystemNodeCritical
)

// IsTerminal: see pods.IsTerminal.
func IsTerminal(pod *corev1.Pod) bool { return pods.IsTerminal(pod) }

// IsTerminating: see pods.IsTerminating.
func IsTerminating(pod *corev1.Pod) bool { return pods.IsTerminating(pod) }

// IsStuckTerminating: see pods.IsStuckTerminating.
func IsStuckTerminating(pod *corev1.Pod, now time.Time) bool {
	return pods.IsStuckTerminating(pod, now)
}

// IsOwnedByDaemonSet: see pods.IsOwnedByDaemonSet.
func IsOwnedByDaemonSet(pod *corev1.Pod) bool { return pods.IsOwnedByDaemonSet(pod) }

// IsStatic: see pods.IsStatic.
func IsStatic(pod *corev1.Pod) bool { return pods.IsStatic(pod) }

// IsCritical: see pods.IsCritical.
func IsCritical(pod *corev1.Pod) bool { return pods.IsCritical(pod) }

// ToleratesDisruptedTaint: see pods.ToleratesDisruptedTaint.
func ToleratesDisruptedTaint(pod *corev1.Pod) bool { return pods.ToleratesDisruptedTaint(pod) }

// HasDoNotDisrupt: see pods.HasDoNotDisrupt.
func HasDoNotDisrupt(obj metav1.Object) bool { return pods.HasDoNotDisrupt(obj) }

// MustDrain: see pods.MustDrain.
func MustDrain(pod *corev1.Pod, now time.Time) bool { return pods.MustDrain(pod, now) }

// IsReschedulable: see pods.IsReschedulable.
func IsReschedulable(pod *corev1.Pod) bool { return pods.IsReschedulable(pod) }

// DrainGroups: see pods.DrainGroups.
func DrainGroups(list []*corev1.Pod) [4][]*corev1.Pod { return pods.DrainGroups(list) }
