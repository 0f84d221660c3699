package snapshot

import (
	"cmp"

	corev1 "k8s.io/api/core/v1"
)

// ComparePods is the order pending pods are planned in, by the controller and by simulate
// alike (the scheduler breaks ties by input order, so both must use it): oldest first, then
// by namespace, then by name with runs of digits compared as numbers (web-2 before web-10).
func ComparePods(a, b *corev1.Pod) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time),
		cmp.Compare(a.Namespace, b.Namespace), NaturalCompare(a.Name, b.Name))
}

// NaturalCompare compares strings with runs of ASCII digits compared by numeric value;
// equal values with a different number of leading zeros compare by length.
func NaturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da == 0 || db == 0 {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			a, b = a[1:], b[1:]
			continue
		}
		na, nb := trimZeros(a[:da]), trimZeros(b[:db])
		if c := cmp.Or(cmp.Compare(len(na), len(nb)), cmp.Compare(na, nb), cmp.Compare(da, db)); c != 0 {
			return c
		}
		a, b = a[da:], b[db:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
