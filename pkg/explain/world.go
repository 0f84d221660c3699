package explain

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// InstanceTypeSource lists the instance types a NodePool may launch; a CloudProvider is one.
type InstanceTypeSource interface {
	GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*cloudprovider.InstanceType, error)
}

// World is what explain knows of the cluster: the objects the scheduler's adapter
// (pkg/snapshot) reads, plus PodDisruptionBudgets and events, and each NodePool's instance
// types.
type World struct {
	snapshot.Objects
	NodePools []*v1.NodePool
	PDBs      []*policyv1.PodDisruptionBudget
	// Events are the provisioner's Nominated events on pods, oldest first.
	Events []*corev1.Event
	// InstanceTypes holds each NodePool's instance types by NodePool name.
	InstanceTypes map[string][]*cloudprovider.InstanceType
	// InstanceTypeErrors holds, by NodePool name, why its instance types could not be listed.
	InstanceTypeErrors map[string]error
	// SpotToSpotConsolidation is the controller's feature gate of that name (Read leaves it
	// off, upstream's default): without it a spot node is never replaced by a spot node.
	SpotToSpotConsolidation bool
}

// Read lists the objects explain needs through the reader (snapshot.List for what the
// scheduler reads, then PodDisruptionBudgets and events) and asks the source for each NodePool's
// instance types. A NodePool whose instance types cannot be listed is kept, with the error.
func Read(ctx context.Context, r client.Reader, its InstanceTypeSource) (*World, error) {
	objs, pools, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster: %w", err)
	}
	w := &World{Objects: objs, NodePools: sorted(pools),
		InstanceTypes: map[string][]*cloudprovider.InstanceType{}, InstanceTypeErrors: map[string]error{}}
	w.Pods, w.Nodes, w.NodeClaims = sorted(w.Pods), sorted(w.Nodes), sorted(w.NodeClaims)
	var pdbs policyv1.PodDisruptionBudgetList
	if err := r.List(ctx, &pdbs); err != nil {
		return nil, fmt.Errorf("listing poddisruptionbudgets: %w", err)
	}
	w.PDBs = sorted(ptrs(pdbs.Items))
	// Only the nominations are read back; the API server filters by reason.
	var events corev1.EventList
	if err := r.List(ctx, &events, client.MatchingFields{"reason": reason.EventNominated}); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	for _, e := range ptrs(events.Items) {
		if e.InvolvedObject.Kind == "Pod" {
			w.Events = append(w.Events, e)
		}
	}
	slices.SortStableFunc(w.Events, func(a, b *corev1.Event) int { return lastSeen(a).Compare(lastSeen(b)) })
	for _, np := range w.NodePools {
		list, err := its.GetInstanceTypes(ctx, np)
		if err != nil {
			w.InstanceTypeErrors[np.Name] = fmt.Errorf("listing instance types: %w", err)
			continue
		}
		w.InstanceTypes[np.Name] = list
	}
	return w, nil
}

// Pod returns the pod namespace/name, or nil.
func (w *World) Pod(namespace, name string) *corev1.Pod {
	for _, p := range w.Pods {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// Node returns the node, or nil.
func (w *World) Node(name string) *corev1.Node {
	for _, n := range w.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodeClaim returns the NodeClaim, or nil.
func (w *World) NodeClaim(name string) *v1.NodeClaim {
	for _, nc := range w.NodeClaims {
		if nc.Name == name {
			return nc
		}
	}
	return nil
}

// NodePool returns the NodePool, or nil.
func (w *World) NodePool(name string) *v1.NodePool {
	for _, np := range w.NodePools {
		if np.Name == name {
			return np
		}
	}
	return nil
}

// NodeFor returns the node of a NodeClaim (matched by provider ID), or nil.
func (w *World) NodeFor(nc *v1.NodeClaim) *corev1.Node {
	if nc == nil || nc.Status.ProviderID == "" {
		return nil
	}
	for _, n := range w.Nodes {
		if n.Spec.ProviderID == nc.Status.ProviderID {
			return n
		}
	}
	return nil
}

// NodeClaimFor returns the NodeClaim of a node (matched by provider ID), or nil.
func (w *World) NodeClaimFor(n *corev1.Node) *v1.NodeClaim {
	if n == nil || n.Spec.ProviderID == "" {
		return nil
	}
	for _, nc := range w.NodeClaims {
		if nc.Status.ProviderID == n.Spec.ProviderID {
			return nc
		}
	}
	return nil
}

// PodsOn returns the pods bound to the node that have not finished.
func (w *World) PodsOn(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range w.Pods {
		if p.Spec.NodeName == node && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

type named interface {
	GetNamespace() string
	GetName() string
}

func sorted[T named](items []T) []T {
	slices.SortFunc(items, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return items
}
