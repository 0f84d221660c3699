package scheduling

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// keyReq is the set of values a label key may take: a finite set (complement false) or
// everything except a finite set (complement true), optionally bounded as an integer, and
// whether the label may be absent.
type keyReq struct {
	key         string
	complement  bool
	values      []string // sorted, unique
	allowAbsent bool
	gt, lt      int64 // exclusive integer bounds; math.MinInt64 / math.MaxInt64 when unset
	minValues   int
}

// reqSet is a conjunction of keyReqs sorted by key, at most one per key.
type reqSet []keyReq

// NormalizedKey maps the deprecated label keys kube-scheduler still honours on nodes
// (beta.kubernetes.io/arch, failure-domain.beta.kubernetes.io/zone, ...) to their stable
// names; other keys are returned as they are. Requirements are kept under the stable key, and
// nodes launched for them carry both labels.
func NormalizedKey(key string) string {
	switch key {
	case "beta.kubernetes.io/arch":
		return corev1.LabelArchStable
	case "beta.kubernetes.io/os":
		return corev1.LabelOSStable
	case corev1.LabelInstanceType:
		return corev1.LabelInstanceTypeStable
	case corev1.LabelFailureDomainBetaZone:
		return corev1.LabelTopologyZone
	case corev1.LabelFailureDomainBetaRegion:
		return corev1.LabelTopologyRegion
	}
	return key
}

// DeprecatedKeys lists the deprecated aliases of NormalizedKey, alias first.
func DeprecatedKeys() [][2]string {
	return [][2]string{
		{"beta.kubernetes.io/arch", corev1.LabelArchStable},
		{"beta.kubernetes.io/os", corev1.LabelOSStable},
		{corev1.LabelInstanceType, corev1.LabelInstanceTypeStable},
		{corev1.LabelFailureDomainBetaZone, corev1.LabelTopologyZone},
		{corev1.LabelFailureDomainBetaRegion, corev1.LabelTopologyRegion},
	}
}

func anyValue(key string) keyReq {
	key = NormalizedKey(key)
	return keyReq{key: key, complement: true, allowAbsent: true, gt: math.MinInt64, lt: math.MaxInt64}
}

// newKeyReq compiles one requirement.
func newKeyReq(key, op string, values []string) (keyReq, error) {
	r := anyValue(key)
	vals := slices.Clone(values)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	switch op {
	case string(corev1.NodeSelectorOpIn):
		r.complement, r.values, r.allowAbsent = false, vals, false
	case string(corev1.NodeSelectorOpNotIn):
		r.values = vals
	case string(corev1.NodeSelectorOpExists):
		r.allowAbsent = false
	case string(corev1.NodeSelectorOpDoesNotExist):
		r.complement = false
	case "Gt", "Lt", "Gte", "Lte":
		if len(values) != 1 {
			return r, fmt.Errorf("requirement %s %s needs exactly one value, got %d", key, op, len(values))
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return r, fmt.Errorf("requirement %s %s: %w", key, op, err)
		}
		r.allowAbsent = false
		switch op {
		case "Gt":
			r.gt = n
		case "Gte":
			r.gt = n - 1
		case "Lt":
			r.lt = n
		default:
			r.lt = n + 1
		}
	default:
		return r, fmt.Errorf("requirement %s: unknown operator %q", key, op)
	}
	return r, nil
}

func (r *keyReq) hasValue(v string) bool {
	_, found := slices.BinarySearch(r.values, v)
	if found == r.complement {
		return false
	}
	if r.gt != math.MinInt64 || r.lt != math.MaxInt64 {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= r.gt || n >= r.lt {
			return false
		}
	}
	return true
}

// matches reports whether a node label (value, present) satisfies r.
func (r *keyReq) matches(v string, present bool) bool {
	if !present {
		return r.allowAbsent
	}
	return r.hasValue(v)
}

// noValue reports whether no label value satisfies r.
func (r *keyReq) noValue() bool {
	if r.gt != math.MinInt64 && r.lt != math.MaxInt64 && r.gt >= r.lt-1 {
		return true
	}
	return !r.complement && len(r.values) == 0
}

// empty reports whether nothing (not even absence) satisfies r.
func (r *keyReq) empty() bool { return !r.allowAbsent && r.noValue() }

func intersectKey(a, b keyReq) keyReq {
	out := keyReq{key: a.key, allowAbsent: a.allowAbsent && b.allowAbsent,
		gt: max(a.gt, b.gt), lt: min(a.lt, b.lt), minValues: max(a.minValues, b.minValues)}
	switch {
	case a.complement && b.complement:
		out.complement = true
		out.values = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.values), b.values...))))
	case !a.complement && !b.complement:
		for _, v := range a.values {
			if _, ok := slices.BinarySearch(b.values, v); ok {
				out.values = append(out.values, v)
			}
		}
	default:
		set, comp := a, b
		if a.complement {
			set, comp = b, a
		}
		for _, v := range set.values {
			if _, ok := slices.BinarySearch(comp.values, v); !ok {
				out.values = append(out.values, v)
			}
		}
	}
	if !out.complement && (out.gt != math.MinInt64 || out.lt != math.MaxInt64) {
		kept := out.values[:0:0]
		for _, v := range out.values {
			if out.hasValue(v) {
				kept = append(kept, v)
			}
		}
		out.values = kept
	}
	return out
}

