package state

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// ephemeralTaints are put on nodes by Kubernetes itself while they start; they go away on
// their own, so a node that is still initialising is scheduled as if they were gone.
var ephemeralTaintKeys = []string{
	corev1.TaintNodeNotReady,
	corev1.TaintNodeUnreachable,
	"node.cloudprovider.kubernetes.io/uninitialized",
	v1.UnregisteredTaintKey,
}

// Snapshot builds the scheduler's input from the current state: nodePools as given, and as
// existing nodes every schedulable Node (Karpenter's, and others that are Ready) and every
// NodeClaim that has no Node yet (InFlight). A NodeClaim that has not launched is sized as
// the cheapest available of its instance type options, looked up in instanceTypes; one
// with no option there is left out. Each node lists its bound, unfinished pods and the pods
// nominated to it. Nodes and NodeClaims being deleted are left out.
//
// The returned Snapshot shares the informer's pod and node objects; nobody may modify them.
func (c *Cluster) Snapshot(nodePools []scheduling.NodePool, instanceTypes []*cloudprovider.InstanceType) *scheduling.Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.clock.Now()

	bound := map[string][]*corev1.Pod{}
	for _, p := range c.pods {
		if p.Spec.NodeName != "" && !isTerminal(p) {
			bound[p.Spec.NodeName] = append(bound[p.Spec.NodeName], p)
		}
	}
	nominated := map[string][]*corev1.Pod{}
	for key, n := range c.nominations {
		p, ok := c.pods[key]
		if ok && p.UID == n.uid && IsProvisionable(p) && c.nominationValid(n, now) {
			nominated[n.nodeClaim] = append(nominated[n.nodeClaim], p)
		}
	}
	claimByProviderID := map[string]*v1.NodeClaim{}
	for _, nc := range c.nodeClaims {
		if nc.Status.ProviderID != "" {
			claimByProviderID[nc.Status.ProviderID] = nc
		}
	}
	nodeByProviderID := map[string]*corev1.Node{}
	for _, n := range c.nodes {
		if n.Spec.ProviderID != "" {
			nodeByProviderID[n.Spec.ProviderID] = n
		}
	}

	snap := &scheduling.Snapshot{NodePools: nodePools}
	for _, name := range slices.Sorted(maps.Keys(c.nodes)) {
		node := c.nodes[name]
		nc := claimByProviderID[node.Spec.ProviderID]
		if node.Spec.ProviderID == "" {
			nc = nil
		}
		if en, ok := existingFromNode(node, nc); ok {
			en.Pods = append(sortPods(bound[node.Name]), nominatedFor(nc, nominated)...)
			snap.Nodes = append(snap.Nodes, en)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.nodeClaims)) {
		nc := c.nodeClaims[name]
		if nc.DeletionTimestamp != nil || (nc.Status.ProviderID != "" && nodeByProviderID[nc.Status.ProviderID] != nil) {
			continue
		}
		if en, ok := inFlight(nc, instanceTypes); ok {
			en.Pods = nominatedFor(nc, nominated)
			snap.Nodes = append(snap.Nodes, en)
		}
	}
	for _, key := range slices.SortedFunc(maps.Keys(c.daemonSets), compareKeys) {
		ds := c.daemonSets[key]
		snap.DaemonSets = append(snap.DaemonSets, &corev1.Pod{
			ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(),
			Spec:       *ds.Spec.Template.Spec.DeepCopy(),
		})
		last := snap.DaemonSets[len(snap.DaemonSets)-1]
		last.Namespace, last.Name = ds.Namespace, ds.Name
	}
	return snap
}

