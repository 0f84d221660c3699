package provisioning

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Batcher gathers triggers into batches. A batch opens with the first trigger and closes
// once no new trigger has arrived for the idle duration, or the max duration after it
// opened, whichever comes first. Each trigger names what caused it (a pod's UID, say): a
// name that already triggered the open batch does not extend it, so a pod updated again and
// again while it waits (kube-scheduler rewrites its Unschedulable message as nodes come and
// go) cannot hold a batch open until the max duration. It is safe for concurrent use.
type Batcher struct {
	clock   clock.Clock
	idle    time.Duration
	max     time.Duration
	trigger chan struct{}

	mu   sync.Mutex
	seen map[string]bool // names that triggered the open (or opening) batch
}

// NewBatcher returns a Batcher on the given clock.
func NewBatcher(clk clock.Clock, idle, maxDuration time.Duration) *Batcher {
	return &Batcher{clock: clk, idle: idle, max: maxDuration, trigger: make(chan struct{}, 1), seen: map[string]bool{}}
}

// Trigger opens a batch, or extends the open one unless name already triggered it. An empty
// name always extends. It never blocks.
func (b *Batcher) Trigger(name string) {
	if name != "" {
		b.mu.Lock()
		seen := b.seen[name]
		b.seen[name] = true
		b.mu.Unlock()
		if seen {
			return
		}
	}
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// Wait blocks until a batch has opened and closed. It returns false when ctx ends first.
// Once it returns, every name may trigger the next batch.
func (b *Batcher) Wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-b.trigger:
	}
	defer b.forget()
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

func (b *Batcher) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.seen)
}
