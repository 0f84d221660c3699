package predicates

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/gokarpenter/karpenter/pkg/pods"
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
	return restEqual(&oc, &nc)
}

// restEqual is equality.Semantic.DeepEqual of two Nodes (shallow copies the caller has
// cleared of what it does not compare), written out field by field: the reflective walk
// allocates for every string, map entry and quantity it compares (149 allocations for a
// node with a dozen labels), and at 2,000 nodes the heartbeats compared that way were a
// tenth of what a quiet controller allocated. The fields that are empty on most Nodes
// (images, volumes, configuration, features, owners) still go through DeepEqual when
// either side has them. TestRestEqualSeesEveryField fails when a Kubernetes version adds a
// field this does not compare.
func restEqual(a, b *corev1.Node) bool {
	am, bm := &a.ObjectMeta, &b.ObjectMeta
	if am.Name != bm.Name || am.GenerateName != bm.GenerateName || am.Namespace != bm.Namespace || am.SelfLink != bm.SelfLink ||
		am.UID != bm.UID || am.ResourceVersion != bm.ResourceVersion || am.Generation != bm.Generation ||
		!am.CreationTimestamp.Equal(&bm.CreationTimestamp) || !timePtrEqual(am.DeletionTimestamp, bm.DeletionTimestamp) ||
		!ptrEqual(am.DeletionGracePeriodSeconds, bm.DeletionGracePeriodSeconds) ||
		!maps.Equal(am.Labels, bm.Labels) || !maps.Equal(am.Annotations, bm.Annotations) || !slices.Equal(am.Finalizers, bm.Finalizers) ||
		!rareEqual(am.OwnerReferences, bm.OwnerReferences, len(am.OwnerReferences)+len(bm.OwnerReferences) == 0) ||
		!rareEqual(am.ManagedFields, bm.ManagedFields, len(am.ManagedFields)+len(bm.ManagedFields) == 0) {
		return false
	}
	as, bs := &a.Spec, &b.Spec
	if as.PodCIDR != bs.PodCIDR || !slices.Equal(as.PodCIDRs, bs.PodCIDRs) || as.ProviderID != bs.ProviderID ||
		as.Unschedulable != bs.Unschedulable || as.DoNotUseExternalID != bs.DoNotUseExternalID ||
		!slices.EqualFunc(as.Taints, bs.Taints, taintEqual) ||
		!rareEqual(as.ConfigSource, bs.ConfigSource, as.ConfigSource == nil && bs.ConfigSource == nil) ||
		!rareEqual(as.PodPreemptionPolicy, bs.PodPreemptionPolicy, as.PodPreemptionPolicy == nil && bs.PodPreemptionPolicy == nil) {
		return false
	}
	at, bt := &a.Status, &b.Status
	return resourcesEqual(at.Capacity, bt.Capacity) && resourcesEqual(at.Allocatable, bt.Allocatable) && at.Phase == bt.Phase &&
		rareEqual(at.Conditions, bt.Conditions, len(at.Conditions)+len(bt.Conditions) == 0) &&
		slices.Equal(at.Addresses, bt.Addresses) && at.DaemonEndpoints == bt.DaemonEndpoints &&
		rareEqual(at.NodeInfo, bt.NodeInfo, at.NodeInfo == bt.NodeInfo) &&
		rareEqual(at.Images, bt.Images, len(at.Images)+len(bt.Images) == 0) &&
		slices.Equal(at.VolumesInUse, bt.VolumesInUse) &&
		rareEqual(at.VolumesAttached, bt.VolumesAttached, len(at.VolumesAttached)+len(bt.VolumesAttached) == 0) &&
		rareEqual(at.Config, bt.Config, at.Config == nil && bt.Config == nil) &&
		rareEqual(at.RuntimeHandlers, bt.RuntimeHandlers, len(at.RuntimeHandlers)+len(bt.RuntimeHandlers) == 0) &&
		rareEqual(at.Features, bt.Features, at.Features == nil && bt.Features == nil) &&
		slices.Equal(at.DeclaredFeatures, bt.DeclaredFeatures)
}

// rareEqual compares a field most Nodes leave empty: equal at once when trivially so,
// else by equality.Semantic.
func rareEqual[T any](a, b T, trivially bool) bool {
	return trivially || equality.Semantic.DeepEqual(a, b)
}

func taintEqual(a, b corev1.Taint) bool {
	return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect && timePtrEqual(a.TimeAdded, b.TimeAdded)
}

func timePtrEqual(a, b *metav1.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(b)
}

