package provisioning

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Batcher gathers triggers into batches. A batch opens with the first trigger and closes
// once no trigger has arrived for the idle duration, or the max duration after it opened,
// whichever comes first. It is safe for concurrent use.
type Batcher struct {
	clock   clock.Clock
	idle    time.Duration
	max     time.Duration
	trigger chan struct{}
}

// NewBatcher returns a Batcher on the given clock.
func NewBatcher(clk clock.Clock, idle, maxDuration time.Duration) *Batcher {
	return &Batcher{clock: clk, idle: idle, max: maxDuration, trigger: make(chan struct{}, 1)}
}

// Trigger opens a batch, or extends the open one. It never blocks.
func (b *Batcher) Trigger() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// Wait blocks until a batch has opened and closed. It returns false when ctx ends first.
func (b *Batcher) Wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-b.trigger:
	}
	maxTimer := b.clock.NewTimer(b.max)
	defer maxTimer.Stop()
	idleTimer := b.clock.NewTimer(b.idle)
	defer idleTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-maxTimer.C():
			return true
		case <-idleTimer.C():
			return true
		case <-b.trigger:
			if !idleTimer.Stop() {
				select {
				case <-idleTimer.C():
				default:
				}
			}
			idleTimer.Reset(b.idle)
		}
	}
}
