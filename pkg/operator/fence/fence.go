package fence

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// ErrNotLeader is returned (wrapped) for a write refused because this replica does not hold
// the lease, or has not renewed it within the window.
var ErrNotLeader = errors.New("not the leader: write fenced off")

// Fence tracks this replica's hold on the leader election lease.
type Fence struct {
	clock  clock.PassiveClock
	window time.Duration

	mu        sync.Mutex
	renewedAt time.Time // start of the last lease write naming this replica; zero: not leader
	refused   atomic.Int64
}

// New returns a closed fence: writes are refused until Lock records a renewal. window is
// how long after the start of a renewal writes stay allowed (the renew deadline).
func New(clk clock.PassiveClock, window time.Duration) *Fence {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Fence{clock: clk, window: window}
}

// Allow returns nil while this replica leads, and an error wrapping ErrNotLeader otherwise.
func (f *Fence) Allow() error {
	f.mu.Lock()
	renewed := f.renewedAt
	f.mu.Unlock()
	if renewed.IsZero() {
		f.refused.Add(1)
		return ErrNotLeader
	}
	if age := f.clock.Since(renewed); age >= f.window {
		f.refused.Add(1)
		return fmt.Errorf("%w (lease last renewed %s ago, window %s)", ErrNotLeader, age.Round(time.Millisecond), f.window)
	}
	return nil
}

// Refused counts the writes refused so far.
func (f *Fence) Refused() int64 { return f.refused.Load() }

func (f *Fence) renewed(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewedAt = at
}

func (f *Fence) lost() { f.renewed(time.Time{}) }

// Lock wraps the leader election lock so the fence follows this replica's hold on it.
func (f *Fence) Lock(inner resourcelock.Interface) resourcelock.Interface {
	return &lock{Interface: inner, fence: f}
}

type lock struct {
	resourcelock.Interface
	fence *Fence
	// otherHolder is set while the last lease read named another holder.
	otherHolder atomic.Bool
}

// ErrReleaseAfterLoss is returned for a release of a lease the last read showed held by
// another replica.
var ErrReleaseAfterLoss = errors.New("not releasing a lease another replica holds")

var _ resourcelock.Interface = (*lock)(nil)

func (l *lock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err == nil && rec != nil {
		other := rec.HolderIdentity != l.Identity()
		l.otherHolder.Store(other)
		if other {
			l.fence.lost()
		}
	}
	return rec, raw, err
}

func (l *lock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	start := l.fence.clock.Now()
	err := l.Interface.Create(ctx, rec)
	l.wrote(rec, start, err)
	return err
}

// Update writes the lease, except a release (a record naming no one, or someone else) after a
// read that showed another holder: client-go's release on shutdown reads the lease, then
// decides from the record it last observed itself, so a leader paused past its lease and
// resumed would blank the new leader's lease with the fresh resource version it just read
// (the chaos suite's leader-paused scenario caught that PUT).
func (l *lock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	if rec.HolderIdentity != l.Identity() && l.otherHolder.Load() {
		l.fence.lost()
		return ErrReleaseAfterLoss
	}
	start := l.fence.clock.Now()
	err := l.Interface.Update(ctx, rec)
	l.wrote(rec, start, err)
	return err
}

// wrote records a lease write: a stored record naming this replica opens (or keeps open) the
// fence from the moment the request started; one naming anyone else (a release) closes it.
// A failed write changes nothing: the window runs out on its own.
func (l *lock) wrote(rec resourcelock.LeaderElectionRecord, start time.Time, err error) {
	if err != nil {
		return
	}
	if rec.HolderIdentity == l.Identity() {
		l.otherHolder.Store(false)
		l.fence.renewed(start)
		return
	}
	l.fence.lost()
}

// Wrap fences a Kubernetes client's transport: writes are refused while the fence is closed.
func (f *Fence) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &transport{next: rt, fence: f}
}

type transport struct {
	next  http.RoundTripper
	fence *Fence
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if err := t.fence.Allow(); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return t.next.RoundTrip(req)
}

// CloudProvider fences the provider's Create and Delete, the calls that start or stop
// instances outside Kubernetes.
func (f *Fence) CloudProvider(inner cloudprovider.CloudProvider) cloudprovider.CloudProvider {
	return &fencedCloud{CloudProvider: inner, fence: f}
}

type fencedCloud struct {
	cloudprovider.CloudProvider
	fence *Fence
}

func (c *fencedCloud) Create(ctx context.Context, nc *v1.NodeClaim) (*v1.NodeClaim, error) {
	if err := c.fence.Allow(); err != nil {
		return nil, fmt.Errorf("launching an instance for %s: %w", nc.Name, err)
	}
	return c.CloudProvider.Create(ctx, nc)
}

func (c *fencedCloud) Delete(ctx context.Context, nc *v1.NodeClaim) error {
	if err := c.fence.Allow(); err != nil {
		return fmt.Errorf("terminating the instance of %s: %w", nc.Name, err)
	}
	return c.CloudProvider.Delete(ctx, nc)
}
