package explain

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

// Eligibility gives the first rule that keeps a node from being a voluntary disruption
// candidate, or reason.Candidate. nc or node may be nil (a NodeClaim not registered yet, a
// node Karpenter does not manage). ControllerEligibility is the disruption controller's.
type Eligibility interface {
	Check(w *World, nc *v1.NodeClaim, node *corev1.Node, now time.Time) (reason.Code, string)
}

// reschedulable are the pods that must move when the node goes: active, neither DaemonSet
// nor static pods.
func reschedulable(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		owner := metav1.GetControllerOf(p)
		_, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]
		if isTerminal(p) || p.DeletionTimestamp != nil || mirror ||
			(owner != nil && (owner.Kind == "DaemonSet" || owner.Kind == "Node")) {
			continue
		}
		out = append(out, p)
	}
	return out
}
