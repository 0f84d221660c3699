package explain

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

// ControllerEligibility is the disruption controller's own judgement: disruption.Explain
// (eligibility, and whether a method applies) and its budget Ledger, fed from the World.
// Its codes are the controller's BlockReason strings, the reasons of its events.
type ControllerEligibility struct{}

var _ Eligibility = ControllerEligibility{}

// Check implements Eligibility.
func (ControllerEligibility) Check(w *World, nc *v1.NodeClaim, node *corev1.Node, now time.Time) (reason.Code, string) {
	if nc == nil {
		return reason.NotManaged, "the node has no NodeClaim: Karpenter does not manage it"
	}
	pool := w.NodePool(nc.Labels[v1.NodePoolLabelKey])
	var pods []*corev1.Pod
	if node != nil {
		pods = w.PodsOn(node.Name)
	}
	in := disruption.Input{
		NodeClaim: nc, Node: node, NodePool: pool, Pods: pods, PDBs: disruption.NewPDBLimits(w.PDBs),
		Nominated: len(w.Nominations(now)[nc.Name]) > 0, Now: now,
	}
	if b := disruption.Explain(in); b != nil {
		return reason.Code(b.Reason), b.Message
	}
	why := v1.DisruptionReasonUnderutilized
	switch {
	case disruption.IsDrifted(nc):
		why = v1.DisruptionReasonDrifted
	case len(reschedulable(pods)) == 0:
		why = v1.DisruptionReasonEmpty
	case pool.Spec.Disruption.ConsolidationPolicy == v1.ConsolidationPolicyWhenEmpty:
		return reason.NotConsolidatable, fmt.Sprintf("NodePool %q consolidates only empty nodes (consolidationPolicy: %s)", pool.Name, pool.Spec.Disruption.ConsolidationPolicy)
	}
	ledger := w.Ledger(now)
	if ledger.Allowed(pool.Name, why) == 0 {
		if err := ledger.PoolError(pool.Name); err != nil {
			return reason.Budget, fmt.Sprintf("the budgets of NodePool %q cannot be read: %v", pool.Name, err)
		}
		return reason.Budget, reason.BudgetMessage(pool.Name, why)
	}
	return reason.Candidate, ""
}

// Ledger is the disruption controller's budget ledger over the World's NodeClaims.
func (w *World) Ledger(now time.Time) *disruption.Ledger {
	nodes := make([]disruption.LedgerNode, 0, len(w.NodeClaims))
	for _, nc := range w.NodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] != "" {
			nodes = append(nodes, disruption.LedgerNode{NodeClaim: nc, Node: w.NodeFor(nc)})
		}
	}
	return disruption.NewLedger(w.NodePools, nodes, now)
}

func isDrifted(nc *v1.NodeClaim) bool {
	return nc != nil && meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeDrifted)
}
