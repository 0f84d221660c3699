package labelreq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestNew: each operator means what kube-scheduler means by it, on a present value and on
// an absent label, and deprecated keys are read as their stable names.
func TestNew(t *testing.T) {
	type probe struct {
		v       string
		present bool
		want    bool
	}
	for _, tc := range []struct {
		op     string
		values []string
		probes []probe
	}{
		{"In", []string{"b", "a", "a"}, []probe{{"a", true, true}, {"b", true, true}, {"c", true, false}, {"", false, false}}},
		{"NotIn", []string{"a"}, []probe{{"a", true, false}, {"b", true, true}, {"", false, true}}},
		{"Exists", nil, []probe{{"x", true, true}, {"", true, true}, {"", false, false}}},
		{"DoesNotExist", nil, []probe{{"x", true, false}, {"", false, true}}},
		{"Gt", []string{"4"}, []probe{{"5", true, true}, {"4", true, false}, {"x", true, false}, {"", false, false}}},
		{"Lt", []string{"4"}, []probe{{"3", true, true}, {"4", true, false}, {"-10", true, true}, {"", false, false}}},
		{"Gte", []string{"4"}, []probe{{"4", true, true}, {"3", true, false}}},
		{"Lte", []string{"4"}, []probe{{"4", true, true}, {"5", true, false}}},
	} {
		r, err := New("k", tc.op, tc.values)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.op, tc.values, err)
		}
		for _, p := range tc.probes {
			if got := r.Matches(p.v, p.present); got != p.want {
				t.Errorf("k %s %v on (%q, present %v) = %v, want %v", tc.op, tc.values, p.v, p.present, got, p.want)
			}
		}
	}
	for _, bad := range []struct {
		op     string
		values []string
	}{{"Gt", []string{"1", "2"}}, {"Lt", []string{"x"}}, {"Near", nil}} {
		if _, err := New("k", bad.op, bad.values); err == nil {
			t.Errorf("k %s %v compiled", bad.op, bad.values)
		}
	}
	r, _ := New(corev1.LabelFailureDomainBetaZone, "In", []string{"z"})
	if r.Key != corev1.LabelTopologyZone {
		t.Errorf("deprecated zone key kept as %q", r.Key)
	}
	for _, alias := range DeprecatedKeys() {
		if NormalizedKey(alias[0]) != alias[1] || NormalizedKey(alias[1]) != alias[1] {
			t.Errorf("NormalizedKey(%q) = %q", alias[0], NormalizedKey(alias[0]))
		}
	}
}

// randReq is a random requirement on one of three keys over a small value universe.
func randReq(r *rand.Rand) Req {
	ops := []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"}
	vals := []string{"1", "2", "3", "5", "8", "a", "b"}
	op := ops[r.IntN(len(ops))]
	var values []string
	switch op {
	case "In", "NotIn":
		for range 1 + r.IntN(3) {
			values = append(values, vals[r.IntN(len(vals))])
		}
	case "Gt", "Lt", "Gte", "Lte":
		values = []string{fmt.Sprint(r.IntN(10))}
	}
	req, err := New([]string{"k1", "k2", "k3"}[r.IntN(3)], op, values)
	if err != nil {
		panic(err)
	}
	if r.IntN(4) == 0 {
		req.MinValues = 1 + r.IntN(3)
	}
	return req
}

// probes are the label values the property tests try, plus absence ("" not present).
var probes = []string{"0", "1", "2", "3", "4", "5", "6", "8", "9", "a", "b", "c"}

