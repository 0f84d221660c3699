package predicates

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// IgnoreNodeHeartbeats drops Node updates that change nothing but the conditions'
// heartbeat times (with the resource version and managed fields every write changes). A
// kubelet (or KWOK) rewrites its Node's status every few minutes only to say it is alive;
// no controller here decides anything on that, and at 2,000 nodes each round of heartbeats
// would wake every Node watcher for every node. Creates, deletes, resyncs (same resource
// version) and any other change pass.
func IgnoreNodeHeartbeats() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return !HeartbeatOnly(e.ObjectOld, e.ObjectNew) }}
}

// HeartbeatOnly reports whether updated differs from old, both Nodes, only in the
// conditions' LastHeartbeatTime, the resource version and the managed fields.
func HeartbeatOnly(old, updated client.Object) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := updated.(*corev1.Node)
	if !ok1 || !ok2 || o == nil || n == nil || o.ResourceVersion == n.ResourceVersion {
		return false
	}
	if len(o.Status.Conditions) != len(n.Status.Conditions) {
		return false
	}
	for i := range o.Status.Conditions {
		a, b := &o.Status.Conditions[i], &n.Status.Conditions[i]
		if a.Type != b.Type || a.Status != b.Status || a.Reason != b.Reason || a.Message != b.Message ||
			!a.LastTransitionTime.Equal(&b.LastTransitionTime) {
			return false
		}
	}
	// Shallow copies: clearing their fields leaves the cached objects alone.
	oc, nc := *o, *n
	oc.ResourceVersion, nc.ResourceVersion = "", ""
	oc.ManagedFields, nc.ManagedFields = nil, nil
	oc.Status.Conditions, nc.Status.Conditions = nil, nil
	return equality.Semantic.DeepEqual(&oc, &nc)
}
