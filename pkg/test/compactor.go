package test

import (
	"strings"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/state"
)

// Compactor returns the operator's cache transform (a state.Compactor) for a test's
// informer cache, and fails the test at its end if anything wrote into a value the
// transform shares between objects (state.Compactor.Corrupted): the controllers the test
// runs must treat the informers' objects as read-only.
func Compactor(t testing.TB) func(any) (any, error) {
	t.Helper()
	c := state.NewCompactor(0)
	t.Cleanup(func() {
		if bad := c.Corrupted(); len(bad) > 0 {
			t.Errorf("a shared part of a cached object was written to:\n%s", strings.Join(bad, "\n"))
		}
	})
	return c.Transform
}
