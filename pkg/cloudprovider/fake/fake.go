package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// Method names a CloudProvider method, for injected errors and call records.
type Method string

// The methods a Provider records.
const (
	MethodCreate           Method = "Create"
	MethodDelete           Method = "Delete"
	MethodGet              Method = "Get"
	MethodList             Method = "List"
	MethodGetInstanceTypes Method = "GetInstanceTypes"
	MethodIsDrifted        Method = "IsDrifted"
)

// ProviderIDPrefix starts every provider ID the fake hands out: fake:///<zone>/<id>.
const ProviderIDPrefix = "fake:///"

// NodeClassGVK is the node class kind the fake reports as supported unless told otherwise.
var NodeClassGVK = schema.GroupVersionKind{Group: "karpenter.test.sh", Version: "v1", Kind: "TestNodeClass"}

// Call is one recorded call; the arguments are deep copies taken at call time.
type Call struct {
	Method     Method
	NodeClaim  *v1.NodeClaim // Create, Delete, IsDrifted
	ProviderID string        // Get
	NodePool   *v1.NodePool  // GetInstanceTypes
	Err        error         // what the call returned
}

// Options configure a Provider. The zero value is usable.
type Options struct {
	// InstanceTypes to offer; default catalog.Default(). They are copied, so marking an
	// offering unavailable does not change the caller's values.
	InstanceTypes []*cloudprovider.InstanceType
	// Name is returned by Name(); default "fake".
	Name string
	// NodeClasses are returned by GetSupportedNodeClasses; default NodeClassGVK.
	NodeClasses []schema.GroupVersionKind
}

// Provider is the fake CloudProvider. Create it with New.
type Provider struct {
	name        string
	nodeClasses []schema.GroupVersionKind

	mu            sync.Mutex
	instanceTypes []*cloudprovider.InstanceType
	instances     map[string]*v1.NodeClaim // by provider ID
	drifted       map[string]cloudprovider.DriftReason
	errs          map[Method][]error
	launchErrs    []error // returned by Create after launching (LaunchThenFail)
	calls         []Call
	nextID        int
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

// New returns a fake with no instances.
func New(opts Options) *Provider {
	p := &Provider{
		name:        opts.Name,
		nodeClasses: slices.Clone(opts.NodeClasses),
		instances:   map[string]*v1.NodeClaim{},
		drifted:     map[string]cloudprovider.DriftReason{},
		errs:        map[Method][]error{},
	}
	if p.name == "" {
		p.name = "fake"
	}
	if len(p.nodeClasses) == 0 {
		p.nodeClasses = []schema.GroupVersionKind{NodeClassGVK}
	}
	its := opts.InstanceTypes
	if its == nil {
		its = catalog.Default()
	}
	p.SetInstanceTypes(its)
	return p
}

// SetInstanceTypes replaces the instance types offered (copied).
func (p *Provider) SetInstanceTypes(its []*cloudprovider.InstanceType) {
	copied := make([]*cloudprovider.InstanceType, len(its))
	for i, it := range its {
		c := *it
		c.Offerings = slices.Clone(it.Offerings)
		copied[i] = &c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.instanceTypes = copied
}

// SetOfferingAvailable marks one offering available or not. It reports whether the
// offering exists.
func (p *Provider) SetOfferingAvailable(instanceType, zone, capacityType string, available bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range p.instanceTypes {
		if it.Name != instanceType {
			continue
		}
		for i := range it.Offerings {
			if o := &it.Offerings[i]; o.Zone == zone && o.CapacityType == capacityType {
				o.Available = available
				return true
			}
		}
	}
	return false
}

// FailNext makes the next len(errs) calls of method return these errors, in order, before
// doing anything else.
func (p *Provider) FailNext(method Method, errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs[method] = append(p.errs[method], errs...)
}

// LaunchThenFail makes the next len(errs) successful Create calls launch the instance and
// then return these errors, in order, as a cloud call that timed out after the cloud acted
// would: the instance exists (List and Get find it) but the caller never learns its ID.
func (p *Provider) LaunchThenFail(errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.launchErrs = append(p.launchErrs, errs...)
}

// SetDrifted makes IsDrifted report reason for the instance ("" clears it).
func (p *Provider) SetDrifted(providerID string, reason cloudprovider.DriftReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reason == "" {
		delete(p.drifted, providerID)
		return
	}
	p.drifted[providerID] = reason
}

// Calls returns the recorded calls of the given methods (all calls when none is given),
// oldest first.
func (p *Provider) Calls(methods ...Method) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if len(methods) == 0 || slices.Contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets recorded calls and pending injected errors (LaunchThenFail's too);
// instances stay.
func (p *Provider) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	p.errs = map[Method][]error{}
	p.launchErrs = nil
}

// injected pops the next injected error of method, if any. The caller holds p.mu.
func (p *Provider) injected(method Method) error {
	queue := p.errs[method]
	if len(queue) == 0 {
		return nil
	}
	p.errs[method] = queue[1:]
	return queue[0]
}

// record appends a call. The caller holds p.mu.
func (p *Provider) record(c Call) {
	p.calls = append(p.calls, c)
}

// Create launches the cheapest available compatible offering.
func (p *Provider) Create(_ context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, err := p.create(nodeClaim)
	p.record(Call{Method: MethodCreate, NodeClaim: nodeClaim.DeepCopy(), Err: err})
	return out, err
}

func (p *Provider) create(nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	if err := p.injected(MethodCreate); err != nil {
		return nil, err
	}
	chosen, err := cloudprovider.Cheapest(cloudprovider.Candidates(p.instanceTypes, nodeClaim))
	if err != nil {
		return nil, fmt.Errorf("launching %s: %w", nodeClaim.Name, err)
	}
	p.nextID++
	launched := nodeClaim.DeepCopy()
	if launched.Labels == nil {
		launched.Labels = map[string]string{}
	}
	maps.Copy(launched.Labels, chosen.Labels())
	launched.Status.ProviderID = fmt.Sprintf("%s%s/fake-%d", ProviderIDPrefix, chosen.Offering.Zone, p.nextID)
	launched.Status.Capacity = chosen.InstanceType.Capacity.DeepCopy()
	launched.Status.Allocatable = chosen.InstanceType.Allocatable()
	launched.Status.ImageID = "fake-image"
	p.instances[launched.Status.ProviderID] = launched.DeepCopy()
	if len(p.launchErrs) > 0 {
		err := p.launchErrs[0]
		p.launchErrs = p.launchErrs[1:]
		return nil, err
	}
	return launched, nil
}

// Delete removes the instance; a second Delete returns NodeClaimNotFoundError.
func (p *Provider) Delete(_ context.Context, nodeClaim *v1.NodeClaim) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.injected(MethodDelete)
	if err == nil {
		id := nodeClaim.Status.ProviderID
		if _, ok := p.instances[id]; !ok {
			err = cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("deleting instance %q: no such instance", id))
		}
		delete(p.instances, id)
		delete(p.drifted, id)
	}
	p.record(Call{Method: MethodDelete, NodeClaim: nodeClaim.DeepCopy(), Err: err})
	return err
}