func (s reqSet) get(key string) (*keyReq, bool) {
	i, ok := slices.BinarySearchFunc(s, key, func(r keyReq, k string) int { return strings.Compare(r.key, k) })
	if !ok {
		return nil, false
	}
	return &s[i], true
}

// with returns s ∧ r as a new set.
func (s reqSet) with(r keyReq) reqSet {
	out := slices.Clone(s)
	i, ok := slices.BinarySearchFunc(out, r.key, func(x keyReq, k string) int { return strings.Compare(x.key, k) })
	if ok {
		out[i] = intersectKey(out[i], r)
		return out
	}
	return slices.Insert(out, i, r)
}

// and returns s ∧ o and the first key whose values became empty ("" when none).
func (s reqSet) and(o reqSet) (reqSet, string) {
	out := slices.Clone(s)
	for _, r := range o {
		out = out.with(r)
	}
	for i := range out {
		if out[i].empty() {
			return out, out[i].key
		}
	}
	return out, ""
}

// matchesLabels reports whether a node with these labels satisfies every requirement.
func (s reqSet) matchesLabels(labels map[string]string) bool {
	for i := range s {
		v, ok := labels[s[i].key]
		if !s[i].matches(v, ok) {
			return false
		}
	}
	return true
}

// String renders one requirement the way users write it.
func (r *keyReq) String() string {
	switch {
	case !r.complement && len(r.values) == 0 && r.allowAbsent:
		return r.key + " DoesNotExist"
	case !r.complement:
		return fmt.Sprintf("%s In [%s]", r.key, strings.Join(r.values, " "))
	case r.gt != math.MinInt64 || r.lt != math.MaxInt64:
		return fmt.Sprintf("%s in (%d, %d)", r.key, r.gt, r.lt)
	case len(r.values) > 0:
		return fmt.Sprintf("%s NotIn [%s]", r.key, strings.Join(r.values, " "))
	case r.allowAbsent:
		return r.key + " any"
	}
	return r.key + " Exists"
}

// compileRequirements turns exported Requirements into a reqSet.
func compileRequirements(reqs []Requirement) (reqSet, error) {
	var s reqSet
	for _, r := range reqs {
		kr, err := newKeyReq(r.Key, r.Operator, r.Values)
		if err != nil {
			return nil, err
		}
		if r.MinValues != nil {
			kr.minValues = *r.MinValues
		}
		s = s.with(kr)
	}
	return s, nil
}

func compileSelectorTerm(exprs []corev1.NodeSelectorRequirement) (reqSet, error) {
	var s reqSet
	for _, e := range exprs {
		kr, err := newKeyReq(e.Key, string(e.Operator), e.Values)
		if err != nil {
			return nil, err
		}
		s = s.with(kr)
	}
	return s, nil
}

func labelsAsReqs(labels map[string]string) reqSet {
	var s reqSet
	for k, v := range labels {
		s = s.with(keyReq{key: NormalizedKey(k), values: []string{v}, gt: math.MinInt64, lt: math.MaxInt64})
	}
	return s
}

// toRequirements exports a reqSet (minValues kept).
func (s reqSet) toRequirements() []Requirement {
	out := make([]Requirement, 0, len(s))
	for i := range s {
		r := &s[i]
		var req Requirement
		switch {
		case r.gt != math.MinInt64 && r.lt == math.MaxInt64:
			req = Requirement{Key: r.key, Operator: "Gt", Values: []string{strconv.FormatInt(r.gt, 10)}}
		case r.lt != math.MaxInt64 && r.gt == math.MinInt64:
			req = Requirement{Key: r.key, Operator: "Lt", Values: []string{strconv.FormatInt(r.lt, 10)}}
		case !r.complement && len(r.values) == 0:
			req = Requirement{Key: r.key, Operator: "DoesNotExist"}
		case !r.complement:
			req = Requirement{Key: r.key, Operator: "In", Values: slices.Clone(r.values)}
		case len(r.values) > 0:
			req = Requirement{Key: r.key, Operator: "NotIn", Values: slices.Clone(r.values)}
		case !r.allowAbsent:
			req = Requirement{Key: r.key, Operator: "Exists"}
		default:
			continue
		}
		if r.minValues > 0 {
			mv := r.minValues
			req.MinValues = &mv
		}
		out = append(out, req)
	}
	return out
}
