package status

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// NodeRegistrationHealthy reasons.
const (
	ReasonNodeRegistered       = "NodeRegistered"
	ReasonRegistrationTimedOut = "RegistrationTimedOut"
	ReasonAwaitingRegistration = "AwaitingRegistration"
)

// DefaultRegistrationTimeout is how long a launched NodeClaim may take to register before the
// pool counts it as a failed registration (the lifecycle controller deletes it then too).
const DefaultRegistrationTimeout = 15 * time.Minute

// registrationHealth says whether the pool's nodes register: True once a NodeClaim of the
// current template registered, False when the latest outcome is a NodeClaim that launched but
// did not register in time, Unknown after the template changed and before either happened.
// The status sticks until a newer outcome, since timed-out NodeClaims are deleted.
func (c *Controller) registrationHealth(pool *v1.NodePool, claims []v1.NodeClaim) (metav1.ConditionStatus, string, string) {
	hash := pool.Annotations[v1.NodePoolHashAnnotationKey]
	var lastOK, lastFail time.Time
	var failed string
	for i := range claims {
		nc := &claims[i]
		if h, ok := nc.Annotations[v1.NodePoolHashAnnotationKey]; ok && hash != "" && h != hash {
			continue // launched from an older template
		}
		reg := meta.FindStatusCondition(nc.Status.Conditions, v1.ConditionTypeRegistered)
		if reg != nil && reg.Status == metav1.ConditionTrue {
			if reg.LastTransitionTime.After(lastOK) {
				lastOK = reg.LastTransitionTime.Time
			}
			continue
		}
		if reg != nil && reg.Status == metav1.ConditionFalse && reg.Reason == v1.ConditionReasonRegistrationTimeout {
			// The lifecycle controller's verdict, whatever its TTL.
			if reg.LastTransitionTime.After(lastFail) {
				lastFail, failed = reg.LastTransitionTime.Time, nc.Name
			}
			continue
		}
		if !meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeLaunched) {
			continue
		}
		if deadline := nc.CreationTimestamp.Add(c.registrationTimeout); !c.clock.Now().Before(deadline) && deadline.After(lastFail) {
			lastFail, failed = deadline, nc.Name
		}
	}
	switch {
	case !lastFail.IsZero() && lastFail.After(lastOK):
		return metav1.ConditionFalse, ReasonRegistrationTimedOut,
			fmt.Sprintf("NodeClaim %s launched but its node did not register in time (%s)", failed, c.registrationTimeout)
	case !lastOK.IsZero():
		return metav1.ConditionTrue, ReasonNodeRegistered, ""
	}
	if prev := meta.FindStatusCondition(pool.Status.Conditions, ConditionNodeRegistrationHealthy); prev != nil && prev.ObservedGeneration == pool.Generation {
		return prev.Status, prev.Reason, prev.Message
	}
	return metav1.ConditionUnknown, ReasonAwaitingRegistration, "no node of the current template has registered yet"
}
