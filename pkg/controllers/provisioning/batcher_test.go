package provisioning_test

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// waitResult runs Wait in the background and reports when it returns.
func waitResult(ctx context.Context, b *provisioning.Batcher) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- b.Wait(ctx) }()
	return done
}

func waitForTimers(t *testing.T, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("batcher never armed %d timers (has %d)", n, clk.Waiters())
		}
		time.Sleep(time.Millisecond)
	}
}

func closed(done <-chan bool) bool {
	select {
	case <-done:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func TestBatchClosesWhenIdle(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	b := provisioning.NewBatcher(clk, time.Second, 10*time.Second)
	done := waitResult(t.Context(), b)
	if closed(done) {
		t.Fatal("Wait returned with no trigger")
	}
	b.Trigger()
	waitForTimers(t, clk, 2)
	clk.Step(900 * time.Millisecond)
	if closed(done) {
		t.Fatal("batch closed before the idle duration")
	}
	clk.Step(100 * time.Millisecond)
	if !closed(done) {
		t.Fatal("batch still open after the idle duration")
	}
}

func TestBatchClosesAtMaxDurationWhenBusy(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	b := provisioning.NewBatcher(clk, time.Second, 3*time.Second)
	done := waitResult(t.Context(), b)
	b.Trigger()
	waitForTimers(t, clk, 2)
	// A trigger every 500ms keeps the idle timer from firing; only the max closes it.
	for i := 0; i < 5; i++ {
		clk.Step(500 * time.Millisecond)
		b.Trigger()
		time.Sleep(5 * time.Millisecond)
		if closed(done) {
			t.Fatalf("batch closed after %v although busy", time.Duration(i+1)*500*time.Millisecond)
		}
	}
	clk.Step(500 * time.Millisecond)
	if !closed(done) {
		t.Fatal("batch still open after the max duration")
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	b := provisioning.NewBatcher(clk, time.Second, 10*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	done := waitResult(ctx, b)
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("Wait reported a batch after the context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the context ended")
	}
}
