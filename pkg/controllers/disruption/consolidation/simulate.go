package consolidation

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// choose picks, greedily and in order, the candidates whose pods, together with those of
// the candidates chosen before them and the pods that need a place anyway, all fit on the
// initialized nodes that remain; at most budgets[pool] of each pool. budgets is consumed.
func (c *Controller) choose(ctx context.Context, v *view, cands []*candidate, budgets map[string]int) []*candidate {
	logger := log.FromContext(ctx)
	pools, its := c.nodePools(ctx)
	base := c.cluster.Snapshot(pools, its)
	displaced, nominated := displacedPods(base, v)
	var chosen []*candidate
	var moving []*corev1.Pod
	gone := map[string]bool{}
	for _, cand := range cands {
		logger := logger.WithValues("nodeclaim", klog.KObj(cand.claim), "node", klog.KObj(cand.node))
		if budgets[cand.pool.Name] <= 0 {
			logger.V(1).Info("not consolidating, the disruption budget is used up", "reason", "Underutilized budget of nodepool "+cand.pool.Name)
			continue
		}
		if nominated[cand.node.Name] {
			logger.V(1).Info("not consolidating", "reason", "pending pods are nominated to the node")
			continue
		}
		gone[cand.node.Name] = true
		try := append(moving[:len(moving):len(moving)], cand.pods...)
		if reason := c.fits(base, v, gone, try, displaced); reason != "" {
			delete(gone, cand.node.Name)
			logger.V(1).Info("not consolidating, its pods do not fit elsewhere", "reason", reason)
			continue
		}
		moving = try
		chosen = append(chosen, cand)
		budgets[cand.pool.Name]--
	}
	return chosen
}

// nodePools converts the NodePools that may launch capacity for the scheduler, with their
// instance types. Consolidation launches nothing, but the pools' instance types tell the
// scheduler the zones and capacity types topology spread counts over.
func (c *Controller) nodePools(ctx context.Context) ([]scheduling.NodePool, []*cloudprovider.InstanceType) {
	if c.cloud == nil {
		return nil, nil
	}
	var out []scheduling.NodePool
	var all []*cloudprovider.InstanceType
	seen := map[string]bool{}
	for _, np := range c.cluster.NodePools() {
		if np.DeletionTimestamp != nil || np.Spec.Replicas != nil {
			continue
		}
		its, err := c.cloud.GetInstanceTypes(ctx, np)
		if err != nil {
			log.FromContext(ctx).Error(err, "leaving nodepool out of the simulation, listing its instance types failed", "nodePool", klog.KObj(np))
			continue
		}
		out = append(out, scheduling.NodePoolFromAPI(np, its, c.cluster.NodePoolUsage(np.Name, its)))
		for _, it := range its {
			if !seen[it.Name] {
				seen[it.Name] = true
				all = append(all, it)
			}
		}
	}
	return out, all
}

// displacedPods are the pods that need a place whatever consolidation does, so they
// compete for the free capacity it counts on: active pods not bound to a node (unless
// nominated, then the snapshot has them on their node already) and the active pods of
// nodes being deleted. nominated names the nodes pending pods are nominated to.
func displacedPods(snap *scheduling.Snapshot, v *view) ([]*corev1.Pod, map[string]bool) {
	inSnapshot := map[types.UID]bool{}
	nominated := map[string]bool{}
	for _, n := range snap.Nodes {
		for _, p := range n.Pods {
			inSnapshot[p.UID] = true
			if p.Spec.NodeName == "" {
				nominated[n.Name] = true
			}
		}
	}
	var out []*corev1.Pod
	for _, p := range v.unbound {
		if !inSnapshot[p.UID] {
			out = append(out, p)
		}
	}
	for _, node := range slices.Sorted(maps.Keys(v.podsByNode)) {
		// claimByNode only holds NodeClaims whose Node exists.
		nc := v.claimByNode[node]
		if nc == nil || (nc.DeletionTimestamp.IsZero() && v.nodeByProviderID[nc.Status.ProviderID].DeletionTimestamp.IsZero()) {
			continue
		}
		for _, p := range v.podsByNode[node] {
			if pods.IsReschedulable(p) {
				out = append(out, unbind(p))
			}
		}
	}
	return out, nominated
}

// fits solves the placement of moving (and displaced) pods on the base snapshot's nodes
// without those gone, in-flight NodeClaims and uninitialized nodes. It returns why one of
// moving would not land on such a node, or "" when all do.
func (c *Controller) fits(base *scheduling.Snapshot, v *view, gone map[string]bool, moving, displaced []*corev1.Pod) string {
	snap := *base
	snap.Nodes = nil
	for _, n := range base.Nodes {
		if n.InFlight || gone[n.Name] {
			continue
		}
		if nc := v.claimByNode[n.Name]; nc != nil && !meta.IsStatusConditionTrue(nc.Status.Conditions, state.ConditionInitialized) {
			continue
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	toPlace := make([]*corev1.Pod, 0, len(moving)+len(displaced))
	mover := map[types.UID]bool{}
	for _, p := range moving {
		toPlace = append(toPlace, unbind(p))
		mover[p.UID] = true
	}
	toPlace = append(toPlace, displaced...)
	plan := scheduling.Solve(&snap, toPlace)
	for _, u := range plan.Unschedulable {
		if mover[u.Pod.UID] {
			return fmt.Sprintf("pod %s/%s fits no remaining node: %s", u.Pod.Namespace, u.Pod.Name, u.Reason)
		}
	}
	for _, nc := range plan.NewNodeClaims {
		for _, p := range nc.Pods {
			if mover[p.UID] {
				return fmt.Sprintf("pod %s/%s would need a new node", p.Namespace, p.Name)
			}
		}
	}
	return ""
}

// unbind returns a copy of the pod as it would be once evicted and recreated: not bound.
func unbind(p *corev1.Pod) *corev1.Pod {
	out := p.DeepCopy()
	out.Spec.NodeName = ""
	return out
}
