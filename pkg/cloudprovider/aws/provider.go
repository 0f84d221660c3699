package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/pricing"
)

// Name is the provider's name.
const Name = "aws"

// Drift reasons IsDrifted reports.
const (
	DriftAMI           cloudprovider.DriftReason = "AMIDrift"
	DriftSubnet        cloudprovider.DriftReason = "SubnetDrift"
	DriftSecurityGroup cloudprovider.DriftReason = "SecurityGroupDrift"
	DriftNodeClassHash cloudprovider.DriftReason = "NodeClassDrift"
)

// TagNodeClassHash is the instance tag holding the class hash at launch.
const TagNodeClassHash = awsv1.AnnotationNodeClassHash

// TagNodeClaimUID is the instance tag holding the UID of the NodeClaim it was launched for,
// so that a NodeClaim recreated under the same name never adopts its predecessor's instance.
const TagNodeClaimUID = awsv1.Group + "/nodeclaim-uid"

// NodeClassGVK is the kind of the provider's node class.
var NodeClassGVK = awsv1.SchemeGroupVersion.WithKind(awsv1.KindEC2NodeClass)

// instanceTypesTTL is how long DescribeInstanceTypes answers and spot prices are reused.
const instanceTypesTTL = 5 * time.Minute

// Deps build a Provider.
type Deps struct {
	Options Options
	Clients *Clients
	// Kube reads EC2NodeClasses. Required.
	Kube client.Client
	// Clock; default the real clock.
	Clock clock.Clock
	// Pricing; default one built from Clients (embedded prices when IsolatedVPC).
	Pricing *pricing.Provider
	// LaunchBackoff is the first wait before retrying a throttled CreateFleet; default 1s.
	LaunchBackoff time.Duration
}

// Provider is the EC2 cloud provider. Safe for concurrent use.
type Provider struct {
	opts        Options
	clients     *Clients
	kube        client.Client
	clock       clock.Clock
	pricing     *pricing.Provider
	unavailable *UnavailableOfferings
	templates   *launchTemplates
	backoff     time.Duration

	// refreshing is held by the one caller refreshing the types, outside mu, so that a
	// slow DescribeInstanceTypes never stalls the callers that only need mu.
	refreshing sync.Mutex
	mu         sync.Mutex
	types      map[string]*TypeInfo
	typesAt    time.Time
	// built caches Build's output per zones and capacity options, for the current types.
	built map[string]builtTypes
}

type builtTypes struct {
	at    time.Time
	types []*cloudprovider.InstanceType
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

// New builds a Provider; it calls AWS only when used.
func New(d Deps) (*Provider, error) {
	if d.Clients == nil || d.Clients.EC2 == nil || d.Kube == nil {
		return nil, errors.New("building aws provider: Clients.EC2 and Kube are required")
	}
	if err := d.Options.Validate(); err != nil {
		return nil, fmt.Errorf("building aws provider: %w", err)
	}
	if d.Clock == nil {
		d.Clock = clock.RealClock{}
	}
	if d.Pricing == nil {
		var products pricing.ProductsAPI
		if !d.Options.IsolatedVPC && d.Clients.Pricing != nil {
			products = d.Clients.Pricing
		}
		d.Pricing = pricing.New(products, d.Clients.EC2, d.Clients.Region, d.Clock)
	}
	if d.LaunchBackoff <= 0 {
		d.LaunchBackoff = time.Second
	}
	return &Provider{
		opts: d.Options, clients: d.Clients, kube: d.Kube, clock: d.Clock, pricing: d.Pricing,
		unavailable: NewUnavailableOfferings(d.Clock, UnavailableOfferingsTTL),
		templates:   &launchTemplates{api: d.Clients.EC2, known: map[string]bool{}},
		backoff:     d.LaunchBackoff,
	}, nil
}

// Name returns "aws".
func (p *Provider) Name() string { return Name }

// GetSupportedNodeClasses returns EC2NodeClass.
func (p *Provider) GetSupportedNodeClasses() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{NodeClassGVK}
}

// Unavailable is the cache of offerings that failed for lack of capacity; the interruption
// controller marks spot offerings in it.
func (p *Provider) Unavailable() *UnavailableOfferings { return p.unavailable }

// Options returns the provider's settings.
func (p *Provider) Options() Options { return p.opts }

// Clients returns the provider's AWS clients.
func (p *Provider) Clients() *Clients { return p.clients }