func ptrEqual[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// resourcesEqual compares two resource lists as equality.Semantic does (quantities by
// value; nil and empty alike).
func resourcesEqual(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		r, ok := b[name]
		if !ok || q.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

// Taints the node lifecycle controller (kube-controller-manager) puts on a Node while it
// is not Ready or unreachable, and takes off when it is Ready again: the shadow of its
// Ready condition.
const (
	TaintNodeNotReady    = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"
)

// IsHealthTaint reports whether t is one of the node lifecycle controller's taints.
func IsHealthTaint(t *corev1.Taint) bool {
	return t.Key == TaintNodeNotReady || t.Key == TaintNodeUnreachable
}

// IgnoreNodeHealth drops Node updates that change nothing but the node's health
// (HealthOnly: conditions, heartbeats, the lifecycle controller's taints), for watchers that
// decide nothing on health. Creates, deletes, resyncs and any other change pass.
func IgnoreNodeHealth() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return !HealthOnly(e.ObjectOld, e.ObjectNew) }}
}

// TTLAnnotation is kube-controller-manager's TTL controller's annotation on every Node
// (how long kubelets may cache objects), rewritten as the cluster grows.
const TTLAnnotation = "node.alpha.kubernetes.io/ttl"

// HealthOnly reports whether updated differs from old, both Nodes, only in their health
// and what their kubelet reports about itself: the conditions (any field: Ready turning
// False and back, pressures, heartbeats), the node lifecycle controller's not-ready and
// unreachable taints, the addresses, daemon endpoints and images, the TTL controller's
// annotation, the resource version and the managed fields. Nodes whose lease lapses flap
// this way by the hundred (KWOK also drops and restores their addresses); a decision that
// depends on a node's health reads it itself (disruption budgets count NotReady nodes)
// rather than on every such update. A resync (same resource version) is not a health-only
// update.
func HealthOnly(old, updated client.Object) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := updated.(*corev1.Node)
	if !ok1 || !ok2 || o == nil || n == nil || o.ResourceVersion == n.ResourceVersion {
		return false
	}
	oc, nc := *o, *n
	oc.ResourceVersion, nc.ResourceVersion = "", ""
	oc.ManagedFields, nc.ManagedFields = nil, nil
	oc.Status.Conditions, nc.Status.Conditions = nil, nil
	oc.Status.Addresses, nc.Status.Addresses = nil, nil
	oc.Status.DaemonEndpoints, nc.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{}, corev1.NodeDaemonEndpoints{}
	oc.Status.Images, nc.Status.Images = nil, nil
	oc.Annotations, nc.Annotations = withoutTTL(o.Annotations), withoutTTL(n.Annotations)
	oc.Spec.Taints, nc.Spec.Taints = otherTaints(o.Spec.Taints), otherTaints(n.Spec.Taints)
	return restEqual(&oc, &nc)
}

// withoutTTL is annotations without TTLAnnotation (a copy only when it is there; nil when
// nothing is left).
func withoutTTL(annotations map[string]string) map[string]string {
	if _, ok := annotations[TTLAnnotation]; !ok {
		if len(annotations) == 0 {
			return nil
		}
		return annotations
	}
	out := make(map[string]string, len(annotations)-1)
	for k, v := range annotations {
		if k != TTLAnnotation {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// otherTaints are taints without the lifecycle controller's, in a new slice (nil when none
// is left).
func otherTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for i := range taints {
		if !IsHealthTaint(&taints[i]) {
			out = append(out, taints[i])
		}
	}
	return out
}

// PodStatusOnly reports whether updated differs from old, both Pods bound to the same node
// and neither finished, only in how it runs: the status conditions (Ready and
// ContainersReady turning False while its node is NotReady, and back), the container
// statuses, the phase (Pending to Running), its IPs and start time, the resource version
// and the managed fields. Where the pod runs and what it requests are unchanged: a kubelet
// (or KWOK) starting 20,000 pods is 20,000 such updates. A pod not bound is never
// status-only: its PodScheduled condition says whether it waits for capacity; nor is one
// finishing, which frees its room.
func PodStatusOnly(old, updated *corev1.Pod) bool {
	if old == nil || updated == nil || old.ResourceVersion == updated.ResourceVersion ||
		old.Spec.NodeName == "" || old.Spec.NodeName != updated.Spec.NodeName || pods.IsTerminal(old) || pods.IsTerminal(updated) {
		return false
	}
	oc, nc := *old, *updated
	oc.ResourceVersion, nc.ResourceVersion = "", ""
	oc.ManagedFields, nc.ManagedFields = nil, nil
	oc.Status, nc.Status = runStatusCleared(old.Status), runStatusCleared(updated.Status)
	return equality.Semantic.DeepEqual(&oc, &nc)
}

// runStatusCleared is a copy of the status without what changes while a pod runs.
func runStatusCleared(s corev1.PodStatus) corev1.PodStatus {
	s.Phase, s.Conditions = "", nil
	s.ContainerStatuses, s.InitContainerStatuses, s.EphemeralContainerStatuses = nil, nil, nil
	s.PodIP, s.PodIPs, s.HostIP, s.HostIPs, s.StartTime = "", nil, "", nil, nil
	return s
}