// existingFromNode describes a Node to the scheduler, or reports false when pods cannot go
// there: it is being deleted or cordoned, its NodeClaim is being deleted, or it is not
// Karpenter's and not Ready.
func existingFromNode(node *corev1.Node, nc *v1.NodeClaim) (scheduling.ExistingNode, bool) {
	if node.DeletionTimestamp != nil || node.Spec.Unschedulable {
		return scheduling.ExistingNode{}, false
	}
	if nc == nil && !nodeReady(node) {
		return scheduling.ExistingNode{}, false
	}
	if nc != nil && nc.DeletionTimestamp != nil {
		return scheduling.ExistingNode{}, false
	}
	en := scheduling.ExistingNode{
		Name:        node.Name,
		Labels:      node.Labels,
		Taints:      node.Spec.Taints,
		Allocatable: node.Status.Allocatable,
		NodePool:    node.Labels[v1.NodePoolLabelKey],
	}
	if nc != nil && !isInitialized(nc) {
		// Until it is initialised, count on what the NodeClaim promised: its startup and
		// ephemeral taints will go, and extended resources may not be advertised yet.
		en.Taints = withoutTaints(node.Spec.Taints, nc.Spec.StartupTaints)
		alloc := nc.Status.Allocatable.DeepCopy()
		if alloc == nil {
			alloc = corev1.ResourceList{}
		}
		maps.Copy(alloc, node.Status.Allocatable)
		en.Allocatable = alloc
	}
	return en, true
}

// inFlight describes a NodeClaim without a Node to the scheduler.
func inFlight(nc *v1.NodeClaim, instanceTypes []*cloudprovider.InstanceType) (scheduling.ExistingNode, bool) {
	labels := map[string]string{}
	for _, r := range nc.Spec.Requirements {
		if r.Operator == v1.NodeSelectorOpIn && len(r.Values) == 1 {
			labels[r.Key] = r.Values[0]
		}
	}
	maps.Copy(labels, nc.Labels)
	alloc := nc.Status.Allocatable
	if len(alloc) == 0 {
		it, ok := cheapestOption(nc, instanceTypes)
		if !ok {
			return scheduling.ExistingNode{}, false
		}
		alloc = it.Allocatable()
	}
	return scheduling.ExistingNode{
		Name:        nc.Name,
		Labels:      labels,
		Taints:      nc.Spec.Taints,
		Allocatable: alloc,
		InFlight:    true,
		NodePool:    nc.Labels[v1.NodePoolLabelKey],
	}, true
}

// cheapestOption is the instance type a not yet launched NodeClaim will most likely get:
// the cheapest available candidate, or the cheapest candidate when none is available.
func cheapestOption(nc *v1.NodeClaim, instanceTypes []*cloudprovider.InstanceType) (*cloudprovider.InstanceType, bool) {
	candidates := cloudprovider.Candidates(instanceTypes, nc)
	if len(candidates) == 0 {
		return nil, false
	}
	if c, err := cloudprovider.Cheapest(candidates); err == nil {
		return c.InstanceType, true
	}
	return candidates[0].InstanceType, true
}

// NodePoolUsage is the capacity a NodePool's NodeClaims hold, counted against its limits:
// each NodeClaim's status.capacity once launched, before that the capacity of its cheapest
// option in instanceTypes.
func (c *Cluster) NodePoolUsage(nodePool string, instanceTypes []*cloudprovider.InstanceType) corev1.ResourceList {
	c.mu.RLock()
	defer c.mu.RUnlock()
	used := corev1.ResourceList{}
	for _, nc := range c.nodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] != nodePool {
			continue
		}
		capacity := nc.Status.Capacity
		if len(capacity) == 0 {
			if it, ok := cheapestOption(nc, instanceTypes); ok {
				capacity = it.Capacity
			}
		}
		for name, q := range capacity {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	return used
}

func nominatedFor(nc *v1.NodeClaim, nominated map[string][]*corev1.Pod) []*corev1.Pod {
	if nc == nil {
		return nil
	}
	return sortPods(nominated[nc.Name])
}

func sortPods(pods []*corev1.Pod) []*corev1.Pod {
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return pods
}

func compareKeys(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func withoutTaints(taints, startup []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if slices.Contains(ephemeralTaintKeys, t.Key) || slices.ContainsFunc(startup, func(s corev1.Taint) bool { return s.MatchTaint(&t) }) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isInitialized(nc *v1.NodeClaim) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, ConditionInitialized)
}