// typeInfos returns the cached DescribeInstanceTypes answer, refreshing it (and the prices)
// when older than instanceTypesTTL. One caller refreshes, without holding mu; while it
// does, the others get the previous answer, or wait for the first one.
func (p *Provider) typeInfos(ctx context.Context) (map[string]*TypeInfo, error) {
	cached, fresh := p.cachedTypes()
	if fresh {
		return cached, nil
	}
	if cached != nil {
		if !p.refreshing.TryLock() {
			return cached, nil // another caller is refreshing: the previous answer will do
		}
	} else {
		p.refreshing.Lock()
	}
	defer p.refreshing.Unlock()
	if cached, fresh := p.cachedTypes(); fresh { // refreshed while this caller waited
		return cached, nil
	}
	types, err := describeTypes(ctx, p.clients.EC2)
	if err != nil {
		return nil, err
	}
	if err := p.pricing.Refresh(ctx); err != nil {
		log.FromContext(ctx).V(1).Info("using the previous or embedded prices", "error", err.Error())
	}
	p.mu.Lock()
	p.types, p.typesAt = types, p.clock.Now()
	p.mu.Unlock()
	return types, nil
}

// cachedTypes returns the cached types and whether they are younger than instanceTypesTTL.
func (p *Provider) cachedTypes() (map[string]*TypeInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.types, p.types != nil && p.clock.Since(p.typesAt) < instanceTypesTTL
}

// nodeClass reads the EC2NodeClass a reference points at; it must exist, be Ready and
// have resolved subnets, security groups and images.
func (p *Provider) nodeClass(ctx context.Context, ref *v1.NodeClassReference) (*awsv1.EC2NodeClass, error) {
	if ref == nil {
		return nil, cloudprovider.NewNodeClassNotReadyError(errors.New("no nodeClassRef"))
	}
	if ref.Group != NodeClassGVK.Group || ref.Kind != NodeClassGVK.Kind {
		err := fmt.Errorf("node class %s/%s is not a %s", ref.Group, ref.Kind, NodeClassGVK.GroupKind())
		return nil, cloudprovider.NewCreateError(err, "UnsupportedNodeClass", err.Error())
	}
	class := &awsv1.EC2NodeClass{}
	if err := p.kube.Get(ctx, client.ObjectKey{Name: ref.Name}, class); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("getting EC2NodeClass %s: %w", ref.Name, err))
		}
		return nil, fmt.Errorf("getting EC2NodeClass %s: %w", ref.Name, err)
	}
	if cond := meta.FindStatusCondition(class.Status.Conditions, awsv1.ConditionTypeReady); cond == nil || cond.Status != metav1.ConditionTrue {
		return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("EC2NodeClass %s is not ready", ref.Name))
	}
	if len(class.Status.Subnets) == 0 || len(class.Status.SecurityGroups) == 0 || len(class.Status.AMIs) == 0 {
		return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("EC2NodeClass %s has no resolved subnets, security groups or images", ref.Name))
	}
	return class, nil
}

// buildOptions are the class's settings that shape capacity.
func (p *Provider) buildOptions(class *awsv1.EC2NodeClass) BuildOptions {
	o := BuildOptions{VMMemoryOverheadPercent: p.opts.VMMemoryOverheadPercent, ReservedENIs: p.opts.ReservedENIs}
	if p.clients != nil {
		o.Region = p.clients.Region
	}
	return ClassOptions(class, o)
}

// ClassOptions are o with the class's settings that shape capacity: its kubelet
// configuration, instance-store policy and root volume size (its AMI family's default
// block devices when it lists none).
func ClassOptions(class *awsv1.EC2NodeClass, o BuildOptions) BuildOptions {
	if class == nil {
		return o
	}
	o.Kubelet = class.Spec.Kubelet
	o.InstanceStoreRAID0 = class.Spec.InstanceStorePolicy != nil && *class.Spec.InstanceStorePolicy == awsv1.InstanceStorePolicyRAID0
	bdms := class.Spec.BlockDeviceMappings
	if len(bdms) == 0 {
		bdms = DefaultBlockDeviceMappings(class.AMIFamily())
	}
	for _, b := range bdms {
		if b != nil && b.RootVolume && b.EBS != nil && b.EBS.VolumeSize != nil {
			o.EphemeralBytes = b.EBS.VolumeSize.Value()
		}
	}
	return o
}

