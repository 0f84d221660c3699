package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// InstanceTypesFunc lists the instance types a NodePool may launch: the cloud provider's
// GetInstanceTypes in the controller, the whole catalogue in simulate.
type InstanceTypesFunc func(np *v1.NodePool) ([]*cloudprovider.InstanceType, error)

// NodePools converts the NodePools that may launch capacity (not being deleted, not static)
// for the scheduler, highest weight first, each with its instance types and the capacity it
// already uses (see Usage). It also returns the union of every pool's instance types, to
// size in-flight NodeClaims. A NodePool whose instance types cannot be listed is skipped
// and its error returned, joined with the others, next to the pools that could be built.
func NodePools(nodePools []*v1.NodePool, instanceTypes InstanceTypesFunc, objs Objects) ([]scheduling.NodePool, []*cloudprovider.InstanceType, error) {
	var pools []scheduling.NodePool
	var all []*cloudprovider.InstanceType
	var errs []error
	seen := map[string]bool{}
	for _, np := range nodePools {
		if np.DeletionTimestamp != nil || np.Spec.Replicas != nil {
			continue
		}
		its, err := instanceTypes(np)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing instance types of nodepool %s: %w", np.Name, err))
			continue
		}
		pools = append(pools, scheduling.NodePoolFromAPI(np, its, Usage(np.Name, its, objs.NodeClaims, objs.Nodes)))
		for _, it := range its {
			if !seen[it.Name] {
				seen[it.Name] = true
				all = append(all, it)
			}
		}
	}
	slices.SortStableFunc(pools, func(a, b scheduling.NodePool) int {
		return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Name, b.Name))
	})
	return pools, all, errors.Join(errs...)
}

// Usage is the capacity a NodePool holds, counted against its limits, "nodes" included
// (one per NodeClaim or Node): each of its
// NodeClaims' status.capacity once launched, before that the capacity of its cheapest
// option in instanceTypes; and the status.capacity of each Node labelled with the pool that
// no NodeClaim owns (a simulate input, or a NodeClaim already gone).
func Usage(nodePool string, instanceTypes []*cloudprovider.InstanceType, nodeClaims []*v1.NodeClaim, nodes []*corev1.Node) corev1.ResourceList {
	owned := map[string]bool{}
	for _, nc := range nodeClaims {
		if nc.Status.ProviderID != "" {
			owned[nc.Status.ProviderID] = true
		}
	}
	return UsageOf(nodePool, instanceTypes, slices.Values(nodeClaims), slices.Values(nodes), func(n *corev1.Node) bool { return owned[n.Spec.ProviderID] })
}

// UsageOf is Usage over sequences of the cluster's NodeClaims and Nodes, with owned
// reporting whether some NodeClaim has a Node's provider ID (asked only of the pool's
// Nodes that have one): the cluster state answers it from its own indexes, where building
// Usage's set of every provider ID cost each disruption pass 2,000 entries per pool.
func UsageOf(nodePool string, instanceTypes []*cloudprovider.InstanceType, nodeClaims iter.Seq[*v1.NodeClaim], nodes iter.Seq[*corev1.Node], owned func(*corev1.Node) bool) corev1.ResourceList {
	used := corev1.ResourceList{}
	for nc := range nodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] != nodePool {
			continue
		}
		capacity := nc.Status.Capacity
		if len(capacity) == 0 {
			if it, ok := CheapestOption(nc, instanceTypes); ok {
				capacity = it.Capacity
			}
		}
		add(used, capacity)
		addNode(used)
	}
	for n := range nodes {
		if n.Labels[v1.NodePoolLabelKey] == nodePool && (n.Spec.ProviderID == "" || !owned(n)) {
			add(used, n.Status.Capacity)
			addNode(used)
		}
	}
	return used
}

// addNode counts one node against a "nodes" limit.
func addNode(sum corev1.ResourceList) {
	total := sum[scheduling.ResourceNodes]
	total.Add(*resource.NewQuantity(1, resource.DecimalSI))
	sum[scheduling.ResourceNodes] = total
}

func add(sum, more corev1.ResourceList) {
	for name, q := range more {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}
