package state

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// podRecord is a pod as the state and the PodStore keep it: its metadata and status, and a
// spec it shares with the other pods of its template (Compactor.PodSpec), without the node
// name, which is kept beside it. A corev1.Pod is 1,240 bytes before any of its contents,
// most of it the spec; 20,000 pods held as Pods were a quarter of the controller's heap.
// Readers get a Pod built afresh (pod); the maps and slices it shares with the record and
// with other pods are read-only, as informer objects are.
//
// A record is never changed once built: a new version of the pod is a new record.
type podRecord struct {
	meta   metav1.ObjectMeta
	spec   *corev1.PodSpec
	node   string
	status podStatus
	// provisionable and terminal are pods.IsProvisionable and pods.IsTerminal of the pod,
	// read on every pass over the state's pods.
	provisionable, terminal bool
}

// newPodRecord keeps pod (which it does not modify). specs shares the spec between the
// pods of a template; nil keeps a copy of its own.
func newPodRecord(pod *corev1.Pod, specs *Compactor) *podRecord {
	r := &podRecord{meta: pod.ObjectMeta, node: pod.Spec.NodeName,
		provisionable: pods.IsProvisionable(pod), terminal: pods.IsTerminal(pod)}
	r.meta.ManagedFields = nil
	if specs != nil {
		r.spec = specs.PodSpec(&pod.Spec)
	} else {
		spec := pod.Spec
		spec.NodeName = ""
		r.spec = &spec
	}
	r.status = newPodStatus(&pod.Status)
	return r
}

// pod builds the Pod the record keeps.
func (r *podRecord) pod() *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: r.meta, Spec: *r.spec}
	p.Spec.NodeName = r.node
	r.status.into(&p.Status)
	return p
}

// podStatus is the part of a PodStatus that is set once StripForCache trimmed it, in a
// third of its size; rest keeps the other fields when some is set (a resize, resource
// claims, ...).
type podStatus struct {
	phase              corev1.PodPhase
	message, reason    string
	nominatedNodeName  string
	startTime          *metav1.Time
	conditions         []corev1.PodCondition
	observedGeneration int64
	rest               *corev1.PodStatus
}

func newPodStatus(s *corev1.PodStatus) podStatus {
	out := podStatus{phase: s.Phase, message: s.Message, reason: s.Reason, nominatedNodeName: s.NominatedNodeName,
		startTime: s.StartTime, conditions: s.Conditions, observedGeneration: s.ObservedGeneration}
	rest := *s
	rest.Phase, rest.Message, rest.Reason, rest.NominatedNodeName = "", "", "", ""
	rest.StartTime, rest.Conditions, rest.ObservedGeneration = nil, nil, 0
	if !reflect.ValueOf(rest).IsZero() {
		out.rest = &rest
	}
	return out
}

func (s *podStatus) into(out *corev1.PodStatus) {
	if s.rest != nil {
		*out = *s.rest
	}
	out.Phase, out.Message, out.Reason, out.NominatedNodeName = s.phase, s.message, s.reason, s.nominatedNodeName
	out.StartTime, out.Conditions, out.ObservedGeneration = s.startTime, s.conditions, s.observedGeneration
}

func (r *podRecord) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.meta.Namespace, Name: r.meta.Name}
}