// instanceTypes builds the types a class can launch: offerings in its subnets' zones,
// types its images can boot, offerings marked unavailable where the cache says so.
func (p *Provider) instanceTypes(ctx context.Context, class *awsv1.EC2NodeClass) ([]*cloudprovider.InstanceType, error) {
	infos, err := p.typeInfos(ctx)
	if err != nil {
		return nil, err
	}
	var zones map[string]bool
	if class != nil {
		zones = map[string]bool{}
		for _, s := range class.Status.Subnets {
			zones[s.Zone] = true
		}
	}
	built := p.build(infos, zones, p.buildOptions(class))
	out := make([]*cloudprovider.InstanceType, 0, len(built))
	for _, it := range built {
		if class != nil && imageFor(class, it.Labels) == nil {
			continue
		}
		c := *it // shared labels and resources; fresh offerings for the availability flags
		c.Offerings = slices.Clone(it.Offerings)
		for i := range c.Offerings {
			off := &c.Offerings[i]
			if p.unavailable.IsUnavailable(c.Name, off.Zone, off.CapacityType) {
				off.Available = false
			}
		}
		out = append(out, &c)
	}
	return out, nil
}

// build returns Build's output for every type, cached per zones and options until the
// types (and with them the prices) are refreshed.
func (p *Provider) build(infos map[string]*TypeInfo, zones map[string]bool, o BuildOptions) []*cloudprovider.InstanceType {
	keyZones := slices.Sorted(maps.Keys(zones))
	key, err := json.Marshal(struct {
		Zones []string
		All   bool
		O     BuildOptions
	}{keyZones, zones == nil, o})
	if err != nil {
		panic(fmt.Sprintf("keying instance types: %v", err)) // plain data always marshals
	}
	p.mu.Lock()
	at := p.typesAt
	if e, ok := p.built[string(key)]; ok && e.at.Equal(at) {
		p.mu.Unlock()
		return e.types
	}
	p.mu.Unlock()
	names := slices.Sorted(maps.Keys(infos))
	out := make([]*cloudprovider.InstanceType, 0, len(names))
	for _, name := range names {
		if it := Build(*infos[name], p.pricing, zones, o); it != nil {
			out = append(out, it)
		}
	}
	p.mu.Lock()
	if p.built == nil || len(p.built) > 64 {
		p.built = map[string]builtTypes{}
	}
	p.built[string(key)] = builtTypes{at: at, types: out}
	p.mu.Unlock()
	return out
}

// GetInstanceTypes returns the types the NodePool's class can launch; nil NodePool means
// every type in every zone.
func (p *Provider) GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	if nodePool == nil {
		return p.instanceTypes(ctx, nil)
	}
	class, err := p.nodeClass(ctx, nodePool.Spec.Template.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	return p.instanceTypes(ctx, class)
}

// imageFor returns the first resolved image whose requirements the labels meet.
func imageFor(class *awsv1.EC2NodeClass, labels map[string]string) *awsv1.AMI {
	for i := range class.Status.AMIs {
		ami := &class.Status.AMIs[i]
		ok := true
		for _, r := range ami.Requirements {
			req := v1.NodeSelectorRequirementWithMinValues{Key: r.Key, Operator: v1.NodeSelectorOperator(r.Operator), Values: r.Values}
			if !cloudprovider.Matches(req, labels) {
				ok = false
				break
			}
		}
		if ok {
			return ami
		}
	}
	return nil
}

// ProviderID is aws:///<zone>/<instance-id>.
func ProviderID(zone, id string) string { return fmt.Sprintf("aws:///%s/%s", zone, id) }

// InstanceIDFromProviderID parses aws:///<zone>/<instance-id>.
func InstanceIDFromProviderID(providerID string) (string, error) {
	rest, ok := strings.CutPrefix(providerID, "aws:///")
	if !ok {
		return "", fmt.Errorf("parsing provider ID %q: not aws:///<zone>/<instance-id>", providerID)
	}
	_, id, ok := strings.Cut(rest, "/")
	if !ok || !strings.HasPrefix(id, "i-") {
		return "", fmt.Errorf("parsing provider ID %q: not aws:///<zone>/<instance-id>", providerID)
	}
	return id, nil
}

// liveStates are the instance states that count as existing.
var liveStates = []string{"pending", "running", "stopping", "stopped"}

// describeInstance returns the live instance with the ID, or a NodeClaimNotFoundError.
func (p *Provider) describeInstance(ctx context.Context, id string) (ec2types.Instance, error) {
	out, err := p.clients.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if isEC2NotFound(err) {
		return ec2types.Instance{}, cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("instance %s: %w", id, err))
	}
	if err != nil {
		return ec2types.Instance{}, fmt.Errorf("describing instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id && inst.State != nil && isLive(string(inst.State.Name)) {
				return inst, nil
			}
		}
	}
	return ec2types.Instance{}, cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("instance %s is gone", id))
}

