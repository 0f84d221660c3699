package explain

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/simulate"
)

// Planner builds the scheduler's input from what explain read of the cluster. Its NodePools
// must be the ones that may launch now, highest weight first.
type Planner interface {
	Snapshot(w *World) *scheduling.Snapshot
}

// DefaultPlanner builds the snapshot from the World's object lists as the controller's
// state does: schedulable nodes with their bound pods, in-flight NodeClaims (no Node yet)
// sized by their status or cheapest option, DaemonSet overhead, volume topology, and each
// launching NodePool with its instance types and what its NodeClaims already use.
type DefaultPlanner struct{}

var _ Planner = DefaultPlanner{}

// Snapshot implements Planner.
func (DefaultPlanner) Snapshot(w *World) *scheduling.Snapshot {
	in := &simulate.Input{
		DaemonSets: w.DaemonSets, PersistentVolumeClaims: w.PersistentVolumeClaims,
		PersistentVolumes: w.PersistentVolumes, StorageClasses: w.StorageClasses,
	}
	for _, n := range w.Nodes {
		if schedulable(n, w.NodeClaimFor(n)) {
			in.Nodes = append(in.Nodes, n)
		}
	}
	for _, p := range w.Pods {
		if p.Spec.NodeName != "" && !isTerminal(p) {
			in.BoundPods = append(in.BoundPods, p)
		}
	}
	snap := simulate.Snapshot(in, nil)
	for _, nc := range w.NodeClaims {
		if nc.DeletionTimestamp != nil || w.NodeFor(nc) != nil {
			continue
		}
		if en, ok := inFlight(nc, w.InstanceTypes[nc.Labels[v1.NodePoolLabelKey]]); ok {
			snap.Nodes = append(snap.Nodes, en)
		}
	}
	for _, np := range w.NodePools {
		if !launches(w, np) {
			continue
		}
		its := w.InstanceTypes[np.Name]
		snap.NodePools = append(snap.NodePools, scheduling.NodePoolFromAPI(np, its, Usage(w, np.Name)))
	}
	slices.SortStableFunc(snap.NodePools, func(a, b scheduling.NodePool) int {
		return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Name, b.Name))
	})
	return snap
}

// launches reports whether the NodePool may launch capacity now.
func launches(w *World, np *v1.NodePool) bool {
	_, failed := w.InstanceTypeErrors[np.Name]
	return np.DeletionTimestamp == nil && np.Spec.Replicas == nil && !failed
}

// Usage is the capacity a NodePool's NodeClaims hold, counted against its limits: each
// NodeClaim's status.capacity once launched, before that its cheapest option's capacity.
func Usage(w *World, nodePool string) corev1.ResourceList {
	used := corev1.ResourceList{}
	for _, nc := range w.NodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] != nodePool {
			continue
		}
		capacity := nc.Status.Capacity
		if len(capacity) == 0 {
			if it, ok := cheapestFor(nc, w.InstanceTypes[nodePool]); ok {
				capacity = it.InstanceType.Capacity
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

// schedulable reports whether pods may go to the node: not being deleted or cordoned, and
// either Karpenter's (with a live NodeClaim) or Ready.
func schedulable(n *corev1.Node, nc *v1.NodeClaim) bool {
	if n.DeletionTimestamp != nil || n.Spec.Unschedulable {
		return false
	}
	if nc != nil {
		return nc.DeletionTimestamp == nil
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func inFlight(nc *v1.NodeClaim, its []*cloudprovider.InstanceType) (scheduling.ExistingNode, bool) {
	labels := map[string]string{}
	for _, r := range nc.Spec.Requirements {
		if r.Operator == v1.NodeSelectorOpIn && len(r.Values) == 1 {
			labels[r.Key] = r.Values[0]
		}
	}
	for k, v := range nc.Labels {
		labels[k] = v
	}
	alloc := nc.Status.Allocatable
	if len(alloc) == 0 {
		c, ok := cheapestFor(nc, its)
		if !ok {
			return scheduling.ExistingNode{}, false
		}
		alloc = c.InstanceType.Allocatable()
	}
	return scheduling.ExistingNode{
		Name: nc.Name, Labels: labels, Taints: nc.Spec.Taints, Allocatable: alloc,
		InFlight: true, NodePool: nc.Labels[v1.NodePoolLabelKey],
	}, true
}

// cheapestFor is the offering a NodeClaim most likely got or gets: the cheapest available
// candidate, else the cheapest.
func cheapestFor(nc *v1.NodeClaim, its []*cloudprovider.InstanceType) (cloudprovider.Candidate, bool) {
	cands := cloudprovider.Candidates(its, nc)
	if len(cands) == 0 {
		return cloudprovider.Candidate{}, false
	}
	if c, err := cloudprovider.Cheapest(cands); err == nil {
		return c, true
	}
	return cands[0], true
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func isInitialized(nc *v1.NodeClaim) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeInitialized)
}
