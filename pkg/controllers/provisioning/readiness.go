package provisioning

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// ReasonNodePoolNotReady is the Warning on a NodePool the provisioner skips because its Ready
// condition is False (node class missing or not ready, requirements no instance type
// satisfies, ...). The API server's event correlator folds the repeats into one event.
const ReasonNodePoolNotReady = "NodePoolNotReady"

// notReady reports whether np must not launch capacity: its Ready condition is False. A
// NodePool the status controller has not looked at yet (no Ready condition, or Unknown) is
// used, so a fresh NodePool does not wait a status round trip.
func (c *Controller) notReady(np *v1.NodePool) bool {
	cond := meta.FindStatusCondition(np.Status.Conditions, v1.ConditionTypeReady)
	if cond == nil || cond.Status != metav1.ConditionFalse {
		return false
	}
	if c.recorder != nil {
		c.recorder.Eventf(np, corev1.EventTypeWarning, ReasonNodePoolNotReady,
			"Not provisioning from this NodePool: it is not ready (%s: %s)", cond.Reason, cond.Message)
	}
	return true
}
