package consolidation

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// view is what one pass sees of the cluster.
type view struct {
	pools            map[string]*v1.NodePool
	claims           []*v1.NodeClaim
	nodeByProviderID map[string]*corev1.Node
	// claimByNode maps a Node's name to its NodeClaim.
	claimByNode map[string]*v1.NodeClaim
	// podsByNode holds the pods bound to each node.
	podsByNode map[string][]*corev1.Pod
	// unbound are the active pods no node runs yet (DaemonSet pods left out).
	unbound []*corev1.Pod
	pdbs    []policyv1.PodDisruptionBudget
}

// candidate is a NodeClaim that may be consolidated, with what it runs.
type candidate struct {
	claim *v1.NodeClaim
	node  *corev1.Node
	pool  *v1.NodePool
	// pods are the pods that need rescheduling when the node goes.
	pods []*corev1.Pod
}

// observe reads NodeClaims, Nodes and NodePools from the cluster state, and pods and
// PodDisruptionBudgets through the client.
func (c *Controller) observe(ctx context.Context) (*view, error) {
	podList := &corev1.PodList{}
	if err := c.kube.List(ctx, podList); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	pdbList := &policyv1.PodDisruptionBudgetList{}
	if err := c.kube.List(ctx, pdbList); err != nil {
		return nil, fmt.Errorf("listing poddisruptionbudgets: %w", err)
	}
	v := &view{
		pools: map[string]*v1.NodePool{}, claims: c.cluster.NodeClaims(),
		nodeByProviderID: map[string]*corev1.Node{}, claimByNode: map[string]*v1.NodeClaim{},
		podsByNode: map[string][]*corev1.Pod{}, pdbs: pdbList.Items,
	}
	for _, np := range c.cluster.NodePools() {
		v.pools[np.Name] = np
	}
	for _, n := range c.cluster.Nodes() {
		if n.Spec.ProviderID != "" {
			v.nodeByProviderID[n.Spec.ProviderID] = n
		}
	}
	for _, nc := range v.claims {
		if n := v.nodeByProviderID[nc.Status.ProviderID]; nc.Status.ProviderID != "" && n != nil {
			v.claimByNode[n.Name] = nc
		}
	}
	for i := range podList.Items {
		p := &podList.Items[i]
		switch {
		case p.Spec.NodeName != "":
			v.podsByNode[p.Spec.NodeName] = append(v.podsByNode[p.Spec.NodeName], p)
		case pods.IsReschedulable(p):
			v.unbound = append(v.unbound, p)
		}
	}
	return v, nil
}

// consolidates reports whether the pool allows consolidating under-utilised nodes.
func consolidates(pool *v1.NodePool) bool {
	d := pool.Spec.Disruption
	return pool.DeletionTimestamp.IsZero() && d.ConsolidationPolicy == v1.ConsolidationPolicyWhenEmptyOrUnderutilized &&
		d.ConsolidateAfter.Duration != nil && !d.ConsolidateAfter.IsNever()
}

// candidates returns the NodeClaims that may be consolidated now, cheapest to disrupt
// first, and updates the pod sets seen on each node.
func (c *Controller) candidates(ctx context.Context, v *view, now time.Time) []*candidate {
	logger := log.FromContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []*candidate
	for _, nc := range v.claims {
		pool := v.pools[nc.Labels[v1.NodePoolLabelKey]]
		if pool == nil || !consolidates(pool) || !nc.DeletionTimestamp.IsZero() || !meta.IsStatusConditionTrue(nc.Status.Conditions, state.ConditionInitialized) {
			continue
		}
		node := v.nodeByProviderID[nc.Status.ProviderID]
		if nc.Status.ProviderID == "" || node == nil || !node.DeletionTimestamp.IsZero() || hasDisruptedTaint(node) {
			continue
		}
		seen[nc.Name] = true
		cand := &candidate{claim: nc, node: node, pool: pool}
		for _, p := range v.podsByNode[node.Name] {
			if pods.IsReschedulable(p) {
				cand.pods = append(cand.pods, p)
			}
		}
		last := c.lastPodEvent(cand, now)
		if len(cand.pods) == 0 {
			continue // empty: the emptiness controller's, under the Empty budget
		}
		logger := logger.WithValues("nodeclaim", klog.KObj(nc), "node", klog.KObj(node))
		if wait := last.Add(*pool.Spec.Disruption.ConsolidateAfter.Duration).Sub(now); wait > 0 {
			logger.V(2).Info("not consolidating yet, pods changed recently", "lastPodEvent", last, "wait", wait)
			continue
		}
		if reason := c.blocked(cand, v); reason != "" {
			logger.V(1).Info("not consolidating", "reason", reason)
			continue
		}
		out = append(out, cand)
	}
	for name := range c.podSets {
		if !seen[name] {
			delete(c.podSets, name)
		}
	}
	slices.SortFunc(out, func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(len(a.pods), len(b.pods)),
			a.claim.CreationTimestamp.Compare(b.claim.CreationTimestamp.Time),
			cmp.Compare(a.claim.Name, b.claim.Name))
	})
	return out
}

