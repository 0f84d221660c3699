package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// Name is the provider's name, the provider label of its metrics.
const Name = "sim"

// DefaultImageID is the image of a class that names none.
const DefaultImageID = "sim-image-v1"

// DefaultUnavailableOfferingsTTL is how long a pool that answered "insufficient capacity"
// is skipped, as AWS Karpenter caches unavailable offerings for three minutes.
const DefaultUnavailableOfferingsTTL = 3 * time.Minute

// Drift reasons IsDrifted reports.
const (
	DriftImage        cloudprovider.DriftReason = "ImageDrift"
	DriftZone         cloudprovider.DriftReason = "ZoneDrift"
	DriftInstanceType cloudprovider.DriftReason = "InstanceTypeDrift"
)

// NodeClassGVK is the kind of the sim's node class.
var NodeClassGVK = simv1alpha1.SchemeGroupVersion.WithKind(simv1alpha1.KindSimNodeClass)

// Options configure a Provider.
type Options struct {
	// Client reads and writes SimNodeClasses and SimInstances. Required. A client that
	// reads straight from the API server is best: the instances are loaded once from it.
	Client client.Client
	// NodeClassReader reads SimNodeClasses; default Client. The operator passes the
	// manager's cache: the drift check reads the class of every NodeClaim every 30 s and
	// GetInstanceTypes the class of every NodePool every pass, which at 2,000 nodes would be
	// a hundred API requests a second from a quiet cluster.
	NodeClassReader client.Reader
	// InstanceReader lists the SimInstances a Resync reloads; default Client (a list from
	// the API server). The operator passes the manager's cache: the registrar resyncs every
	// 30 s, and decoding 2,000 instances from the API server each time was the largest part
	// of a quiet controller's CPU. A cache can lag the provider's own writes, so with one a
	// write is kept over the listed instances for RecentWriteTTL, not only until the first
	// list that began after it.
	InstanceReader client.Reader
	// Clock times launches, boots, unavailable offerings and interruptions; default the
	// real clock.
	Clock clock.Clock
	// InstanceTypes is the catalogue; default CatalogPath if set, else catalog.Default().
	InstanceTypes []*cloudprovider.InstanceType
	// CatalogPath is a file in the ec2-catalog.json format, read with catalog.Load.
	CatalogPath string
	// Region selects the catalogue file's prices and zones; default catalog.DefaultRegion.
	Region string
	// LaunchDelay is how long Create takes when the class does not say; default 0.
	LaunchDelay time.Duration
	// BootDelay is how long a Node takes to appear when the class does not say; default 0.
	BootDelay time.Duration
	// UnavailableOfferingsTTL; default DefaultUnavailableOfferingsTTL.
	UnavailableOfferingsTTL time.Duration
}

// Provider is the simulated cloud. Create it with New; it is safe for concurrent use.
type Provider struct {
	client        client.Client
	classes       client.Reader
	clock         clock.Clock
	instanceTypes []*cloudprovider.InstanceType
	ttl           time.Duration

	mu               sync.Mutex
	loaded           bool
	instances        map[string]*simv1alpha1.SimInstance // by instance ID
	launchDelay      time.Duration
	bootDelay        time.Duration
	failRegistration bool
	seq              uint64                    // counts writes, see recordLocked
	instanceReader   client.Reader             // nil: Resync lists from client
	recent           map[string]recentWrite    // writes a running Resync may not have seen
	exhausted        map[offeringKey]bool      // pools that answer "insufficient capacity"
	unavailable      map[offeringKey]time.Time // pools skipped until the time
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

type offeringKey struct{ instanceType, zone, capacityType string }

// New builds a Provider. It does not touch the API server until first used.
func New(opts Options) (*Provider, error) {
	if opts.Client == nil {
		return nil, errors.New("building sim provider: Options.Client is required")
	}
	p := &Provider{
		client: opts.Client, classes: opts.NodeClassReader, instanceReader: opts.InstanceReader, clock: opts.Clock, instanceTypes: opts.InstanceTypes,
		ttl: opts.UnavailableOfferingsTTL, launchDelay: opts.LaunchDelay, bootDelay: opts.BootDelay,
		instances: map[string]*simv1alpha1.SimInstance{}, recent: map[string]recentWrite{},
		exhausted: map[offeringKey]bool{}, unavailable: map[offeringKey]time.Time{},
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	if p.classes == nil {
		p.classes = p.client
	}
	if p.ttl <= 0 {
		p.ttl = DefaultUnavailableOfferingsTTL
	}
	if p.instanceTypes == nil {
		if opts.CatalogPath != "" {
			region := opts.Region
			if region == "" {
				region = catalog.DefaultRegion
			}
			its, err := catalog.Load(opts.CatalogPath, region)
			if err != nil {
				return nil, fmt.Errorf("loading sim catalogue: %w", err)
			}
			p.instanceTypes = its
		} else {
			p.instanceTypes = catalog.Default()
		}
	}
	if len(p.instanceTypes) == 0 {
		return nil, errors.New("building sim provider: the catalogue is empty")
	}
	return p, nil
}

// Name returns "sim".
func (p *Provider) Name() string { return Name }

// GetSupportedNodeClasses returns SimNodeClass.
func (p *Provider) GetSupportedNodeClasses() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{NodeClassGVK}
}

// Create launches the cheapest available compatible offering, after the launch delay.
func (p *Provider) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	if existing, err := p.launchedFor(ctx, nodeClaim); err != nil || existing != nil {
		return existing, err
	}
	if err := p.wait(ctx, p.classLaunchDelay(class)); err != nil {
		return nil, fmt.Errorf("launching %s: %w", nodeClaim.Name, err)
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	// Choose under the lock; write to the API server without it, so a slow or failing
	// API server does not stall every other call of the provider.
	p.mu.Lock()
	chosen, err := p.chooseLocked(class, nodeClaim)
	var inst *simv1alpha1.SimInstance
	if err == nil {
		inst = p.newInstance(class, nodeClaim, chosen)
	}
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("launching %s: %w", nodeClaim.Name, err)
	}
	if late := classLateLaunch(class); late > 0 {
		// An ambiguous launch: the cloud records the instance now, it appears later, and
		// the caller hears only that its request timed out.
		inst.Spec.LaunchTime = simv1alpha1.NewInstant(inst.Spec.LaunchTime.Add(late))
	}
	inst, err = p.persist(ctx, inst)
	if err != nil {
		return nil, err
	}
	if !p.visible(inst) {
		return nil, launchTimedOut(nodeClaim, inst)
	}
	return launched(nodeClaim, inst), nil
}

