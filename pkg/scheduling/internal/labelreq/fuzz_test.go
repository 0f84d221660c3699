package labelreq

import (
	"strconv"
	"testing"
)

// FuzzRequirement compiles two user requirements on one key (any operator, any values)
// and checks them against a probe value: compiling never panics, an integer operator means
// what it says, and the intersection of the two matches exactly what both match.
func FuzzRequirement(f *testing.F) {
	f.Add("In", "a", "b", "NotIn", "b", "a", true)
	f.Add("Gt", "3", "", "Lt", "10", "5", true)
	f.Add("Gte", "-9223372036854774808", "", "Exists", "", "0", true)
	f.Add("Lte", "9223372036854774807", "", "DoesNotExist", "", "", false)
	f.Add("Gt", "x", "", "In", "1", "1", true)
	f.Add("Bogus", "", "", "In", "", "", false)
	f.Fuzz(func(t *testing.T, op1, v1a, v1b, op2, v2, probe string, present bool) {
		values := []string{v1a}
		if v1b != "" && op1 != "Gt" && op1 != "Lt" && op1 != "Gte" && op1 != "Lte" {
			values = append(values, v1b)
		}
		a, errA := New("k", op1, values)
		b, errB := New("k", op2, []string{v2})
		if errA == nil && present {
			checkIntegerOperator(t, op1, v1a, probe, a.Matches(probe, true))
		}
		if errA != nil || errB != nil {
			return
		}
		both := Intersect(a, b)
		if got, want := both.Matches(probe, present), a.Matches(probe, present) && b.Matches(probe, present); got != want {
			t.Fatalf("%s %v ∩ %s [%s] matches (%q, %v) = %v, want %v", op1, values, op2, v2, probe, present, got, want)
		}
	})
}

// checkIntegerOperator checks a Gt/Lt/Gte/Lte requirement's verdict on a present value.
func checkIntegerOperator(t *testing.T, op, bound, probe string, got bool) {
	t.Helper()
	if op != "Gt" && op != "Lt" && op != "Gte" && op != "Lte" {
		return
	}
	n, err := strconv.ParseInt(bound, 10, 64)
	if err != nil {
		return
	}
	v, err := strconv.ParseInt(probe, 10, 64)
	var want bool
	switch {
	case err != nil:
		want = false
	case op == "Gt":
		want = v > n
	case op == "Lt":
		want = v < n
	case op == "Gte":
		want = v >= n
	default:
		want = v <= n
	}
	if got != want {
		t.Fatalf("%q %s %d matched = %v, want %v", probe, op, n, got, want)
	}
}
