package provisioning_test

import (
	"context"
	"fmt"
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
	b.Trigger("pod-a")
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
	b.Trigger("pod-0")
	waitForTimers(t, clk, 2)
	// A new pod every 500ms keeps the idle timer from firing; only the max closes it.
	for i := 0; i < 5; i++ {
		clk.Step(500 * time.Millisecond)
		b.Trigger(fmt.Sprintf("pod-%d", i+1))
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

// TestRepeatedTriggersDoNotExtendTheBatch: a pod that triggers again and again (kube-scheduler
// rewrites its status, its recheck comes round) keeps no batch open; once the batch closed,
// the same pod opens the next one.
func TestRepeatedTriggersDoNotExtendTheBatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	b := provisioning.NewBatcher(clk, time.Second, 10*time.Second)
	done := waitResult(t.Context(), b)
	b.Trigger("pod-a")
	waitForTimers(t, clk, 2)
	for i := 0; i < 3; i++ {
		clk.Step(300 * time.Millisecond)
		b.Trigger("pod-a")
		time.Sleep(5 * time.Millisecond)
	}
	clk.Step(100 * time.Millisecond) // 1s since the only new trigger
	if !closed(done) {
		t.Fatal("the same pod's repeated triggers held the batch open past the idle duration")
	}

	done = waitResult(t.Context(), b)
	b.Trigger("pod-a")
	waitForTimers(t, clk, 2)
	clk.Step(time.Second)
	if !closed(done) {
		t.Fatal("the pod did not open a new batch after the last one closed")
	}
}
