package lifecycle

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// NodeClaim condition types this controller owns.
const (
	ConditionLaunched    = v1.ConditionTypeLaunched
	ConditionRegistered  = v1.ConditionTypeRegistered
	ConditionInitialized = v1.ConditionTypeInitialized
	ConditionReady       = v1.ConditionTypeReady
)

// Condition reasons.
const (
	ReasonLaunching             = v1.ConditionReasonLaunching
	ReasonLaunched              = "Launched"
	ReasonInsufficientCapacity  = "InsufficientCapacity"
	ReasonNodeClassNotReady     = "NodeClassNotReady"
	ReasonLaunchFailed          = "LaunchFailed"
	ReasonAwaitingLaunch        = "AwaitingLaunch"
	ReasonNodeNotFound          = "NodeNotFound"
	ReasonMultipleNodesFound    = "MultipleNodesFound"
	ReasonRegistered            = "Registered"
	ReasonAwaitingRegistration  = "AwaitingRegistration"
	ReasonNodeNotReady          = "NodeNotReady"
	ReasonStartupTaintsExist    = "StartupTaintsExist"
	ReasonResourceNotRegistered = "ResourceNotRegistered"
	ReasonInitialized           = "Initialized"
	ReasonReady                 = "Ready"
	ReasonNotReady              = "NotReady"
)

// phaseConditions are the conditions Ready sums up, in lifecycle order.
var phaseConditions = []string{ConditionLaunched, ConditionRegistered, ConditionInitialized}

// setCondition sets a condition at the controller's clock; the transition time only moves
// when the status does.
func (c *Controller) setCondition(nc *v1.NodeClaim, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: nc.Generation,
		LastTransitionTime: metav1.NewTime(c.clock.Now()),
	})
}

// initConditions gives every phase condition an Unknown status before the first reconcile.
func (c *Controller) initConditions(nc *v1.NodeClaim) {
	waiting := map[string]string{
		ConditionLaunched:    ReasonAwaitingLaunch,
		ConditionRegistered:  ReasonAwaitingLaunch,
		ConditionInitialized: ReasonAwaitingRegistration,
	}
	for _, typ := range phaseConditions {
		if meta.FindStatusCondition(nc.Status.Conditions, typ) == nil {
			c.setCondition(nc, typ, metav1.ConditionUnknown, waiting[typ], "")
		}
	}
}

// setReady derives the root condition: True when every phase condition is, False when one
// is False, Unknown otherwise, with the conditions that hold it back in the message.
func (c *Controller) setReady(nc *v1.NodeClaim) {
	status := metav1.ConditionTrue
	var pending []string
	for _, typ := range phaseConditions {
		cond := meta.FindStatusCondition(nc.Status.Conditions, typ)
		switch {
		case cond == nil || cond.Status == metav1.ConditionUnknown:
			if status == metav1.ConditionTrue {
				status = metav1.ConditionUnknown
			}
			pending = append(pending, typ)
		case cond.Status == metav1.ConditionFalse:
			status = metav1.ConditionFalse
			pending = append(pending, typ)
		}
	}
	if status == metav1.ConditionTrue {
		c.setCondition(nc, ConditionReady, status, ReasonReady, "")
		return
	}
	c.setCondition(nc, ConditionReady, status, ReasonNotReady, fmt.Sprintf("not yet %s", strings.Join(pending, ", ")))
}

func isTrue(nc *v1.NodeClaim, typ string) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, typ)
}
