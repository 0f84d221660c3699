package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// nodeClass reads the SimNodeClass a reference points at. A nil reference means no class:
// the whole catalogue and the provider's defaults. A missing class, or one whose Ready
// condition is False, is a NodeClassNotReadyError; a reference to another kind is a
// CreateError (reason UnsupportedNodeClass). The class is read only: from a cache, the
// cache's own.
func (p *Provider) nodeClass(ctx context.Context, ref *v1.NodeClassReference) (*simv1alpha1.SimNodeClass, error) {
	if ref == nil {
		return nil, nil
	}
	if ref.Group != NodeClassGVK.Group || ref.Kind != NodeClassGVK.Kind {
		err := fmt.Errorf("node class %s/%s is not a %s", ref.Group, ref.Kind, NodeClassGVK.GroupKind())
		return nil, cloudprovider.NewCreateError(err, "UnsupportedNodeClass", err.Error())
	}
	// Read only, so not a deep copy: IsDrifted asks for the class of each of 2,000
	// NodeClaims every drift check, and its copies were 5 % of a quiet controller's
	// allocations. (A reader that is not a cache ignores the option.)
	class := &simv1alpha1.SimNodeClass{}
	if err := p.classes.Get(ctx, client.ObjectKey{Name: ref.Name}, class, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("getting SimNodeClass %s: %w", ref.Name, err))
		}
		return nil, fmt.Errorf("getting SimNodeClass %s: %w", ref.Name, err)
	}
	if cond := meta.FindStatusCondition(class.Status.Conditions, simv1alpha1.ConditionTypeReady); cond != nil && cond.Status == metav1.ConditionFalse {
		return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("SimNodeClass %s is not ready: %s", ref.Name, cond.Message))
	}
	return class, nil
}

// instanceTypesLocked is the catalogue restricted to the class, each type a copy whose
// offerings show the pools currently unavailable.
func (p *Provider) instanceTypesLocked(class *simv1alpha1.SimNodeClass) []*cloudprovider.InstanceType {
	now := p.clock.Now()
	for key, until := range p.unavailable {
		if !now.Before(until) {
			delete(p.unavailable, key)
		}
	}
	out := make([]*cloudprovider.InstanceType, 0, len(p.instanceTypes))
	for _, it := range p.instanceTypes {
		if class != nil && len(class.Spec.InstanceTypes) > 0 && !slices.Contains(class.Spec.InstanceTypes, it.Name) {
			continue
		}
		c := *it
		c.Offerings = make([]cloudprovider.Offering, 0, len(it.Offerings))
		for _, o := range it.Offerings {
			if class != nil && len(class.Spec.Zones) > 0 && !slices.Contains(class.Spec.Zones, o.Zone) {
				continue
			}
			if _, gone := p.unavailable[offeringKey{it.Name, o.Zone, o.CapacityType}]; gone {
				o.Available = false
			}
			c.Offerings = append(c.Offerings, o)
		}
		if len(c.Offerings) > 0 {
			out = append(out, &c)
		}
	}
	return out
}

func classImage(class *simv1alpha1.SimNodeClass) string {
	if class == nil || class.Spec.ImageID == "" {
		return DefaultImageID
	}
	return class.Spec.ImageID
}

func (p *Provider) classLaunchDelay(class *simv1alpha1.SimNodeClass) time.Duration {
	if class != nil && class.Spec.LaunchDelay != nil {
		return class.Spec.LaunchDelay.Duration
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.launchDelay
}

func (p *Provider) classBootDelayLocked(class *simv1alpha1.SimNodeClass) time.Duration {
	if class != nil && class.Spec.BootDelay != nil {
		return class.Spec.BootDelay.Duration
	}
	return p.bootDelay
}
