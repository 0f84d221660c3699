package scheduling

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// Resource dimensions: the four core resources, then every extended resource of the solve
// (see resTable). The first numFixedExtended extended resources live in the vector's fixed
// array; any further ones in its overflow (vec.x), so there is no limit on their number.
const (
	dimCPU = iota // milli-CPU
	dimMemory
	dimEphemeral
	dimPods
	numCore
	numFixedExtended = 4
	numFixed         = numCore + numFixedExtended
)

// maxAmount bounds every request and capacity, in the vector's units (milli-CPU, bytes,
// counts): 2^50 is a pebibyte of memory or a million million cores. A pod asking for more
// has requests the scheduler cannot read (podRequests fails); capacities and limits above
// it are taken as maxAmount. Sums of a few thousand such amounts stay within int64.
const maxAmount = 1 << 50

// vec is a resource vector in integer units (milli-CPU, bytes, counts). Dimensions below
// numFixed are the array a; higher ones are the overflow x, 8 little-endian bytes per
// dimension from numFixed on, without trailing zero words, so equal vectors are equal Go
// values (vec is a map key). Most solves have no dimension beyond the array: x is "" and
// every operation is a loop over a fixed-size array plus one string-length test. The
// overflow is immutable, so copying a vec by value is safe.
type vec struct {
	a [numFixed]int64
	x string
}

// add and sub stay within the compiler's inlining budget (the array loop, one test and an
// out-of-line call for the overflow); addScaled, fits and maxCopies are a few nodes over.

func (v *vec) add(o *vec) {
	for i := range v.a {
		v.a[i] += o.a[i]
	}
	if o.x != "" {
		v.addX(o)
	}
}

func (v *vec) sub(o *vec) {
	for i := range v.a {
		v.a[i] -= o.a[i]
	}
	if o.x != "" {
		v.subX(o)
	}
}

func (v *vec) addScaled(o *vec, k int64) {
	for i := range v.a {
		v.a[i] += o.a[i] * k
	}
	if o.x != "" {
		v.x = xCombine(v.x, o.x, k)
	}
}

// addScaledSat adds k·o (v, o and k non-negative), saturating every dimension at 2^62: for
// demand summed over every pod of a solve.
func (v *vec) addScaledSat(o *vec, k int64) {
	const top = 1 << 62
	if k <= 0 {
		return
	}
	for d := range numFixed + xLen(o.x) {
		x := o.get(d)
		if x == 0 {
			continue
		}
		if cur := v.get(d); x > (top-cur)/k {
			v.set(d, top)
		} else {
			v.set(d, cur+x*k)
		}
	}
}

// fits reports whether o fits in v.
//
// With the overflow's call it is over the compiler's inlining budget, and not inlining it
// cost about 6 % of a solve (it is the hottest function). The hot loops therefore test
//
//	v.fitsFixed(o) && (s.fixedOnly || v.fits(o))
//
// inlining the fixed dimensions, and calling fits only in a solve with an overflow.
func (v *vec) fits(o *vec) bool {
	return v.fitsFixed(o) && (noOverflow(v, o) || v.fitsX(o))
}

// fitsFixed reports whether o's fixed dimensions fit in v's (fits without the overflow).
func (v *vec) fitsFixed(o *vec) bool {
	for i := range v.a {
		if o.a[i] > v.a[i] {
			return false
		}
	}
	return true
}

// noOverflow reports whether neither vector has a dimension beyond the fixed ones.
func noOverflow(v, o *vec) bool { return len(v.x)|len(o.x) == 0 }

// fitsX is fits for the overflow.
//
//go:noinline
func (v *vec) fitsX(o *vec) bool {
	for i := range max(xLen(v.x), xLen(o.x)) {
		if xAt(o.x, i) > xAt(v.x, i) {
			return false
		}
	}
	return true
}

// addX adds o's overflow to v's.
//
//go:noinline
func (v *vec) addX(o *vec) { v.x = xCombine(v.x, o.x, 1) }