func isLive(state string) bool {
	for _, s := range liveStates {
		if s == state {
			return true
		}
	}
	return false
}

// Get returns the NodeClaim of the instance with the provider ID.
func (p *Provider) Get(ctx context.Context, providerID string) (*v1.NodeClaim, error) {
	id, err := InstanceIDFromProviderID(providerID)
	if err != nil {
		return nil, cloudprovider.NewNodeClaimNotFoundError(err)
	}
	inst, err := p.describeInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	return p.toNodeClaim(ctx, inst, map[string]*awsv1.EC2NodeClass{})
}

// List returns a NodeClaim for every live instance of the cluster Karpenter launched.
func (p *Provider) List(ctx context.Context) ([]*v1.NodeClaim, error) {
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag-key"), Values: []string{awsv1.TagNodePool}},
		{Name: aws.String("tag:" + awsv1.TagClusterPrefix + p.opts.ClusterName), Values: []string{"owned"}},
		{Name: aws.String("instance-state-name"), Values: liveStates},
	}}
	var out []*v1.NodeClaim
	classes := map[string]*awsv1.EC2NodeClass{}
	for {
		resp, err := p.clients.EC2.DescribeInstances(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing instances: %w", err)
		}
		for _, r := range resp.Reservations {
			for _, inst := range r.Instances {
				if inst.State == nil || !isLive(string(inst.State.Name)) {
					continue
				}
				nc, err := p.toNodeClaim(ctx, inst, classes)
				if err != nil {
					return nil, err
				}
				out = append(out, nc)
			}
		}
		if aws.ToString(resp.NextToken) == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}

// Delete terminates the NodeClaim's instance; NodeClaimNotFoundError when already gone.
func (p *Provider) Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error {
	id, err := InstanceIDFromProviderID(nodeClaim.Status.ProviderID)
	if err != nil {
		return cloudprovider.NewNodeClaimNotFoundError(err)
	}
	if _, err := p.describeInstance(ctx, id); err != nil {
		return err
	}
	if _, err := p.clients.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		if isEC2NotFound(err) {
			return cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("terminating %s: %w", id, err))
		}
		return fmt.Errorf("terminating instance %s: %w", id, err)
	}
	return nil
}

// IsDrifted compares the instance with its class's resolved status and hash.
func (p *Provider) IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	class := &awsv1.EC2NodeClass{}
	if ref := nodeClaim.Spec.NodeClassRef; ref == nil {
		return "", nil
	} else if err := p.kube.Get(ctx, client.ObjectKey{Name: ref.Name}, class); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	id, err := InstanceIDFromProviderID(nodeClaim.Status.ProviderID)
	if err != nil {
		return "", nil // not launched yet
	}
	inst, err := p.describeInstance(ctx, id)
	if err != nil {
		return "", err
	}
	return Drift(class, inst), nil
}

// Drift reports why an instance no longer matches its class, or "".
func Drift(class *awsv1.EC2NodeClass, inst ec2types.Instance) cloudprovider.DriftReason {
	if len(class.Status.AMIs) > 0 {
		found := false
		for _, a := range class.Status.AMIs {
			found = found || a.ID == aws.ToString(inst.ImageId)
		}
		if !found {
			return DriftAMI
		}
	}
	if len(class.Status.Subnets) > 0 {
		found := false
		for _, s := range class.Status.Subnets {
			found = found || s.ID == aws.ToString(inst.SubnetId)
		}
		if !found {
			return DriftSubnet
		}
	}
	if len(class.Status.SecurityGroups) > 0 {
		want := map[string]bool{}
		for _, g := range class.Status.SecurityGroups {
			want[g.ID] = true
		}
		have := map[string]bool{}
		for _, g := range inst.SecurityGroups {
			have[aws.ToString(g.GroupId)] = true
		}
		if len(have) != len(want) {
			return DriftSecurityGroup
		}
		for id := range have {
			if !want[id] {
				return DriftSecurityGroup
			}
		}
	}
	if h := class.Annotations[awsv1.AnnotationNodeClassHash]; h != "" {
		if tag := tagValue(inst.Tags, TagNodeClassHash); tag != "" && tag != h {
			return DriftNodeClassHash
		}
	}
	return ""
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// DeleteInstanceProfile deletes the instance profile created for the class's role.
func (p *Provider) DeleteInstanceProfile(ctx context.Context, class *awsv1.EC2NodeClass) error {
	return DeleteInstanceProfile(ctx, p.clients.IAM, p.opts.ClusterName, p.clients.Region, class)
}
