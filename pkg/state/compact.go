package state

import (
	"encoding/binary"
	"encoding/json"
	"sync"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// DefaultShareLimit bounds each of a Compactor's tables: when one is full it starts
// afresh. Values shared until then stay shared; only new objects stop finding them.
const DefaultShareLimit = 4096

// Compactor is the operator's cache transform: StripForCache, then the parts of an object
// that are equal in many objects are made one value that all of them share. The pods of
// one ReplicaSet carry the same labels, owner references, requests and limits, tolerations,
// node selector, affinity and spread constraints (and, started in the same seconds, the
// same conditions); the Nodes, NodeClaims and simulated instances (SimInstance) of one
// instance type the same capacity and allocatable; NodeClaims of one NodePool the same
// requirements and taints. Label and annotation keys and values, and other short strings
// repeated across objects (namespaces, condition types and reasons, ...), are interned
// with the unique package.
//
// A shared map or slice belongs to every object holding it, so the rule that informer
// objects are read-only (they already are shared by every reader of the cache) matters
// more: a reader that wrote into one pod's labels would change those of all its siblings.
// Corrupted finds any shared value that no longer equals what was shared, for tests that
// run the controllers over compacted objects. Objects a client reads from the cache are
// deep copies, so a controller may still change those freely.
//
// A Compactor is safe for concurrent use (informers transform from their own goroutines).
type Compactor struct {
	limit int

	mu           sync.Mutex
	resources    map[string]corev1.ResourceList
	strings      map[string]map[string]string
	owners       map[string][]metav1.OwnerReference
	tolerations  map[string][]corev1.Toleration
	taints       map[string][]corev1.Taint
	affinities   map[string]*corev1.Affinity
	spreads      map[string][]corev1.TopologySpreadConstraint
	requirements map[string][]v1.NodeSelectorRequirementWithMinValues
	containers   map[string][]corev1.Container
	specs        map[string]*corev1.PodSpec
	// podConditions are keyed by podConditionsKey, not by JSON: their keys are held as long
	// as the table, up to limit of them.
	podConditions map[string][]corev1.PodCondition
	key           []byte // podConditionsKey's buffer
}

// NewCompactor returns a Compactor whose tables hold at most limit values each
// (DefaultShareLimit when limit <= 0).
func NewCompactor(limit int) *Compactor {
	if limit <= 0 {
		limit = DefaultShareLimit
	}
	return &Compactor{
		limit:        limit,
		resources:    map[string]corev1.ResourceList{},
		strings:      map[string]map[string]string{},
		owners:       map[string][]metav1.OwnerReference{},
		tolerations:  map[string][]corev1.Toleration{},
		taints:       map[string][]corev1.Taint{},
		affinities:   map[string]*corev1.Affinity{},
		spreads:      map[string][]corev1.TopologySpreadConstraint{},
		requirements: map[string][]v1.NodeSelectorRequirementWithMinValues{},
		containers:   map[string][]corev1.Container{},
		specs:        map[string]*corev1.PodSpec{},

		podConditions: map[string][]corev1.PodCondition{},
	}
}

// Transform is the cache transform (controller-runtime cache.Options.DefaultTransform).
func (c *Compactor) Transform(obj any) (any, error) {
	obj, err := StripForCache(obj)
	if err != nil {
		return obj, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o := obj.(type) {
	case *corev1.Pod:
		c.pod(o)
	case *corev1.Node:
		// A Node's labels name its host: equal to no other's, they are not shared, only
		// their strings.
		labels := o.Labels
		o.Labels = nil
		c.meta(&o.ObjectMeta)
		o.Labels = internStrings(labels)
		o.Spec.Taints = share(c, c.taints, o.Spec.Taints)
		o.Status.Capacity = share(c, c.resources, o.Status.Capacity)
		o.Status.Allocatable = share(c, c.resources, o.Status.Allocatable)
		for i := range o.Status.Conditions {
			cond := &o.Status.Conditions[i]
			cond.Type, cond.Status = intern(cond.Type), intern(cond.Status)
			cond.Reason, cond.Message = intern(cond.Reason), intern(cond.Message)
		}
	case *v1.NodeClaim:
		c.meta(&o.ObjectMeta)
		o.Spec.Taints = share(c, c.taints, o.Spec.Taints)
		o.Spec.StartupTaints = share(c, c.taints, o.Spec.StartupTaints)
		o.Spec.Requirements = share(c, c.requirements, o.Spec.Requirements)
		o.Spec.Resources.Requests = share(c, c.resources, o.Spec.Resources.Requests)
		o.Status.Capacity = share(c, c.resources, o.Status.Capacity)
		o.Status.Allocatable = share(c, c.resources, o.Status.Allocatable)
		o.Status.ImageID = intern(o.Status.ImageID)
		c.conditions(o.Status.Conditions)
	case *appsv1.DaemonSet:
		c.meta(&o.ObjectMeta)
	case *simv1alpha1.SimInstance:
		// The simulated cloud's record of each instance: its labels name its host (their
		// strings are interned, the map is its own); its capacity, allocatable and taints
		// are its instance type's and NodePool's.
		c.meta(&o.ObjectMeta)
		sp := &o.Spec
		sp.InstanceType, sp.Zone, sp.CapacityType = intern(sp.InstanceType), intern(sp.Zone), intern(sp.CapacityType)
		sp.PricePerHour, sp.NodeClass, sp.ImageID = intern(sp.PricePerHour), intern(sp.NodeClass), intern(sp.ImageID)
		sp.Labels = internStrings(sp.Labels)
		sp.Taints = share(c, c.taints, sp.Taints)
		sp.Capacity = share(c, c.resources, sp.Capacity)
		sp.Allocatable = share(c, c.resources, sp.Allocatable)
	}
	return obj, nil
}

// pod shares what the pods of one workload have in common.
func (c *Compactor) pod(p *corev1.Pod) {
	c.meta(&p.ObjectMeta)
	p.Spec.NodeSelector = share(c, c.strings, p.Spec.NodeSelector)
	p.Spec.Tolerations = share(c, c.tolerations, p.Spec.Tolerations)
	p.Spec.Affinity = share(c, c.affinities, p.Spec.Affinity)
	p.Spec.TopologySpreadConstraints = share(c, c.spreads, p.Spec.TopologySpreadConstraints)
	p.Spec.Overhead = share(c, c.resources, p.Spec.Overhead)
	p.Spec.SchedulerName, p.Spec.PriorityClassName = intern(p.Spec.SchedulerName), intern(p.Spec.PriorityClassName)
	p.Spec.NodeName = intern(p.Spec.NodeName)
	// Trimmed (StripForCache), the containers of one template's pods are equal: one slice
	// for all of them (a container is about 400 bytes, a pod's largest part after the Pod
	// itself). A slice seen first shares its requests and limits with other templates'.
	p.Spec.InitContainers = shareWith(c, c.containers, p.Spec.InitContainers, c.containerParts)
	p.Spec.Containers = shareWith(c, c.containers, p.Spec.Containers, c.containerParts)
	p.Status.Conditions = c.sharePodConditions(p.Status.Conditions)
	p.Status.Phase = intern(p.Status.Phase)
}

// sharePodConditions shares a pod's conditions with the pods that have the same ones
// (StripForCache keeps at most PodScheduled, Ready and DisruptionTarget, with times to the
// second: the pods of a workload scheduled and started in the same seconds hold the same
// conditions). At 20,000 pods their own copies were 5 MB of the controller's heap.
func (c *Compactor) sharePodConditions(conds []corev1.PodCondition) []corev1.PodCondition {
	if len(conds) == 0 {
		return conds
	}
	c.key = podConditionsKey(c.key[:0], conds)
	return shareKeyed(c, c.podConditions, c.key, conds, func(conds []corev1.PodCondition) []corev1.PodCondition {
		for i := range conds {
			cond := &conds[i]
			cond.Type, cond.Status = intern(cond.Type), intern(cond.Status)
			cond.Reason, cond.Message = intern(cond.Reason), intern(cond.Message)
		}
		return conds
	})
}

// podConditionsKey appends to b every field of the conditions, strings with their length.
// TestPodConditionsKeySeesEveryField fails when PodCondition gains a field it leaves out.
func podConditionsKey(b []byte, conds []corev1.PodCondition) []byte {
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	for i := range conds {
		cond := &conds[i]
		b = str(b, string(cond.Type))
		b = str(b, string(cond.Status))
		b = str(b, cond.Reason)
		b = str(b, cond.Message)
		b = binary.AppendVarint(b, cond.ObservedGeneration)
		b = appendTime(b, cond.LastProbeTime)
		b = appendTime(b, cond.LastTransitionTime)
	}
	return b
}

func appendTime(b []byte, t metav1.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// PodSpec returns one read-only copy of spec, without its node name, that the pods of one
// template share: their specs differ only in where they run (the PodStore keeps a pod as
// its own metadata and status and a shared spec). spec should have been through Transform,
// so that equal parts are already one value.
func (c *Compactor) PodSpec(spec *corev1.PodSpec) *corev1.PodSpec {
	s := *spec
	s.NodeName = ""
	c.mu.Lock()
	defer c.mu.Unlock()
	return share(c, c.specs, &s)
}

// containerParts interns the containers' names and shares their requests and limits, in
// place (cs is a freshly decoded pod's own slice). The caller holds c.mu.
func (c *Compactor) containerParts(cs []corev1.Container) []corev1.Container {
	for i := range cs {
		cs[i].Name = intern(cs[i].Name)
		cs[i].Resources.Requests = share(c, c.resources, cs[i].Resources.Requests)
		cs[i].Resources.Limits = share(c, c.resources, cs[i].Resources.Limits)
	}
	return cs
}

// meta shares an object's labels, annotations and owner references, and interns its
// namespace and generated-name prefix.
func (c *Compactor) meta(m *metav1.ObjectMeta) {
	m.Namespace, m.GenerateName = intern(m.Namespace), intern(m.GenerateName)
	m.Labels = c.stringMap(m.Labels)
	m.Annotations = c.stringMap(m.Annotations)
	m.OwnerReferences = share(c, c.owners, m.OwnerReferences)
	for i := range m.Finalizers {
		m.Finalizers[i] = intern(m.Finalizers[i])
	}
}

// stringMap shares a map equal to one seen before; a map seen first has its keys and
// values interned.
func (c *Compactor) stringMap(m map[string]string) map[string]string {
	return shareWith(c, c.strings, m, internStrings)
}

// internStrings is m with its keys and values interned, a new map (m may be shared).
func internStrings(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = intern(v)
	}
	return out
}

func (c *Compactor) conditions(conds []metav1.Condition) {
	for i := range conds {
		conds[i].Type, conds[i].Status = intern(conds[i].Type), intern(conds[i].Status)
		conds[i].Reason, conds[i].Message = intern(conds[i].Reason), intern(conds[i].Message)
	}
}

// share returns the value equal to v that table holds, or records v there (keyed by its
// JSON encoding) and returns it. Empty values are not shared. The caller holds c.mu.
func share[T any](c *Compactor, table map[string]T, v T) T { return shareWith(c, table, v, nil) }

// shareWith is share, recording first(v) rather than v when v is new (first nil: v).
func shareWith[T any](c *Compactor, table map[string]T, v T, first func(T) T) T {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" || string(b) == "{}" || string(b) == "[]" {
		return v
	}
	return shareKeyed(c, table, b, v, first)
}

// shareKeyed is shareWith with v's key given: the value recorded under key, else first(v)
// (v when first is nil), recorded. A full table starts afresh.
func shareKeyed[T any](c *Compactor, table map[string]T, key []byte, v T, first func(T) T) T {
	if s, ok := table[string(key)]; ok {
		return s
	}
	if first != nil {
		v = first(v)
	}
	if len(table) >= c.limit {
		clear(table)
	}
	table[string(key)] = v
	return v
}

// Corrupted lists the shared values that have changed since they were shared (by their
// encoding when shared): a reader wrote into an informer's object.
func (c *Compactor) Corrupted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var bad []string
	check := func(key string, v any) {
		if b, err := json.Marshal(v); err != nil || string(b) != key {
			bad = append(bad, key+" is now "+string(b))
		}
	}
	checkTable(c.resources, check)
	checkTable(c.strings, check)
	checkTable(c.owners, check)
	checkTable(c.tolerations, check)
	checkTable(c.taints, check)
	checkTable(c.affinities, check)
	checkTable(c.spreads, check)
	checkTable(c.requirements, check)
	checkTable(c.containers, check)
	checkTable(c.specs, check)
	for key, conds := range c.podConditions {
		if string(podConditionsKey(nil, conds)) != key {
			b, _ := json.Marshal(conds)
			bad = append(bad, "shared pod conditions are now "+string(b))
		}
	}
	return bad
}

// checkTable checks every entry of one of the compactor's tables.
func checkTable[V any](table map[string]V, check func(key string, v any)) {
	for k, v := range table {
		check(k, v)
	}
}

// intern returns the one copy of s the process keeps (unique.Make), for strings repeated
// in many objects.
func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	return S(unique.Make(string(s)).Value())
}
