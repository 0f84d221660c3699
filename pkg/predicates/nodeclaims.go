package predicates

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// PodEventOnly reports whether a NodeClaim update changes nothing but what follows its
// pods' comings and goings: status.lastPodEventTime and the Consolidatable condition (with
// the resource version and managed fields every write changes). Both are a function of the
// pods and the clock, which their readers account for themselves: after a scale-up every
// NodeClaim gets these writes once its consolidateAfter ends, and at 2,000 nodes treating
// each as a change of the cluster restarted consolidation's sweep of every node again and
// again.
func PodEventOnly(old, updated *v1.NodeClaim) bool {
	if old == nil || updated == nil || old.ResourceVersion == updated.ResourceVersion {
		return false
	}
	// Shallow copies: clearing their fields leaves the cached objects alone.
	oc, nc := *old, *updated
	oc.ResourceVersion, nc.ResourceVersion = "", ""
	oc.ManagedFields, nc.ManagedFields = nil, nil
	oc.Status.LastPodEventTime, nc.Status.LastPodEventTime = metav1.Time{}, metav1.Time{}
	consolidatable := func(c metav1.Condition) bool { return c.Type == v1.ConditionTypeConsolidatable }
	oc.Status.Conditions = slices.DeleteFunc(slices.Clone(old.Status.Conditions), consolidatable)
	nc.Status.Conditions = slices.DeleteFunc(slices.Clone(updated.Status.Conditions), consolidatable)
	return equality.Semantic.DeepEqual(&oc, &nc)
}