// Get returns a copy of the instance's NodeClaim.
func (p *Provider) Get(_ context.Context, providerID string) (*v1.NodeClaim, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out *v1.NodeClaim
	err := p.injected(MethodGet)
	if err == nil {
		if nc, ok := p.instances[providerID]; ok {
			out = nc.DeepCopy()
		} else {
			err = cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("getting instance %q: no such instance", providerID))
		}
	}
	p.record(Call{Method: MethodGet, ProviderID: providerID, Err: err})
	return out, err
}

// List returns copies of every instance's NodeClaim, ordered by provider ID.
func (p *Provider) List(_ context.Context) ([]*v1.NodeClaim, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.injected(MethodList)
	p.record(Call{Method: MethodList, Err: err})
	if err != nil {
		return nil, err
	}
	out := make([]*v1.NodeClaim, 0, len(p.instances))
	for _, id := range slices.Sorted(maps.Keys(p.instances)) {
		out = append(out, p.instances[id].DeepCopy())
	}
	return out, nil
}

// GetInstanceTypes returns every configured instance type, whatever the NodePool.
func (p *Provider) GetInstanceTypes(_ context.Context, nodePool *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.injected(MethodGetInstanceTypes)
	p.record(Call{Method: MethodGetInstanceTypes, NodePool: nodePool.DeepCopy(), Err: err})
	if err != nil {
		return nil, err
	}
	out := make([]*cloudprovider.InstanceType, len(p.instanceTypes))
	for i, it := range p.instanceTypes {
		c := *it
		c.Offerings = slices.Clone(it.Offerings)
		out[i] = &c
	}
	return out, nil
}

// IsDrifted returns what SetDrifted set for the NodeClaim's provider ID.
func (p *Provider) IsDrifted(_ context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.injected(MethodIsDrifted)
	reason := p.drifted[nodeClaim.Status.ProviderID]
	p.record(Call{Method: MethodIsDrifted, NodeClaim: nodeClaim.DeepCopy(), Err: err})
	if err != nil {
		return "", err
	}
	return reason, nil
}

// Name returns the configured name ("fake" by default).
func (p *Provider) Name() string { return p.name }

// GetSupportedNodeClasses returns the configured node class kinds.
func (p *Provider) GetSupportedNodeClasses() []schema.GroupVersionKind {
	return slices.Clone(p.nodeClasses)
}
