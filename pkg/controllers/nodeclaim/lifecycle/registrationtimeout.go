package lifecycle

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// ReasonRegistrationTimeout is Registered's reason on a NodeClaim that timed out registering.
const ReasonRegistrationTimeout = v1.ConditionReasonRegistrationTimeout

// markRegistrationTimedOut writes Registered=False (and Ready) with the timeout before
// liveness deletes the NodeClaim, so the object says why while it terminates and its
// NodePool's status controller sees the failure.
func (c *Controller) markRegistrationTimedOut(ctx context.Context, nc *v1.NodeClaim, msg string) error {
	before := nc.DeepCopy()
	c.setCondition(nc, ConditionRegistered, metav1.ConditionFalse, ReasonRegistrationTimeout, msg)
	c.setReady(nc)
	return c.patchStatus(ctx, before, nc)
}