// launchedFor returns the NodeClaim of an instance already launched for this NodeClaim's
// UID, so a Create repeated after a restart does not launch twice. A late launch that has
// not appeared yet times out again.
func (p *Provider) launchedFor(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	if nodeClaim.UID == "" {
		return nil, nil
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if inst, ok := p.instances[instanceIDFor(string(nodeClaim.UID))]; ok && inst.Spec.NodeClaimUID == string(nodeClaim.UID) {
		if !p.visible(inst) {
			return nil, launchTimedOut(nodeClaim, inst)
		}
		return launched(nodeClaim, inst), nil
	}
	return nil, nil
}

// wait blocks for d on the clock, or until ctx ends.
func (p *Provider) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-p.clock.After(d):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting out the launch delay: %w", ctx.Err())
	}
}

// chooseLocked walks the price-ordered candidates; a pool marked exhausted (by
// SetInsufficientCapacity or the class's insufficientCapacity) answers "insufficient
// capacity", is remembered as unavailable and the next one is tried.
func (p *Provider) chooseLocked(class *simv1alpha1.SimNodeClass, nodeClaim *v1.NodeClaim) (cloudprovider.Candidate, error) {
	candidates := cloudprovider.Candidates(p.instanceTypesLocked(class), nodeClaim)
	for i, c := range candidates {
		if !c.Offering.Available {
			continue
		}
		key := offeringKey{c.InstanceType.Name, c.Offering.Zone, c.Offering.CapacityType}
		if p.exhausted[key] || classExhausts(class, key) {
			p.unavailable[key] = p.clock.Now().Add(p.ttl)
			candidates[i].Offering.Available = false
			continue
		}
		return c, nil
	}
	return cloudprovider.Cheapest(candidates)
}