// subX subtracts o's overflow from v's.
//
//go:noinline
func (v *vec) subX(o *vec) { v.x = xCombine(v.x, o.x, -1) }

// maxCopies is how many copies of o fit in v (o must be non-negative). Like fits, it is
// over the inlining budget; fillByValue, its hottest caller, tests maxCopiesFixed first.
func (v *vec) maxCopies(o *vec, limit int64) int64 {
	n := v.maxCopiesFixed(o, limit)
	if n > 0 && !noOverflow(v, o) {
		n = max(v.maxCopiesX(o, n), 0)
	}
	return n
}

// maxCopiesFixed is maxCopies over the fixed dimensions only (inlined).
func (v *vec) maxCopiesFixed(o *vec, limit int64) int64 {
	n := limit
	for i := range v.a {
		if o.a[i] <= 0 {
			if v.a[i] < 0 {
				return 0
			}
			continue
		}
		if k := v.a[i] / o.a[i]; k < n {
			n = k
		}
	}
	return max(n, 0)
}

// maxCopiesX is maxCopies for the overflow.
func (v *vec) maxCopiesX(o *vec, n int64) int64 {
	for i := range max(xLen(v.x), xLen(o.x)) {
		have, want := xAt(v.x, i), xAt(o.x, i)
		if want <= 0 {
			if have < 0 {
				return 0
			}
			continue
		}
		n = min(n, have/want)
	}
	return n
}

// get returns dimension d.
func (v *vec) get(d int) int64 {
	if d < numFixed {
		return v.a[d]
	}
	return xAt(v.x, d-numFixed)
}

// set sets dimension d.
func (v *vec) set(d int, val int64) {
	if d < numFixed {
		v.a[d] = val
		return
	}
	w := xWords(v.x, d-numFixed+1)
	w[d-numFixed] = val
	v.x = xString(w)
}

// maxWith sets every dimension to the larger of v's and o's.
func (v *vec) maxWith(o *vec) {
	for i := range v.a {
		v.a[i] = max(v.a[i], o.a[i])
	}
	if o.x != "" || v.x != "" {
		w := xWords(v.x, xLen(o.x))
		for i := range w {
			w[i] = max(w[i], xAt(o.x, i))
		}
		v.x = xString(w)
	}
}

// clamp bounds every dimension to [lo, hi].
func (v *vec) clamp(lo, hi int64) {
	for i := range v.a {
		v.a[i] = min(max(v.a[i], lo), hi)
	}
	if v.x != "" {
		w := xWords(v.x, 0)
		for i := range w {
			w[i] = min(max(w[i], lo), hi)
		}
		v.x = xString(w)
	}
}

// above reports whether some dimension exceeds limit.
func (v *vec) above(limit int64) bool {
	for i := range v.a {
		if v.a[i] > limit {
			return true
		}
	}
	for i := range xLen(v.x) {
		if xAt(v.x, i) > limit {
			return true
		}
	}
	return false
}

// The overflow encoding: word i (dimension numFixed+i) is x[8i:8i+8], little-endian.

func xLen(x string) int { return len(x) / 8 }

func xAt(x string, i int) int64 {
	if 8*i+8 > len(x) {
		return 0
	}
	s := x[8*i : 8*i+8]
	return int64(uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56)
}

// xWords decodes x into at least n words.
func xWords(x string, n int) []int64 {
	w := make([]int64, max(n, xLen(x)))
	for i := range xLen(x) {
		w[i] = xAt(x, i)
	}
	return w
}

// xString encodes words, dropping trailing zeros.
func xString(w []int64) string {
	for len(w) > 0 && w[len(w)-1] == 0 {
		w = w[:len(w)-1]
	}
	if len(w) == 0 {
		return ""
	}
	b := make([]byte, 8*len(w))
	for i, x := range w {
		u := uint64(x)
		for j := range 8 {
			b[8*i+j] = byte(u >> (8 * j))
		}
	}
	return string(b)
}

