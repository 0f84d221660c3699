package termination

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// backoffForgetAfter is how long an entry outlives its last refusal: long past any delay it
// could have asked for, so its pod is surely retried (and the entry renewed) if it is still
// being drained.
const backoffForgetAfter = 10 * evictionMaxDelay

// podBackoff is the per-pod exponential backoff after refused evictions. Unlike a workqueue
// rate limiter it forgets: the pods of a node no longer listed on it on each drain pass, and
// any entry not renewed for backoffForgetAfter (its NodeClaim finished or went away), so it
// does not grow with every pod that was ever refused.
type podBackoff struct {
	base, max time.Duration

	mu      sync.Mutex
	entries map[types.UID]*backoffEntry
}

type backoffEntry struct {
	node     string
	failures int
	last     time.Time
}

func newPodBackoff(base, max time.Duration) *podBackoff {
	return &podBackoff{base: base, max: max, entries: map[types.UID]*backoffEntry{}}
}

// When counts one more refusal of the pod on the node and returns how long to wait.
func (b *podBackoff) When(uid types.UID, node string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireLocked(now)
	e := b.entries[uid]
	if e == nil {
		e = &backoffEntry{}
		b.entries[uid] = e
	}
	e.node, e.last = node, now
	d := b.base
	for i := 0; i < e.failures && d < b.max; i++ {
		d *= 2
	}
	e.failures++
	return min(d, b.max)
}

// NumRequeues is how many refusals the pod has on record.
func (b *podBackoff) NumRequeues(uid types.UID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[uid]; e != nil {
		return e.failures
	}
	return 0
}

// Forget drops the pod's entry.
func (b *podBackoff) Forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, uid)
}

// Prune keeps, of the node's entries, only those of the pods still on it, and drops every
// entry not renewed for backoffForgetAfter.
func (b *podBackoff) Prune(node string, present map[types.UID]bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for uid, e := range b.entries {
		if e.node == node && !present[uid] {
			delete(b.entries, uid)
		}
	}
	b.expireLocked(now)
}

// Len is the number of pods with an entry.
func (b *podBackoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

func (b *podBackoff) expireLocked(now time.Time) {
	for uid, e := range b.entries {
		if now.Sub(e.last) > backoffForgetAfter {
			delete(b.entries, uid)
		}
	}
}
