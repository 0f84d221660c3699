package labelreq

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Req is the set of values a label key may take: a finite set (complement false) or
// everything except a finite set (complement true), optionally bounded as an integer, and
// whether the label may be absent.
type Req struct {
	Key         string
	Complement  bool
	Values      []string // sorted, unique
	AllowAbsent bool
	// Integer means a present value must parse as an integer within [Min, Max] (Gt, Lt,
	// Gte, Lte); Min > Max allows none. Without it, Min and Max are the int64 range.
	Integer   bool
	Min, Max  int64
	MinValues int
}

// Set is a conjunction of Reqs sorted by key, at most one per key.
type Set []Req

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

// Any is the requirement every node meets: any value, or none.
func Any(key string) Req {
	key = NormalizedKey(key)
	return Req{Key: key, Complement: true, AllowAbsent: true, Min: math.MinInt64, Max: math.MaxInt64}
}

// In is the requirement that key is present with one of values.
func In(key string, values ...string) Req {
	r := Any(key)
	r.Complement, r.AllowAbsent = false, false
	r.Values = slices.Compact(slices.Sorted(slices.Values(values)))
	return r
}

// New compiles one requirement: a node selector operator (In, NotIn, Exists, DoesNotExist,
// Gt, Lt) or Gte / Lte, on a key read as NormalizedKey.
func New(key, op string, values []string) (Req, error) {
	r := Any(key)
	vals := slices.Clone(values)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	switch op {
	case string(corev1.NodeSelectorOpIn):
		r.Complement, r.Values, r.AllowAbsent = false, vals, false
	case string(corev1.NodeSelectorOpNotIn):
		r.Values = vals
	case string(corev1.NodeSelectorOpExists):
		r.AllowAbsent = false
	case string(corev1.NodeSelectorOpDoesNotExist):
		r.Complement = false
	case "Gt", "Lt", "Gte", "Lte":
		if len(values) != 1 {
			return r, fmt.Errorf("requirement %s %s needs exactly one value, got %d", key, op, len(values))
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return r, fmt.Errorf("requirement %s %s: %w", key, op, err)
		}
		r.AllowAbsent, r.Integer = false, true
		switch {
		case op == "Gte":
			r.Min = n
		case op == "Lte":
			r.Max = n
		case op == "Gt" && n < math.MaxInt64:
			r.Min = n + 1
		case op == "Lt" && n > math.MinInt64:
			r.Max = n - 1
		default: // Gt MaxInt64, Lt MinInt64: no integer
			r.Min, r.Max = 1, 0
		}
	default:
		return r, fmt.Errorf("requirement %s: unknown operator %q", key, op)
	}
	return r, nil
}

// HasValue reports whether a present label with value v satisfies r.
func (r *Req) HasValue(v string) bool {
	_, found := slices.BinarySearch(r.Values, v)
	if found == r.Complement {
		return false
	}
	if r.Integer {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < r.Min || n > r.Max {
			return false
		}
	}
	return true
}

// Matches reports whether a node label (value, present) satisfies r.
func (r *Req) Matches(v string, present bool) bool {
	if !present {
		return r.AllowAbsent
	}
	return r.HasValue(v)
}

// NoValue reports whether no label value satisfies r.
func (r *Req) NoValue() bool {
	if r.Integer && r.Min > r.Max {
		return true
	}
	return !r.Complement && len(r.Values) == 0
}

// Empty reports whether nothing (not even absence) satisfies r.
func (r *Req) Empty() bool { return !r.AllowAbsent && r.NoValue() }

// Intersect is a ∧ b, on a's key: what both allow, the tighter bounds and the larger
// MinValues.
func Intersect(a, b Req) Req {
	out := Req{Key: a.Key, AllowAbsent: a.AllowAbsent && b.AllowAbsent,
		Integer: a.Integer || b.Integer, Min: math.MinInt64, Max: math.MaxInt64, MinValues: max(a.MinValues, b.MinValues)}
	for _, x := range []*Req{&a, &b} {
		if x.Integer {
			out.Min, out.Max = max(out.Min, x.Min), min(out.Max, x.Max)
		}
	}
	switch {
	case a.Complement && b.Complement:
		out.Complement = true
		out.Values = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Values), b.Values...))))
	case !a.Complement && !b.Complement:
		for _, v := range a.Values {
			if _, ok := slices.BinarySearch(b.Values, v); ok {
				out.Values = append(out.Values, v)
			}
		}
	default:
		set, comp := a, b
		if a.Complement {
			set, comp = b, a
		}
		for _, v := range set.Values {
			if _, ok := slices.BinarySearch(comp.Values, v); !ok {
				out.Values = append(out.Values, v)
			}
		}
	}
	if !out.Complement && out.Integer {
		kept := out.Values[:0:0]
		for _, v := range out.Values {
			if out.HasValue(v) {
				kept = append(kept, v)
			}
		}
		out.Values = kept
	}
	return out
}

