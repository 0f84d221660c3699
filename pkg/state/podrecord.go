package state

import (
	"cmp"
	"slices"
	"sync/atomic"
	"weak"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// podRecord is a pod as the state and the PodStore keep it: its metadata and status, and a
// spec it shares with the other pods of its template (Compactor.PodSpec), without the node
// name, which is kept beside it. A corev1.Pod is 1,240 bytes before any of its contents,
// most of it the spec; 20,000 pods held as Pods were a quarter of the controller's heap.
// Readers get a Pod built from it (pod), one Pod for all of them while any holds it; the
// Pod, and the maps and slices it shares with the record and with other pods, are
// read-only, as informer objects are.
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
	// built is the Pod pod last built, while anything still holds it: the readers that
	// keep a pod (a candidate's movers, a nominated pod, a pending pod) share one Pod per
	// record. Those that read every pod and keep none (a pass's rules, a scrape) use
	// PodRef.Into instead, and the scheduler reads the record's parts (Objects' Running).
	built atomic.Pointer[weak.Pointer[corev1.Pod]]
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

// pod returns the Pod the record keeps, read only: built afresh, or the one built before
// if something still holds it.
func (r *podRecord) pod() *corev1.Pod {
	if w := r.built.Load(); w != nil {
		if p := w.Value(); p != nil {
			return p
		}
	}
	p := &corev1.Pod{ObjectMeta: r.meta, Spec: *r.spec}
	p.Spec.NodeName = r.node
	r.status.into(&p.Status)
	w := weak.Make(p)
	r.built.Store(&w)
	return p
}

// podStatus is the part of a PodStatus that is set once StripForCache trimmed it, in a
// fifth of its size; rest keeps the other fields when some is set (a message, a
// nomination, a resize, resource claims, ...). Kept this small, a podRecord fits the
// allocator's 352-byte class rather than its 384-byte one.
type podStatus struct {
	phase              corev1.PodPhase
	startTime          *metav1.Time
	conditions         []corev1.PodCondition
	observedGeneration int64
	rest               *corev1.PodStatus
}

func newPodStatus(s *corev1.PodStatus) podStatus {
	out := podStatus{phase: s.Phase, startTime: s.StartTime, conditions: s.Conditions, observedGeneration: s.ObservedGeneration}
	if hasRest(s) {
		out.rest = new(corev1.PodStatus)
		*out.rest = *s
		out.rest.Phase, out.rest.StartTime, out.rest.Conditions, out.rest.ObservedGeneration = "", nil, nil, 0
	}
	return out
}

// hasRest reports whether a status sets a field podStatus does not keep itself.
// TestPodStatusKeepsEveryField fails when PodStatus gains a field this does not name.
func hasRest(s *corev1.PodStatus) bool {
	return s.Message != "" || s.Reason != "" || s.NominatedNodeName != "" ||
		s.HostIP != "" || len(s.HostIPs) > 0 || s.PodIP != "" || len(s.PodIPs) > 0 ||
		len(s.InitContainerStatuses) > 0 || len(s.ContainerStatuses) > 0 || len(s.EphemeralContainerStatuses) > 0 ||
		s.QOSClass != "" || s.Resize != "" || len(s.ResourceClaimStatuses) > 0 || s.ExtendedResourceClaimStatus != nil ||
		len(s.AllocatedResources) > 0 || s.Resources != nil || len(s.NodeAllocatableResourceClaimStatuses) > 0 ||
		len(s.VolumeHealth) > 0
}

func (s *podStatus) into(out *corev1.PodStatus) {
	if s.rest != nil {
		*out = *s.rest
	}
	out.Phase, out.StartTime, out.Conditions, out.ObservedGeneration = s.phase, s.startTime, s.conditions, s.observedGeneration
}

// requests is pods.Requests of the pod, which reads only its spec: no Pod is built.
func (r *podRecord) requests() corev1.ResourceList {
	return pods.Requests(&corev1.Pod{Spec: *r.spec})
}

func (r *podRecord) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.meta.Namespace, Name: r.meta.Name}
}

// PodRef is one pod as the state held it when it was read: records never change, so a
// PodRef taken with others is a consistent view of them however the state moves on. Pod
// builds the pod only when asked (read only, shared while anything holds it), so a reader
// that goes through 20,000 pods one node at a time, or looks at a few of them, does not
// hold a Pod for each. A PodRef may also hold a Pod read elsewhere (RefOf).
type PodRef struct {
	r   *podRecord
	pod *corev1.Pod
}

// RefOf is a PodRef to a pod read elsewhere (a List), read only.
func RefOf(pod *corev1.Pod) PodRef { return PodRef{pod: pod} }

// Pod is the pod, read only.
func (p PodRef) Pod() *corev1.Pod {
	if p.pod != nil {
		return p.pod
	}
	return p.r.pod()
}

// Into writes the pod into out, sharing its maps and slices (read only): a reader that
// looks at many pods one after the other and keeps none of them reuses one Pod instead of
// building one each.
func (p PodRef) Into(out *corev1.Pod) {
	if p.pod != nil {
		*out = *p.pod
		return
	}
	*out = corev1.Pod{ObjectMeta: p.r.meta, Spec: *p.r.spec}
	out.Spec.NodeName = p.r.node
	p.r.status.into(&out.Status)
}

// NodeName is the pod's spec.nodeName, without building the pod.
func (p PodRef) NodeName() string {
	if p.pod != nil {
		return p.pod.Spec.NodeName
	}
	return p.r.node
}

// PodRefs returns every pod the state holds, bound or not, in no particular order.
func (c *Cluster) PodRefs() []PodRef {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]PodRef, 0, len(c.pods))
	for _, r := range c.pods {
		out = append(out, PodRef{r: r})
	}
	return out
}

// BoundPods returns, by node name, the pods bound to each node, in namespace and name
// order, as refs: no Pod is built.
func (c *Cluster) BoundPods() map[string][]PodRef {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string][]PodRef, len(c.podsOnNode))
	for node := range c.podsOnNode {
		records := c.recordsOn(node)
		refs := make([]PodRef, len(records))
		for i, r := range records {
			refs[i] = PodRef{r: r}
		}
		out[node] = refs
	}
	return out
}

// recordsOn are the records of the pods bound to the node, in namespace and name order.
// The caller holds c.mu.
func (c *Cluster) recordsOn(node string) []*podRecord {
	keys := c.podsOnNode[node]
	out := make([]*podRecord, 0, len(keys))
	for key := range keys {
		if r := c.pods[key]; r != nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *podRecord) int {
		return cmp.Or(cmp.Compare(a.meta.Namespace, b.meta.Namespace), cmp.Compare(a.meta.Name, b.meta.Name))
	})
	return out
}