// lastPodEvent is the latest of the NodeClaim's initialisation, its lastPodEventTime, the
// scheduling of each of its pods and the last change of its pod set this controller saw.
// The caller holds c.mu.
func (c *Controller) lastPodEvent(cand *candidate, now time.Time) time.Time {
	var last time.Time
	if cond := meta.FindStatusCondition(cand.claim.Status.Conditions, state.ConditionInitialized); cond != nil {
		last = cond.LastTransitionTime.Time
	}
	if t := cand.claim.Status.LastPodEventTime.Time; t.After(last) {
		last = t
	}
	uids := make([]string, 0, len(cand.pods))
	for _, p := range cand.pods {
		uids = append(uids, string(p.UID))
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.LastTransitionTime.After(last) {
				last = cond.LastTransitionTime.Time
			}
		}
	}
	slices.Sort(uids)
	key := strings.Join(uids, ",")
	prev, ok := c.podSets[cand.claim.Name]
	switch {
	case !ok:
		c.podSets[cand.claim.Name] = podSet{key: key}
	case prev.key != key:
		c.podSets[cand.claim.Name] = podSet{key: key, since: now}
	}
	if since := c.podSets[cand.claim.Name].since; since.After(last) {
		last = since
	}
	return last
}

// blocked says why the candidate may not be consolidated, or "" when it may.
func (c *Controller) blocked(cand *candidate, v *view) string {
	if pods.HasDoNotDisrupt(cand.claim) || pods.HasDoNotDisrupt(cand.node) {
		return "the node carries " + v1.DoNotDisruptAnnotationKey
	}
	for _, p := range v.podsByNode[cand.node.Name] {
		if !pods.IsTerminal(p) && pods.HasDoNotDisrupt(p) {
			return fmt.Sprintf("pod %s/%s carries %s", p.Namespace, p.Name, v1.DoNotDisruptAnnotationKey)
		}
	}
	for _, p := range cand.pods {
		if metav1.GetControllerOf(p) == nil {
			return fmt.Sprintf("pod %s/%s has no controller to recreate it", p.Namespace, p.Name)
		}
		if pdb := blockingPDB(p, v.pdbs); pdb != nil {
			return fmt.Sprintf("poddisruptionbudget %s/%s allows no disruption of pod %s", pdb.Namespace, pdb.Name, p.Name)
		}
	}
	return ""
}

// blockingPDB returns a PodDisruptionBudget selecting the pod that allows no disruption now.
// A PDB whose selector does not parse is taken as selecting it: better keep a node than
// break a budget.
func blockingPDB(p *corev1.Pod, pdbs []policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
	for i := range pdbs {
		pdb := &pdbs[i]
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

// hasDisruptedTaint reports whether the node carries karpenter.sh/disrupted:NoSchedule.
func hasDisruptedTaint(node *corev1.Node) bool {
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) })
}

// budgets returns how many more NodeClaims of each consolidating pool may go for reason
// Underutilized: NodeClaims being deleted, or whose Node is, count against it.
func (c *Controller) budgets(v *view, now time.Time) (map[string]int, error) {
	total, disrupting := map[string]int{}, map[string]int{}
	for _, nc := range v.claims {
		pool := nc.Labels[v1.NodePoolLabelKey]
		total[pool]++
		node := v.nodeByProviderID[nc.Status.ProviderID]
		if !nc.DeletionTimestamp.IsZero() || (nc.Status.ProviderID != "" && node != nil && !node.DeletionTimestamp.IsZero()) {
			disrupting[pool]++
		}
	}
	out := map[string]int{}
	for name, pool := range v.pools {
		if !consolidates(pool) {
			continue
		}
		n, err := budget.AllowedDisruptions(pool, v1.DisruptionReasonUnderutilized, total[name], disrupting[name], now)
		if err != nil {
			return nil, fmt.Errorf("computing the underutilized budget: %w", err)
		}
		out[name] = n
	}
	return out, nil
}
