package explain

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

// Eligibility gives the first rule that keeps a node from being a voluntary disruption
// candidate, or reason.Candidate. nc or node may be nil (a NodeClaim not registered yet, a
// node Karpenter does not manage).
type Eligibility interface {
	Check(w *World, nc *v1.NodeClaim, node *corev1.Node, now time.Time) (reason.Code, string)
}

// DefaultEligibility applies the candidate rules in the order of reason's node codes, up to
// and including the budget. Whether a cheaper replacement exists is not its question: Node
// asks the scheduler after it.
type DefaultEligibility struct{}

var _ Eligibility = DefaultEligibility{}

// Check implements Eligibility.
func (DefaultEligibility) Check(w *World, nc *v1.NodeClaim, node *corev1.Node, now time.Time) (reason.Code, string) {
	if nc == nil {
		return reason.NotManaged, "the node has no NodeClaim: Karpenter does not manage it"
	}
	pool := w.NodePool(nc.Labels[v1.NodePoolLabelKey])
	if pool == nil {
		return reason.NotManaged, fmt.Sprintf("its NodePool %q does not exist", nc.Labels[v1.NodePoolLabelKey])
	}
	if nc.DeletionTimestamp != nil || (node != nil && node.DeletionTimestamp != nil) {
		return reason.Deleting, "it is being deleted"
	}
	if node == nil {
		return reason.NotRegistered, fmt.Sprintf("NodeClaim %s has no registered node", nc.Name)
	}
	if !isInitialized(nc) {
		return reason.NotInitialized, fmt.Sprintf("NodeClaim %s is not initialized", nc.Name)
	}
	if slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) }) {
		return reason.BeingDisrupted, fmt.Sprintf("node %s carries the %s taint: a disruption is in progress", node.Name, v1.DisruptedTaintKey)
	}
	if n := len(w.Nominations(now)[nc.Name]); n > 0 {
		return reason.Nominated, reason.NominatedNodeMessage(n)
	}
	for _, obj := range []metav1.Object{node, nc} {
		if obj.GetAnnotations()[v1.DoNotDisruptAnnotationKey] == "true" {
			return reason.DoNotDisruptNode, reason.DoNotDisruptMessage(kindOf(obj) + " " + obj.GetName())
		}
	}
	onNode := w.PodsOn(node.Name)
	for _, p := range onNode {
		if p.Annotations[v1.DoNotDisruptAnnotationKey] == "true" {
			return reason.DoNotDisruptPod, reason.DoNotDisruptMessage("pod " + p.Namespace + "/" + p.Name)
		}
	}
	movable := reschedulable(onNode)
	for _, p := range movable {
		if pdb := blockingPDB(w, p); pdb != nil {
			return reason.PDB, reason.PDBMessage(pdb.Namespace, pdb.Name, p.Name)
		}
	}
	for _, p := range movable {
		if metav1.GetControllerOf(p) == nil {
			return reason.Unowned, reason.UnownedMessage(p.Namespace, p.Name)
		}
	}
	d := pool.Spec.Disruption
	why := v1.DisruptionReasonUnderutilized
	if len(movable) == 0 {
		why = v1.DisruptionReasonEmpty
	}
	switch {
	case d.ConsolidateAfter.IsNever():
		return reason.NotConsolidatable, fmt.Sprintf("NodePool %q has consolidateAfter: Never", pool.Name)
	case why == v1.DisruptionReasonUnderutilized && d.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmptyOrUnderutilized:
		return reason.NotConsolidatable, fmt.Sprintf("NodePool %q consolidates only empty nodes (consolidationPolicy: %s)", pool.Name, d.ConsolidationPolicy)
	}
	if wait := lastPodEvent(nc, movable).Add(*d.ConsolidateAfter.Duration).Sub(now); wait > 0 {
		return reason.NotConsolidatable, reason.NotConsolidatableYetMessage(wait.Round(time.Second).String())
	}
	total, disrupting := poolCounts(w, pool.Name)
	allowed, err := budget.AllowedDisruptions(pool, why, total, disrupting, now)
	if err != nil {
		return reason.Budget, fmt.Sprintf("reading the budgets of NodePool %q: %v", pool.Name, err)
	}
	if allowed == 0 {
		return reason.Budget, reason.BudgetMessage(pool.Name, why)
	}
	return reason.Candidate, ""
}

func kindOf(obj metav1.Object) string {
	if _, ok := obj.(*v1.NodeClaim); ok {
		return "NodeClaim"
	}
	return "node"
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

// blockingPDB returns a PodDisruptionBudget selecting the pod that allows no disruption.
func blockingPDB(w *World, p *corev1.Pod) *policyv1.PodDisruptionBudget {
	for _, pdb := range w.PDBs {
		if pdb.Namespace != p.Namespace || pdb.Status.DisruptionsAllowed > 0 {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Matches(labels.Set(p.Labels)) {
			return pdb
		}
	}
	return nil
}

// lastPodEvent is the latest of the NodeClaim's initialisation, its lastPodEventTime and
// the scheduling of each of its pods.
func lastPodEvent(nc *v1.NodeClaim, pods []*corev1.Pod) time.Time {
	var last time.Time
	if c := meta.FindStatusCondition(nc.Status.Conditions, v1.ConditionTypeInitialized); c != nil {
		last = c.LastTransitionTime.Time
	}
	if t := nc.Status.LastPodEventTime.Time; t.After(last) {
		last = t
	}
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.LastTransitionTime.After(last) {
				last = c.LastTransitionTime.Time
			}
		}
	}
	return last
}

// poolCounts counts a NodePool's NodeClaims, and those being disrupted (the NodeClaim or
// its node being deleted).
func poolCounts(w *World, pool string) (total, disrupting int) {
	for _, nc := range w.NodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] != pool {
			continue
		}
		total++
		if n := w.NodeFor(nc); nc.DeletionTimestamp != nil || (n != nil && n.DeletionTimestamp != nil) {
			disrupting++
		}
	}
	return total, disrupting
}