// TestSetAlgebra: for random sets, And and With match exactly the labels both operands
// match (on every probe value and on absence), And names a key that nothing satisfies when
// it reports one, the result stays sorted with one entry per key, and the operands are left
// as they were.
func TestSetAlgebra(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	randSet := func() Set {
		var s Set
		for range r.IntN(4) {
			s = s.With(randReq(r))
		}
		return s
	}
	for range 3000 {
		a, b := randSet(), randSet()
		aSig, bSig := a.Signature(), b.Signature()
		both, bad := a.And(b)
		if a.Signature() != aSig || b.Signature() != bSig {
			t.Fatal("And modified its operands")
		}
		if !slices.IsSortedFunc(both, func(x, y Req) int { return cmpStr(x.Key, y.Key) }) ||
			len(slices.CompactFunc(slices.Clone(both), func(x, y Req) bool { return x.Key == y.Key })) != len(both) {
			t.Fatalf("And result not sorted by unique key: %v", keys(both))
		}
		for _, k := range []string{"k1", "k2", "k3"} {
			for _, v := range append(probes, "") {
				labels := map[string]string{}
				if v != "" {
					labels[k] = v
				}
				want := a.MatchesLabels(labels) && b.MatchesLabels(labels)
				if got := both.MatchesLabels(labels); got != want {
					t.Fatalf("%v ∧ %v on %v = %v, want %v", str(a), str(b), labels, got, want)
				}
			}
		}
		if bad != "" {
			r, _ := both.Get(bad)
			for _, v := range probes {
				if r.Matches(v, true) {
					t.Fatalf("And reports %s empty, but %q satisfies %s", bad, v, r.String())
				}
			}
			if r.Matches("", false) {
				t.Fatalf("And reports %s empty, but absence satisfies %s", bad, r.String())
			}
		}
		if r, ok := both.Get("k1"); ok {
			ra, okA := a.Get("k1")
			rb, okB := b.Get("k1")
			want := 0
			if okA {
				want = ra.MinValues
			}
			if okB {
				want = max(want, rb.MinValues)
			}
			if r.MinValues != want {
				t.Fatalf("MinValues %d, want the larger %d", r.MinValues, want)
			}
		}
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func keys(s Set) []string {
	var out []string
	for _, r := range s {
		out = append(out, r.Key)
	}
	return out
}

func str(s Set) []string {
	var out []string
	for i := range s {
		out = append(out, s[i].String())
	}
	return out
}

// TestFromLabelsAndTerm: a node selector requires every label; a selector term is the
// conjunction of its expressions.
func TestFromLabelsAndTerm(t *testing.T) {
	sel := FromLabels(map[string]string{"beta.kubernetes.io/arch": "arm64", "team": "a"})
	if !sel.MatchesLabels(map[string]string{corev1.LabelArchStable: "arm64", "team": "a", "x": "y"}) {
		t.Error("selector does not match a node with its labels (arch read under its stable key)")
	}
	if sel.MatchesLabels(map[string]string{corev1.LabelArchStable: "arm64"}) {
		t.Error("selector matches a node without team")
	}
	term, err := FromSelectorTerm([]corev1.NodeSelectorRequirement{
		{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}},
		{Key: "gen", Operator: corev1.NodeSelectorOpLt, Values: []string{"7"}},
		{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"z1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for labels, want := range map[[2]string]bool{{"5", "z2"}: true, {"6", ""}: true, {"7", "z2"}: false, {"4", "z2"}: false, {"5", "z1"}: false} {
		l := map[string]string{"gen": labels[0]}
		if labels[1] != "" {
			l["zone"] = labels[1]
		}
		if got := term.MatchesLabels(l); got != want {
			t.Errorf("term on %v = %v, want %v", l, got, want)
		}
	}
	if _, err := FromSelectorTerm([]corev1.NodeSelectorRequirement{{Key: "k", Operator: "Bogus"}}); err == nil {
		t.Error("unknown operator compiled")
	}
	if s := In("k", "b", "a", "b"); !slices.Equal(s.Values, []string{"a", "b"}) || s.AllowAbsent || s.Complement {
		t.Errorf("In = %+v", s)
	}
}

// TestIntegerBoundsAtTheEdges: integer operators at the ends of int64 mean what they say:
// Gte MinInt64 is every integer (and no other value), Lte MaxInt64 likewise, Gt MaxInt64
// and Lt MinInt64 nothing.
func TestIntegerBoundsAtTheEdges(t *testing.T) {
	const lo, hi = "-9223372036854775808", "9223372036854775807"
	for _, tc := range []struct {
		op, bound string
		probe     string
		want      bool
	}{
		{"Gte", lo, "0", true}, {"Gte", lo, lo, true}, {"Gte", lo, "x", false},
		{"Gt", lo, "x", false}, {"Gt", lo, lo, false}, {"Gt", lo, "0", true},
		{"Lte", hi, "0", true}, {"Lte", hi, hi, true}, {"Lte", hi, "x", false},
		{"Lt", hi, "x", false}, {"Lt", hi, hi, false}, {"Lt", hi, "0", true},
		{"Gt", hi, hi, false}, {"Lt", lo, lo, false},
	} {
		r, err := New("k", tc.op, []string{tc.bound})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Matches(tc.probe, true); got != tc.want {
			t.Errorf("%q %s %s = %v, want %v", tc.probe, tc.op, tc.bound, got, tc.want)
		}
	}
	gt, _ := New("k", "Gt", []string{hi})
	if !gt.Empty() {
		t.Errorf("Gt MaxInt64 is not empty: %s", gt.String())
	}
}

// TestStringIntegers: integer requirements read as written: Gt and Lt for a range open at
// one end, both ends once narrowed from both sides.
func TestStringIntegers(t *testing.T) {
	mk := func(op string, v string) Req {
		r, err := New("cpu", op, []string{v})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	gt, lt := mk("Gt", "4"), mk("Lt", "64")
	both, bad := Set{gt}.And(Set{lt})
	if bad != "" {
		t.Fatal(bad)
	}
	for _, tc := range []struct {
		r    Req
		want string
	}{{gt, "cpu Gt 4"}, {lt, "cpu Lt 64"}, {both[0], "cpu in [5, 63]"}} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%s, want %s", got, tc.want)
		}
	}
}
