package aws

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// UnavailableOfferingsTTL is how long an offering that failed for lack of capacity is
// skipped, as upstream does.
const UnavailableOfferingsTTL = 3 * time.Minute

type offeringKey struct{ instanceType, zone, capacityType string }

// UnavailableOfferings remembers offerings that cannot be launched now, each until its TTL
// passes on the injected clock. Safe for concurrent use.
type UnavailableOfferings struct {
	clock clock.Clock
	ttl   time.Duration
	mu    sync.Mutex
	until map[offeringKey]time.Time
}

// NewUnavailableOfferings returns an empty cache.
func NewUnavailableOfferings(clk clock.Clock, ttl time.Duration) *UnavailableOfferings {
	if ttl <= 0 {
		ttl = UnavailableOfferingsTTL
	}
	return &UnavailableOfferings{clock: clk, ttl: ttl, until: map[offeringKey]time.Time{}}
}

// MarkUnavailable skips the offering for the TTL.
func (u *UnavailableOfferings) MarkUnavailable(instanceType, zone, capacityType string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.until[offeringKey{instanceType, zone, capacityType}] = u.clock.Now().Add(u.ttl)
}

// IsUnavailable reports whether the offering is being skipped.
func (u *UnavailableOfferings) IsUnavailable(instanceType, zone, capacityType string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := offeringKey{instanceType, zone, capacityType}
	until, ok := u.until[k]
	if !ok {
		return false
	}
	if !u.clock.Now().Before(until) {
		delete(u.until, k)
		return false
	}
	return true
}
