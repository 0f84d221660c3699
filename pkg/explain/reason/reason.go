package reason

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// Code is a stable reason identifier.
type Code string

// Why a pod cannot be placed on a NodePool's new capacity, in the order explain checks them:
// the first that applies is reported.
const (
	// NodePoolNotLaunching: the NodePool is being deleted, is static (spec.replicas) or its
	// instance types could not be listed.
	NodePoolNotLaunching Code = "NodePoolNotLaunching"
	// Taint: the pod does not tolerate one of the NodePool's taints.
	Taint Code = "Taint"
	// Requirement: a node selector or required node affinity term of the pod conflicts
	// with the NodePool's requirements or labels, or with every instance type left.
	Requirement Code = "Requirement"
	// Resources: no instance type of the NodePool has room for the pod's requests plus
	// the DaemonSet overhead.
	Resources Code = "Resources"
	// Limit: launching for the pod would exceed the NodePool's limits.
	Limit Code = "Limit"
	// VolumeZone: the pod's volumes pin it to zones the NodePool cannot launch in.
	VolumeZone Code = "VolumeZone"
	// Topology: topology spread, pod affinity, anti-affinity or host ports block it.
	Topology Code = "Topology"
	// Fits: nothing blocks the pod on this NodePool.
	Fits Code = "Fits"
)

// Why a node (or NodeClaim) is not a voluntary disruption candidate, in the order they are
// checked. The eligibility codes (NotManaged through NotConsolidatable) are the strings of
// the disruption controller's BlockReason (pkg/controllers/disruption), which its events
// carry, and explain takes them from disruption.Explain; a test keeps them equal. Budget,
// NoCheaperReplacement, SpotToSpot and Candidate are explain's last steps: the controller's budget
// ledger, then the scheduler's price for the node's pods without it.
const (
	// NotManaged: the node has no NodeClaim, or its NodePool does not exist.
	NotManaged Code = "NotManaged"
	// Deleting: the node or its NodeClaim is being deleted.
	Deleting Code = "Deleting"
	// NotRegistered: no node has registered for the NodeClaim yet.
	NotRegistered Code = "NotRegistered"
	// NotInitialized: the NodeClaim is not initialised.
	NotInitialized Code = "NotInitialized"
	// BeingDisrupted: a disruption already holds the node (karpenter.sh/disrupted taint).
	BeingDisrupted Code = "BeingDisrupted"
	// Nominated: pending pods are expected to schedule on it.
	Nominated Code = "Nominated"
	// DoNotDisruptNode: the node or NodeClaim carries karpenter.sh/do-not-disrupt.
	DoNotDisruptNode Code = "DoNotDisruptNode"
	// DoNotDisruptPod: one of its pods carries karpenter.sh/do-not-disrupt.
	DoNotDisruptPod Code = "DoNotDisruptPod"
	// PDB: a PodDisruptionBudget allows no eviction of one of its pods.
	PDB Code = "PodDisruptionBudget"
	// NotConsolidatable: its NodePool does not consolidate it (consolidateAfter Never, or
	// only empty nodes), or its pods changed less than consolidateAfter ago.
	NotConsolidatable Code = "NotConsolidatable"
	// Budget: the NodePool's disruption budget allows no more disruptions now.
	Budget Code = "Budget"
	// NoCheaperReplacement: its pods cannot move to other nodes, and no cheaper node fits them.
	NoCheaperReplacement Code = "NoCheaperReplacement"
	// SpotToSpot: its pods cannot move to other nodes and a cheaper node would hold them,
	// but the node is spot and so would the replacement be: upstream's spot-to-spot rule
	// (the SpotToSpotConsolidation feature gate, and 15 cheaper instance types for one
	// node) forbids the replacement.
	SpotToSpot Code = "SpotToSpot"
	// Candidate: nothing keeps the node; consolidation may remove or replace it.
	Candidate Code = "Candidate"
)

// Event reasons. FailedScheduling and Nominated are the ones kube-scheduler and upstream
// Karpenter put on pods; Unconsolidatable is upstream's for nodes kept by a rule.
const (
	EventFailedScheduling = "FailedScheduling"
	EventNominated        = "Nominated"
	EventUnconsolidatable = "Unconsolidatable"
)

// NominatedMessage is the Nominated event's message; ParseNominated reads it back.
func NominatedMessage(target string) string { return "Pod should schedule on: " + target }

// ParseNominated returns the target of a Nominated event's message.
func ParseNominated(message string) (string, bool) {
	target, ok := strings.CutPrefix(message, "Pod should schedule on: ")
	if !ok || target == "" {
		return "", false
	}
	// Upstream writes "nodeclaim/NAME" or "node/NAME"; this project writes the bare name.
	if _, name, found := strings.Cut(target, "/"); found {
		target = name
	}
	return target, true
}

// FailedSchedulingMessage is the FailedScheduling event's message for a scheduler reason.
func FailedSchedulingMessage(schedulerReason string) string {
	return "Failed to schedule pod: " + schedulerReason
}

// Messages for pod/NodePool reasons.

// TaintMessage names the taint the pod does not tolerate.
func TaintMessage(pool string, t corev1.Taint) string {
	return fmt.Sprintf("NodePool %q: does not tolerate taint %s", pool, taintString(t))
}

// RequirementMessage names the pod requirement the NodePool cannot meet.
func RequirementMessage(pool, requirement string) string {
	return fmt.Sprintf("NodePool %q: requirement %s is not met", pool, requirement)
}

// NotLaunchingMessage says why the NodePool launches nothing.
func NotLaunchingMessage(pool, why string) string {
	return fmt.Sprintf("NodePool %q: launches nothing: %s", pool, why)
}

// LimitMessage is the Limit reason's message.
func LimitMessage(pool string) string {
	return fmt.Sprintf("NodePool %q: launching for the pod would exceed its limits", pool)
}

// VolumeZoneMessage is the VolumeZone reason's message.
func VolumeZoneMessage(pool string) string {
	return fmt.Sprintf("NodePool %q: the pod's volumes need a zone the NodePool cannot launch in", pool)
}

// TopologyMessage is the Topology reason's message.
func TopologyMessage(pool string) string {
	return fmt.Sprintf("NodePool %q: topology spread, pod affinity or anti-affinity, or host ports cannot be satisfied", pool)
}

// Messages for node reasons.

// BudgetMessage names the NodePool and disruption reason whose budget is used up.
func BudgetMessage(pool string, reason v1.DisruptionReason) string {
	return fmt.Sprintf("NodePool %q allows no more %s disruptions now", pool, reason)
}

// NoCheaperReplacementMessage compares the node's price with its cheapest replacement's.
func NoCheaperReplacementMessage(price, replacement float64) string {
	return fmt.Sprintf("its pods cannot move to other nodes and the cheapest replacement costs $%.4f/h against $%.4f/h", replacement, price)
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s:%s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
}