// xCombine is a + k·b.
func xCombine(a, b string, k int64) string {
	w := xWords(a, xLen(b))
	for i := range xLen(b) {
		w[i] += k * xAt(b, i)
	}
	return xString(w)
}

// resTable maps the resource names of one solve to vector dimensions. It is filled once,
// before anything is converted (intern), and read-only afterwards: names it does not know
// are dropped, which is right for capacities (no pod asks for them) and for the requests of
// running pods (no pending pod competes for them).
type resTable struct {
	extended []corev1.ResourceName // dimension numCore+i
	index    map[corev1.ResourceName]int
}

// intern gives every extended resource the pods request (or limit) a dimension, then the
// extra names (NodePool limits). The resources most pods ask for come first, so they get
// the fixed slots and the overflow is used, if at all, by the rarest.
func (t *resTable) intern(podLists [][]*corev1.Pod, extra []corev1.ResourceName) {
	count := map[corev1.ResourceName]int{}
	note := func(l corev1.ResourceList) {
		for name := range l {
			if !isCore(name) {
				count[name]++
			}
		}
	}
	for _, pods := range podLists {
		for _, p := range pods {
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					note(cs[i].Resources.Requests)
					note(cs[i].Resources.Limits)
				}
			}
			note(p.Spec.Overhead)
			if r := p.Spec.Resources; r != nil {
				note(r.Requests)
				note(r.Limits)
			}
		}
	}
	names := make([]corev1.ResourceName, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	for _, n := range append(names, extra...) {
		t.add(n)
	}
}

func (t *resTable) add(name corev1.ResourceName) {
	if _, ok := t.slot(name); ok || isCore(name) {
		return
	}
	if t.index == nil {
		t.index = map[corev1.ResourceName]int{}
	}
	t.index[name] = numCore + len(t.extended)
	t.extended = append(t.extended, name)
}

func isCore(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		return true
	}
	return false
}

// dims is the number of dimensions in use.
func (t *resTable) dims() int { return numCore + len(t.extended) }

func (t *resTable) slot(name corev1.ResourceName) (int, bool) {
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
	if len(t.extended) <= numFixedExtended {
		for i, n := range t.extended {
			if n == name {
				return numCore + i, true
			}
		}
		return 0, false
	}
	d, ok := t.index[name]
	return d, ok
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

// limitIn is maxAmount in the quantity's own unit: cores for cpu (rounded down), else units.
func limitIn(slot int) int64 {
	if slot == dimCPU {
		return maxAmount / 1000
	}
	return maxAmount
}

// quantityValue converts a quantity to the slot's unit, saturating at ±maxAmount.
func quantityValue(slot int, q resource.Quantity) int64 {
	switch lim := limitIn(slot); {
	case q.CmpInt64(lim) > 0:
		return maxAmount
	case q.CmpInt64(-lim) < 0:
		return -maxAmount
	case slot == dimCPU:
		return q.MilliValue()
	}
	return q.Value()
}

// requestValue converts a requested quantity, which must lie in [0, maxAmount].
func requestValue(slot int, q resource.Quantity) (int64, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("negative quantity %s", q.String())
	}
	if lim := limitIn(slot); q.CmpInt64(lim) > 0 {
		return 0, fmt.Errorf("quantity %s is above the supported %d", q.String(), lim)
	}
	if slot == dimCPU {
		return q.MilliValue(), nil
	}
	return q.Value(), nil
}

// fromList converts a list of requests; names the table does not know are dropped. Of
// several unreadable quantities the first by name is reported, so the error is the same on
// every run.
func (t *resTable) fromList(l corev1.ResourceList) (vec, error) {
	var v vec
	var bad corev1.ResourceName
	var firstErr error
	for name, q := range l {
		if err := t.addRequest(&v, name, q); err != nil && (firstErr == nil || name < bad) {
			bad, firstErr = name, err
		}
	}
	return v, firstErr
}