func (p *Provider) newInstance(class *simv1alpha1.SimNodeClass, nodeClaim *v1.NodeClaim, c cloudprovider.Candidate) *simv1alpha1.SimInstance {
	labels := c.Labels()
	for k, v := range nodeClaim.Labels {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	taints := append(slices.Clone(nodeClaim.Spec.Taints), nodeClaim.Spec.StartupTaints...)
	taints = append(taints, v1.UnregisteredNoExecuteTaint)
	inst := &simv1alpha1.SimInstance{
		Spec: simv1alpha1.SimInstanceSpec{
			InstanceType:     c.InstanceType.Name,
			Zone:             c.Offering.Zone,
			CapacityType:     c.Offering.CapacityType,
			PricePerHour:     strconv.FormatFloat(c.Offering.PricePerHour, 'f', -1, 64),
			NodeClaim:        nodeClaim.Name,
			NodeClaimUID:     string(nodeClaim.UID),
			ImageID:          classImage(class),
			Labels:           labels,
			Taints:           taints,
			Capacity:         c.InstanceType.Capacity.DeepCopy(),
			Allocatable:      c.InstanceType.Allocatable(),
			LaunchTime:       simv1alpha1.NewInstant(p.clock.Now()),
			BootDelay:        metav1.Duration{Duration: p.classBootDelayLocked(class)},
			FailRegistration: p.failRegistration || (class != nil && class.Spec.FailRegistration),
		},
	}
	if class != nil {
		inst.Spec.NodeClass = class.Name
	}
	return inst
}

// persist writes the instance to the API server under its instance ID and keeps it in
// memory. A NodeClaim UID gives a fixed ID: if it exists already, that instance wins. The
// caller does not hold the lock.
func (p *Provider) persist(ctx context.Context, inst *simv1alpha1.SimInstance) (*simv1alpha1.SimInstance, error) {
	for attempt := 0; attempt < 3; attempt++ {
		if inst.Spec.NodeClaimUID != "" {
			inst.Name = instanceIDFor(inst.Spec.NodeClaimUID)
		} else {
			id, err := randomInstanceID()
			if err != nil {
				return nil, err
			}
			inst.Name = id
		}
		inst.Spec.Labels[v1.LabelHostname] = inst.Name
		err := p.client.Create(ctx, inst)
		if err == nil {
			p.mu.Lock()
			p.recordLocked(inst.Name, inst.DeepCopy())
			p.mu.Unlock()
			return inst, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("recording instance %s: %w", inst.Name, err)
		}
		existing := &simv1alpha1.SimInstance{}
		if err := p.client.Get(ctx, client.ObjectKey{Name: inst.Name}, existing); err != nil {
			return nil, fmt.Errorf("reading instance %s: %w", inst.Name, err)
		}
		if inst.Spec.NodeClaimUID != "" && existing.Spec.NodeClaimUID == inst.Spec.NodeClaimUID {
			p.mu.Lock()
			p.recordLocked(existing.Name, existing.DeepCopy())
			p.mu.Unlock()
			return existing, nil
		}
	}
	return nil, cloudprovider.NewCreateError(errors.New("instance ID collisions"), "InstanceIDCollision", "could not pick a free instance ID")
}

// Delete terminates the instance and forgets its interruption.
func (p *Provider) Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error {
	if err := p.ensureLoaded(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	inst, err := p.byProviderIDLocked(nodeClaim.Status.ProviderID)
	if err == nil {
		inst = inst.DeepCopy()
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("deleting %s: %w", nodeClaim.Name, err)
	}
	if err := p.client.Delete(ctx, inst); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting instance %s: %w", inst.Name, err)
	}
	p.mu.Lock()
	p.recordLocked(inst.Name, nil)
	p.mu.Unlock()
	return nil
}

// Get returns the NodeClaim of the instance with this provider ID.
func (p *Provider) Get(ctx context.Context, providerID string) (*v1.NodeClaim, error) {
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	inst, err := p.byProviderIDLocked(providerID)
	if err != nil {
		return nil, err
	}
	return nodeClaimOf(inst), nil
}

// List returns the NodeClaims of every instance, ordered by instance ID. A late launch
// is listed once it has appeared.
func (p *Provider) List(ctx context.Context) ([]*v1.NodeClaim, error) {
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*v1.NodeClaim, 0, len(p.instances))
	for _, id := range slices.Sorted(maps.Keys(p.instances)) {
		if p.visible(p.instances[id]) {
			out = append(out, nodeClaimOf(p.instances[id]))
		}
	}
	return out, nil
}

// GetInstanceTypes returns the catalogue restricted by the NodePool's SimNodeClass, with
// pools that recently ran out of capacity marked unavailable.
func (p *Provider) GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	var ref *v1.NodeClassReference
	if nodePool != nil {
		ref = nodePool.Spec.Template.Spec.NodeClassRef
	}
	class, err := p.nodeClass(ctx, ref)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.instanceTypesLocked(class), nil
}

// IsDrifted compares the instance with its SimNodeClass as it is now.
func (p *Provider) IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef)
	if err != nil {
		return "", err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	inst, err := p.byProviderIDLocked(nodeClaim.Status.ProviderID)
	if err != nil {
		return "", err
	}
	return drift(class, inst), nil
}

func drift(class *simv1alpha1.SimNodeClass, inst *simv1alpha1.SimInstance) cloudprovider.DriftReason {
	if class == nil {
		return ""
	}
	switch {
	case classImage(class) != inst.Spec.ImageID:
		return DriftImage
	case len(class.Spec.Zones) > 0 && !slices.Contains(class.Spec.Zones, inst.Spec.Zone):
		return DriftZone
	case len(class.Spec.InstanceTypes) > 0 && !slices.Contains(class.Spec.InstanceTypes, inst.Spec.InstanceType):
		return DriftInstanceType
	}
	return ""
}
