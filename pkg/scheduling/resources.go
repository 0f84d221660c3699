package scheduling

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resource vector slots: the four core resources, then up to maxExtended extended ones.
const (
	dimCPU = iota // milli-CPU
	dimMemory
	dimEphemeral
	dimPods
	numCore
	maxExtended = 4
	numDims     = numCore + maxExtended
)

// vec is a resource vector in integer units (milli-CPU, bytes, counts).
type vec [numDims]int64

func (v *vec) add(o *vec) {
	for i := range v {
		v[i] += o[i]
	}
}

func (v *vec) sub(o *vec) {
	for i := range v {
		v[i] -= o[i]
	}
}

func (v *vec) addScaled(o *vec, k int64) {
	for i := range v {
		v[i] += o[i] * k
	}
}

// fits reports whether o fits in v.
func (v *vec) fits(o *vec) bool {
	for i := range v {
		if o[i] > v[i] {
			return false
		}
	}
	return true
}

// maxCopies is how many copies of o fit in v (o must be non-negative).
func (v *vec) maxCopies(o *vec, limit int64) int64 {
	n := limit
	for i := range v {
		if o[i] <= 0 {
			if v[i] < 0 {
				return 0
			}
			continue
		}
		if k := v[i] / o[i]; k < n {
			n = k
		}
	}
	if n < 0 {
		return 0
	}
	return n
}

// resTable interns resource names into vector slots for one solve.
type resTable struct {
	extended []corev1.ResourceName
}

func (t *resTable) slot(name corev1.ResourceName, create bool) (int, bool) {
	switch name {
	case corev1.ResourceCPU:
		return dimCPU, true
	case corev1.ResourceMemory:
		return dimMemory, true
	case corev1.ResourceEphemeralStorage:
		return dimEphemeral, true
	case corev1.ResourcePods:
		return dimPods, true
	}
	for i, n := range t.extended {
		if n == name {
			return numCore + i, true
		}
	}
	if !create || len(t.extended) == maxExtended {
		return 0, false
	}
	t.extended = append(t.extended, name)
	return numCore + len(t.extended) - 1, true
}

func (t *resTable) name(slot int) corev1.ResourceName {
	switch slot {
	case dimCPU:
		return corev1.ResourceCPU
	case dimMemory:
		return corev1.ResourceMemory
	case dimEphemeral:
		return corev1.ResourceEphemeralStorage
	case dimPods:
		return corev1.ResourcePods
	}
	return t.extended[slot-numCore]
}

func quantityValue(slot int, q resource.Quantity) int64 {
	if slot == dimCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// fromList converts a resource list. Requests for names that do not fit in the table are
// reported by name so the pod can be declared unschedulable; capacities of unknown names are
// dropped (no pod asks for them).
func (t *resTable) fromList(l corev1.ResourceList, create bool) (vec, error) {
	var v vec
	for _, name := range sortedNames(l) {
		slot, ok := t.slot(name, create)
		if !ok {
			if create {
				return v, fmt.Errorf("more than %d distinct extended resources requested, %q not supported", maxExtended, name)
			}
			continue
		}
		v[slot] += quantityValue(slot, l[name])
	}
	return v, nil
}

// vecOf converts a capacity list in any order, dropping names the table does not know.
func (t *resTable) vecOf(l corev1.ResourceList) vec {
	var v vec
	for name, q := range l {
		if slot, ok := t.slot(name, false); ok {
			v[slot] += quantityValue(slot, q)
		}
	}
	return v
}

// toList converts a vector back, omitting zero slots other than cpu and memory.
func (t *resTable) toList(v vec) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := range numCore + len(t.extended) {
		if v[i] == 0 && i != dimCPU && i != dimMemory {
			continue
		}
		if i == dimCPU {
			l[t.name(i)] = *resource.NewMilliQuantity(v[i], resource.DecimalSI)
			continue
		}
		format := resource.DecimalSI
		if i == dimMemory || i == dimEphemeral {
			format = resource.BinarySI
		}
		l[t.name(i)] = *resource.NewQuantity(v[i], format)
	}
	return l
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// containerRequests is a container's effective requests: Kubernetes defaults the request of
// every resource that has a limit but no request to that limit.
func (t *resTable) containerRequests(r *corev1.ResourceRequirements) (vec, error) {
	v, err := t.fromList(r.Requests, true)
	if err != nil || len(r.Limits) == 0 {
		return v, err
	}
	for _, name := range sortedNames(r.Limits) {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		slot, ok := t.slot(name, true)
		if !ok {
			return v, fmt.Errorf("more than %d distinct extended resources requested, %q not supported", maxExtended, name)
		}
		v[slot] += quantityValue(slot, r.Limits[name])
	}
	return v, nil
}

// podRequests applies the Kubernetes rule: the pod needs the larger of (app containers plus
// sidecars) and, for every classic init container, itself plus the sidecars started before
// it; then the pod overhead is added. Every pod also takes one "pods" slot. A container's
// requests default to its limits (containerRequests).
func (t *resTable) podRequests(pod *corev1.Pod) (vec, error) {
	var sum, sidecars, initPeak vec
	for i := range pod.Spec.Containers {
		r, err := t.containerRequests(&pod.Spec.Containers[i].Resources)
		if err != nil {
			return sum, err
		}
		sum.add(&r)
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r, err := t.containerRequests(&c.Resources)
		if err != nil {
			return sum, err
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum.add(&r)
			sidecars.add(&r)
			r = sidecars
		} else {
			r.add(&sidecars)
		}
		for d := range initPeak {
			initPeak[d] = max(initPeak[d], r[d])
		}
	}
	for d := range sum {
		sum[d] = max(sum[d], initPeak[d])
	}
	if pod.Spec.Overhead != nil {
		o, err := t.fromList(pod.Spec.Overhead, true)
		if err != nil {
			return sum, err
		}
		sum.add(&o)
	}
	sum[dimPods] = 1
	return sum, nil
}