func (t *resTable) addRequest(v *vec, name corev1.ResourceName, q resource.Quantity) error {
	slot, ok := t.slot(name)
	if !ok {
		return nil
	}
	x, err := requestValue(slot, q)
	if err != nil {
		return fmt.Errorf("reading request %s: %w", name, err)
	}
	if slot < numFixed {
		v.a[slot] += x
	} else {
		v.set(slot, v.get(slot)+x)
	}
	return nil
}

// vecOf converts a capacity list (saturating, see quantityValue), dropping names the table
// does not know.
func (t *resTable) vecOf(l corev1.ResourceList) vec {
	var v vec
	for name, q := range l {
		if slot, ok := t.slot(name); ok {
			v.set(slot, min(v.get(slot)+quantityValue(slot, q), maxAmount))
		}
	}
	return v
}

// toList converts a vector back, omitting zero dimensions other than cpu and memory.
func (t *resTable) toList(v vec) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := range t.dims() {
		x := v.get(i)
		if x == 0 && i != dimCPU && i != dimMemory {
			continue
		}
		if i == dimCPU {
			l[t.name(i)] = *resource.NewMilliQuantity(x, resource.DecimalSI)
			continue
		}
		format := resource.DecimalSI
		if i == dimMemory || i == dimEphemeral {
			format = resource.BinarySI
		}
		l[t.name(i)] = *resource.NewQuantity(x, format)
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
	v, err := t.fromList(r.Requests)
	if err != nil || len(r.Limits) == 0 {
		return v, err
	}
	var bad corev1.ResourceName
	var firstErr error
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if err := t.addRequest(&v, name, q); err != nil && (firstErr == nil || name < bad) {
			bad, firstErr = name, err
		}
	}
	return v, firstErr
}

// podRequests applies the Kubernetes rule: the pod needs the larger of (app containers plus
// sidecars) and, for every classic init container, itself plus the sidecars started before
// it; requests the pod sets for itself as a whole replace those (pods.PodLevelRequests);
// then the pod overhead is added. Every pod also takes one "pods" slot. A container's
// requests default to its limits (containerRequests). It fails when a quantity is negative
// or the pod needs more than maxAmount of something: such a pod is unschedulable, and on a
// node it makes the node full (occupy), never a pod that uses nothing.
func (t *resTable) podRequests(spec *corev1.PodSpec) (vec, error) {
	var sum, sidecars, initPeak vec
	for i := range spec.Containers {
		r, err := t.containerRequests(&spec.Containers[i].Resources)
		if err != nil {
			return sum, err
		}
		sum.add(&r)
		if sum.above(maxAmount) {
			return sum, errTooLarge
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
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
		if sum.above(maxAmount) || r.above(maxAmount) {
			return sum, errTooLarge
		}
		initPeak.maxWith(&r)
	}
	sum.maxWith(&initPeak)
	if spec.Resources != nil {
		containers := sum
		for name, q := range pods.PodLevelRequests(spec, func(name corev1.ResourceName) bool {
			slot, ok := t.slot(name)
			return ok && containers.get(slot) > 0
		}) {
			slot, ok := t.slot(name)
			if !ok {
				continue
			}
			x, err := requestValue(slot, q)
			if err != nil {
				return sum, fmt.Errorf("reading pod-level request %s: %w", name, err)
			}
			sum.set(slot, x)
		}
	}
	if spec.Overhead != nil {
		o, err := t.fromList(spec.Overhead)
		if err != nil {
			return sum, fmt.Errorf("overhead: %w", err)
		}
		sum.add(&o)
	}
	if sum.above(maxAmount) {
		return sum, errTooLarge
	}
	sum.a[dimPods] = 1
	return sum, nil
}

var errTooLarge = fmt.Errorf("reading requests: the pod needs more than %d units of a resource", int64(maxAmount))
