package test

import (
	"fmt"
	"testing"
	"time"
)

// DefaultTimeout is how long Eventually waits when given no timeout: generous, since the
// tests run on a loaded machine.
const DefaultTimeout = 30 * time.Second

// PollInterval is how often Eventually tries its condition.
const PollInterval = 25 * time.Millisecond

// Eventually calls cond until it returns nil, failing the test with cond's last error once
// timeout (DefaultTimeout when 0) has passed.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("timed out after %v: %v", timeoutOrDefault(timeout), err)
	}
}

// Consistently calls cond for the whole duration, failing the test as soon as it errs.
func Consistently(t testing.TB, duration time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(duration)
	for {
		if err := cond(); err != nil {
			t.Fatalf("condition broke: %v", err)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(PollInterval)
	}
}

// Poll calls cond until it returns nil (Poll returns nil) or timeout (DefaultTimeout when
// 0) passes (Poll returns cond's last error). It is Eventually for code without a testing.TB.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeoutOrDefault(timeout))
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(PollInterval)
	}
}

func timeoutOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// EventuallyTrue is Eventually for a condition without an error to report: the failure
// names what was awaited.
func EventuallyTrue(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
}
