package test

import (
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/gokarpenter/karpenter/pkg/state"
)

// Compactor returns the operator's cache transform (a state.Compactor) for a test's
// informer cache, and fails the test at its end if anything wrote into a value the
// transform shares between objects (state.Compactor.Corrupted): the controllers the test
// runs must treat the informers' objects as read-only.
func Compactor(t testing.TB) func(any) (any, error) {
	t.Helper()
	return CheckedCompactor(t).Transform
}

// CheckedCompactor is the Compactor behind Compactor's transform, for a cache that also
// shares pod specs (state.NewCache).
func CheckedCompactor(t testing.TB) *state.Compactor {
	t.Helper()
	c := state.NewCompactor(0)
	t.Cleanup(func() {
		if bad := c.Corrupted(); len(bad) > 0 {
			t.Errorf("a shared part of a cached object was written to:\n%s", strings.Join(bad, "\n"))
		}
	})
	return c
}

// Cache builds the operator's cache (state.NewCache: pods in a state.PodStore, the rest in
// controller-runtime's cache) on the environment, checked as Compactor is; not started.
func (e *Environment) Cache(t testing.TB) cache.Cache {
	t.Helper()
	c, err := state.NewCache(CheckedCompactor(t))(e.Config, cache.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatalf("building cache: %v", err)
	}
	return c
}
