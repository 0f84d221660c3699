package sim

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// ErrLaunchTimedOut is what Create returns for an ambiguous launch (a SimNodeClass with
// lateLaunch): the request timed out, yet the instance may appear later. It is neither an
// insufficient-capacity nor a create error, so callers retry.
var ErrLaunchTimedOut = errors.New("launch request timed out; the instance may still be launched")

func launchTimedOut(nodeClaim *v1.NodeClaim, inst *simv1alpha1.SimInstance) error {
	return fmt.Errorf("launching %s (instance %s pending): %w", nodeClaim.Name, inst.Name, ErrLaunchTimedOut)
}

// visible is false for an instance whose late launch has not appeared yet: Get, List,
// Instances, Interruptions and Delete do not see it, as a cloud API does not show an
// instance its request queue has not created. The caller holds the lock or owns inst.
func (p *Provider) visible(inst *simv1alpha1.SimInstance) bool {
	return !inst.Spec.LaunchTime.After(p.clock.Now())
}

// classExhausts reports whether the class's insufficientCapacity selects the pool.
func classExhausts(class *simv1alpha1.SimNodeClass, key offeringKey) bool {
	if class == nil {
		return false
	}
	for _, sel := range class.Spec.InsufficientCapacity {
		if globMatch(sel.InstanceType, key.instanceType) && globMatch(sel.Zone, key.zone) && globMatch(sel.CapacityType, key.capacityType) {
			return true
		}
	}
	return false
}

// globMatch matches a selector field: empty matches anything; a malformed pattern (the
// CRD's validation lets none through) matches nothing.
func globMatch(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, value)
	return err == nil && ok
}

func classLateLaunch(class *simv1alpha1.SimNodeClass) time.Duration {
	if class == nil || class.Spec.LateLaunch == nil {
		return 0
	}
	return class.Spec.LateLaunch.Duration
}

// SetLaunchDelay sets how long Create takes for classes that do not say.
func (p *Provider) SetLaunchDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.launchDelay = d
}

// SetBootDelay sets how long new instances of classes that do not say take to register.
func (p *Provider) SetBootDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bootDelay = d
}

// SetFailRegistration makes instances launched from now on (whatever their class) run
// without ever registering a Node, or stops doing so.
func (p *Provider) SetFailRegistration(fail bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRegistration = fail
}

// SetInsufficientCapacity makes a pool (instance type × zone × capacity type) run out of
// capacity, or refills it. A launch that picks an exhausted pool fails over to the next
// cheapest offering and marks the pool unavailable for the unavailable-offerings TTL, so
// GetInstanceTypes reports it unavailable; when no compatible pool is left, Create returns
// an InsufficientCapacityError. Refilling also clears the unavailable mark.
func (p *Provider) SetInsufficientCapacity(instanceType, zone, capacityType string, exhausted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := offeringKey{instanceType, zone, capacityType}
	if exhausted {
		p.exhausted[key] = true
		return
	}
	delete(p.exhausted, key)
	delete(p.unavailable, key)
}

// Interruption is a spot interruption notice for one instance.
type Interruption struct {
	ProviderID string
	InstanceID string
	NodeClaim  string
	// Time the notice was given, on the provider's clock.
	Time time.Time
}

// Interrupt announces a spot interruption for the instance: it is recorded in the
// SimInstance (status.interruptedAt), so it survives a restart, and listed by Interruptions
// until the instance is deleted. Interrupting twice keeps the first notice. The instance
// keeps running: reacting (deleting the NodeClaim) is the controllers' job.
func (p *Provider) Interrupt(ctx context.Context, providerID string) error {
	if err := p.ensureLoaded(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	inst, err := p.byProviderIDLocked(providerID)
	if err == nil {
		inst = inst.DeepCopy()
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("interrupting: %w", err)
	}
	if inst.Status.InterruptedAt != nil {
		return nil
	}
	updated := inst.DeepCopy()
	now := metav1.NewTime(p.clock.Now())
	updated.Status.InterruptedAt = &now
	if err := p.client.Update(ctx, updated); err != nil {
		return fmt.Errorf("recording interruption of %s: %w", inst.Name, err)
	}
	p.mu.Lock()
	p.recordLocked(inst.Name, updated)
	p.mu.Unlock()
	return nil
}

// Interruptions lists the interruption notices of instances that still exist, oldest first.
// A controller consumes them by deleting the NodeClaims; a deleted instance leaves the list.
func (p *Provider) Interruptions(ctx context.Context) ([]Interruption, error) {
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Interruption
	for _, inst := range p.instances {
		if inst.Status.InterruptedAt == nil || !p.visible(inst) {
			continue
		}
		out = append(out, Interruption{
			ProviderID: ProviderID(inst), InstanceID: inst.Name,
			NodeClaim: inst.Spec.NodeClaim, Time: inst.Status.InterruptedAt.Time,
		})
	}
	slices.SortFunc(out, func(a, b Interruption) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.InstanceID, b.InstanceID)
	})
	return out, nil
}