// Get returns the requirement on key, if s has one.
func (s Set) Get(key string) (*Req, bool) {
	i, ok := slices.BinarySearchFunc(s, key, func(r Req, k string) int { return strings.Compare(r.Key, k) })
	if !ok {
		return nil, false
	}
	return &s[i], true
}

// With returns s ∧ r as a new set.
func (s Set) With(r Req) Set {
	out := slices.Clone(s)
	i, ok := slices.BinarySearchFunc(out, r.Key, func(x Req, k string) int { return strings.Compare(x.Key, k) })
	if ok {
		out[i] = Intersect(out[i], r)
		return out
	}
	return slices.Insert(out, i, r)
}

// And returns s ∧ o and the first key whose values became empty ("" when none).
func (s Set) And(o Set) (Set, string) {
	out := slices.Clone(s)
	for _, r := range o {
		out = out.With(r)
	}
	for i := range out {
		if out[i].Empty() {
			return out, out[i].Key
		}
	}
	return out, ""
}

// MatchesLabels reports whether a node with these labels satisfies every requirement.
func (s Set) MatchesLabels(labels map[string]string) bool {
	for i := range s {
		v, ok := labels[s[i].Key]
		if !s[i].Matches(v, ok) {
			return false
		}
	}
	return true
}

// String renders one requirement the way users write it.
func (r *Req) String() string {
	switch {
	case !r.Complement && len(r.Values) == 0 && r.AllowAbsent:
		return r.Key + " DoesNotExist"
	case !r.Complement:
		return fmt.Sprintf("%s In [%s]", r.Key, strings.Join(r.Values, " "))
	case r.Integer && len(r.Values) > 0:
		return fmt.Sprintf("%s %s NotIn [%s]", r.Key, r.bounds(), strings.Join(r.Values, " "))
	case r.Integer:
		return r.Key + " " + r.bounds()
	case len(r.Values) > 0:
		return fmt.Sprintf("%s NotIn [%s]", r.Key, strings.Join(r.Values, " "))
	case r.AllowAbsent:
		return r.Key + " any"
	}
	return r.Key + " Exists"
}

// bounds renders an integer requirement's range as written: "Gt 5000" for an open upper end,
// "Lt 8" for an open lower end, else "in [lo, hi]".
func (r *Req) bounds() string {
	switch {
	case r.Max == math.MaxInt64 && r.Min > math.MinInt64:
		return fmt.Sprintf("Gt %d", r.Min-1)
	case r.Min == math.MinInt64 && r.Max < math.MaxInt64:
		return fmt.Sprintf("Lt %d", r.Max+1)
	}
	return fmt.Sprintf("in [%d, %d]", r.Min, r.Max)
}

// FromSelectorTerm compiles the expressions of one node selector term (their conjunction).
func FromSelectorTerm(exprs []corev1.NodeSelectorRequirement) (Set, error) {
	var s Set
	for _, e := range exprs {
		kr, err := New(e.Key, string(e.Operator), e.Values)
		if err != nil {
			return nil, err
		}
		s = s.With(kr)
	}
	return s, nil
}

// FromLabels is the set a node selector (or a node's labels) requires: each key In its value.
func FromLabels(labels map[string]string) Set {
	var s Set
	for k, v := range labels {
		s = s.With(In(k, v))
	}
	return s
}

// Signature is a string equal for equal sets (for cache keys).
func (s Set) Signature() string {
	var b strings.Builder
	for i := range s {
		k := &s[i]
		b.WriteString(k.Key)
		b.WriteString(strconv.FormatBool(k.Complement))
		b.WriteString(strconv.FormatBool(k.AllowAbsent))
		b.WriteString(strings.Join(k.Values, ","))
		fmt.Fprintf(&b, "%v|%d|%d|%d;", k.Integer, k.Min, k.Max, k.MinValues)
	}
	return b.String()
}
