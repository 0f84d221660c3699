package sim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// fakeClient stands in where no API call is made.
type fakeClient struct{ client.Client }

var errContextCanceled = context.Canceled

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

// waitFor polls cond until it holds (see test.Eventually).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	test.Eventually(t, 10*time.Second, func() error {
		if !cond() {
			return errors.New("condition not met")
		}
		return nil
	})
}
