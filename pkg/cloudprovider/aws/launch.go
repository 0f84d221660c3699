package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/userdata"
)

// MaxOverrides is the most overrides one CreateFleet carries.
const MaxOverrides = 60

// launchAttempts bounds the retries on the remaining offerings after capacity errors.
const launchAttempts = 3

// throttleAttempts bounds the retries of a throttled CreateFleet.
const throttleAttempts = 5

// ReasonLaunchFailed is the CreateError reason when CreateFleet fails for other causes.
const ReasonLaunchFailed = "LaunchFailed"

// Create launches one instance for the NodeClaim with CreateFleet.
func (p *Provider) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	its, err := p.instanceTypes(ctx, class)
	if err != nil {
		return nil, fmt.Errorf("launching %s: %w", nodeClaim.Name, err)
	}
	var lastErr error
	for attempt := 0; attempt < launchAttempts; attempt++ {
		candidates := cloudprovider.Candidates(its, nodeClaim)
		available := slices.DeleteFunc(slices.Clone(candidates), func(c cloudprovider.Candidate) bool {
			return !c.Offering.Available || p.unavailable.IsUnavailable(c.InstanceType.Name, c.Offering.Zone, c.Offering.CapacityType)
		})
		if len(available) == 0 {
			if lastErr != nil {
				return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("launching %s: %w", nodeClaim.Name, lastErr))
			}
			_, err := cloudprovider.Cheapest(candidates)
			return nil, err
		}
		launched, err := p.launch(ctx, class, nodeClaim, available)
		if err == nil {
			return launched, nil
		}
		if !cloudprovider.IsInsufficientCapacityError(err) {
			return nil, err
		}
		lastErr = err
	}
	return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("launching %s after %d attempts: %w", nodeClaim.Name, launchAttempts, lastErr))
}

// override is one CreateFleet override with what it stands for.
type override struct {
	candidate cloudprovider.Candidate
	subnet    awsv1.Subnet
	template  string
}

// launch makes one CreateFleet call over the cheapest available candidates (spot when any
// is spot, else on-demand). Capacity errors mark their offerings unavailable and return an
// InsufficientCapacityError so Create retries the rest.
func (p *Provider) launch(ctx context.Context, class *awsv1.EC2NodeClass, nc *v1.NodeClaim, available []cloudprovider.Candidate) (*v1.NodeClaim, error) {
	capacityType := CapacityTypeOnDemand
	if slices.ContainsFunc(available, func(c cloudprovider.Candidate) bool { return c.Offering.CapacityType == CapacityTypeSpot }) {
		capacityType = CapacityTypeSpot
	}
	subnetByZone := map[string]awsv1.Subnet{}
	for _, s := range class.Status.Subnets { // most free addresses first: keep the first per zone
		if _, ok := subnetByZone[s.Zone]; !ok {
			subnetByZone[s.Zone] = s
		}
	}
	hash := class.Annotations[awsv1.AnnotationNodeClassHash]
	var overrides []override
	for _, c := range available {
		if c.Offering.CapacityType != capacityType {
			continue
		}
		subnet, ok := subnetByZone[c.Offering.Zone]
		if !ok {
			continue
		}
		tmpl, err := p.ensureTemplate(ctx, class, nc, c)
		if err != nil {
			return nil, err
		}
		overrides = append(overrides, override{candidate: c, subnet: subnet, template: tmpl})
		if len(overrides) == MaxOverrides {
			break
		}
	}
	if len(overrides) == 0 {
		return nil, cloudprovider.NewInsufficientCapacityError(errors.New("no offering has a subnet in its zone"))
	}
	in := p.fleetInput(class, nc, capacityType, overrides, hash)
	out, err := p.createFleet(ctx, in)
	if err != nil {
		return nil, cloudprovider.NewCreateError(fmt.Errorf("creating fleet: %w", err), ReasonLaunchFailed, err.Error())
	}
	var capacityErrs []string
	for _, e := range out.Errors {
		code := aws.ToString(e.ErrorCode)
		if !IsCapacityErrorCode(code) {
			continue
		}
		if e.LaunchTemplateAndOverrides != nil && e.LaunchTemplateAndOverrides.Overrides != nil {
			o := e.LaunchTemplateAndOverrides.Overrides
			zone := aws.ToString(o.AvailabilityZone)
			if zone == "" {
				for _, ov := range overrides {
					if ov.subnet.ID == aws.ToString(o.SubnetId) {
						zone = ov.subnet.Zone
					}
				}
			}
			p.unavailable.MarkUnavailable(string(o.InstanceType), zone, capacityType)
			capacityErrs = append(capacityErrs, fmt.Sprintf("%s %s/%s/%s", code, o.InstanceType, zone, capacityType))
		}
	}
	for _, inst := range out.Instances {
		for _, id := range inst.InstanceIds {
			described, err := p.describeInstance(ctx, id)
			if err != nil {
				// CreateFleet launched it: reporting a failure would make the lifecycle
				// launch again. DescribeInstances often does not see a new instance for
				// seconds, so the NodeClaim is built from the fleet's answer instead.
				log.FromContext(ctx).V(1).Info("describing the launched instance failed, using the fleet's answer", "instance", id, "error", err.Error())
				described = fleetInstance(inst, id, overrides, capacityType, class, p.instanceTags(class, nc, hash))
			}
			return p.toNodeClaimWith(described, nc, class)
		}
	}
	if len(capacityErrs) > 0 {
		return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("creating fleet: %v", capacityErrs))
	}
	msg := "creating fleet: no instance launched"
	for _, e := range out.Errors {
		msg += fmt.Sprintf("; %s: %s", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return nil, cloudprovider.NewCreateError(errors.New(msg), ReasonLaunchFailed, msg)
}

// fleetInstance describes an instance from CreateFleet's answer and the override it came
// from (matched by instance type, then subnet or zone): what a DescribeInstances that does
// not see the instance yet cannot tell.
func fleetInstance(fi ec2types.CreateFleetInstance, id string, overrides []override, capacityType string, class *awsv1.EC2NodeClass, tags []ec2types.Tag) ec2types.Instance {
	itype := fi.InstanceType
	var subnetID, zone string
	if lt := fi.LaunchTemplateAndOverrides; lt != nil && lt.Overrides != nil {
		if itype == "" {
			itype = lt.Overrides.InstanceType
		}
		subnetID, zone = aws.ToString(lt.Overrides.SubnetId), aws.ToString(lt.Overrides.AvailabilityZone)
	}
	var match *override
	for i := range overrides {
		o := &overrides[i]
		if itype != "" && o.candidate.InstanceType.Name != string(itype) {
			continue
		}
		if (subnetID == "" || o.subnet.ID == subnetID) && (zone == "" || o.subnet.Zone == zone) {
			match = o
			break
		}
	}
	inst := ec2types.Instance{InstanceId: aws.String(id), InstanceType: itype, Tags: tags,
		State: &ec2types.InstanceState{Name: ec2types.InstanceStateNamePending}}
	if match != nil {
		itype, subnetID, zone = ec2types.InstanceType(match.candidate.InstanceType.Name), match.subnet.ID, match.subnet.Zone
		inst.InstanceType = itype
		if ami := imageFor(class, match.candidate.InstanceType.Labels); ami != nil {
			inst.ImageId = aws.String(ami.ID)
		}
	}
	inst.SubnetId = aws.String(subnetID)
	inst.Placement = &ec2types.Placement{AvailabilityZone: aws.String(zone)}
	if fi.Lifecycle == ec2types.InstanceLifecycleSpot || (fi.Lifecycle == "" && capacityType == CapacityTypeSpot) {
		inst.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
	}
	return inst
}

// createFleet calls CreateFleet, retrying throttling with exponential backoff on the clock.
func (p *Provider) createFleet(ctx context.Context, in *ec2.CreateFleetInput) (*ec2.CreateFleetOutput, error) {
	wait := p.backoff
	for attempt := 1; ; attempt++ {
		out, err := p.clients.EC2.CreateFleet(ctx, in)
		if err == nil || !IsThrottling(err) || attempt == throttleAttempts {
			return out, err
		}
		log.FromContext(ctx).V(1).Info("CreateFleet throttled, retrying", "wait", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.clock.After(wait):
		}
		wait *= 2
	}
}

// instanceTags are the tags of the instance, its volumes and the fleet.
func (p *Provider) instanceTags(class *awsv1.EC2NodeClass, nc *v1.NodeClaim, hash string) []ec2types.Tag {
	tags := map[string]string{}
	maps.Copy(tags, class.Spec.Tags)
	tags[awsv1.TagName] = nc.Name
	tags[awsv1.TagNodePool] = nc.Labels[v1.NodePoolLabelKey]
	tags[awsv1.TagNodeClaim] = nc.Name
	tags[awsv1.LabelNodeClass] = class.Name
	tags[awsv1.TagClusterPrefix+p.opts.ClusterName] = "owned"
	if hash != "" {
		tags[TagNodeClassHash] = hash
	}
	if nc.UID != "" {
		tags[TagNodeClaimUID] = string(nc.UID)
	}
	out := make([]ec2types.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func (p *Provider) fleetInput(class *awsv1.EC2NodeClass, nc *v1.NodeClaim, capacityType string, overrides []override, hash string) *ec2.CreateFleetInput {
	byTemplate := map[string][]ec2types.FleetLaunchTemplateOverridesRequest{}
	var order []string
	for i, o := range overrides {
		if _, ok := byTemplate[o.template]; !ok {
			order = append(order, o.template)
		}
		byTemplate[o.template] = append(byTemplate[o.template], ec2types.FleetLaunchTemplateOverridesRequest{
			InstanceType:     ec2types.InstanceType(o.candidate.InstanceType.Name),
			SubnetId:         aws.String(o.subnet.ID),
			AvailabilityZone: aws.String(o.subnet.Zone),
			Priority:         aws.Float64(float64(i)),
		})
	}
	configs := make([]ec2types.FleetLaunchTemplateConfigRequest, 0, len(order))
	for _, name := range order {
		configs = append(configs, ec2types.FleetLaunchTemplateConfigRequest{
			LaunchTemplateSpecification: &ec2types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateName: aws.String(name), Version: aws.String("$Latest")},
			Overrides:                   byTemplate[name],
		})
	}
	tags := p.instanceTags(class, nc, hash)
	in := &ec2.CreateFleetInput{
		Type:                  ec2types.FleetTypeInstant,
		LaunchTemplateConfigs: configs,
		TargetCapacitySpecification: &ec2types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(1),
			DefaultTargetCapacityType: ec2types.DefaultTargetCapacityType(capacityType),
		},
		SpotOptions:     &ec2types.SpotOptionsRequest{AllocationStrategy: ec2types.SpotAllocationStrategyPriceCapacityOptimized},
		OnDemandOptions: &ec2types.OnDemandOptionsRequest{AllocationStrategy: ec2types.FleetOnDemandAllocationStrategyLowestPrice},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: tags},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: tags},
			{ResourceType: ec2types.ResourceTypeFleet, Tags: tags},
		},
		Context: class.Spec.Context,
	}
	return in
}

// ensureTemplate returns the launch template for the candidate: image for its type, user
// data with its max pods and the NodeClaim's labels and taints.
func (p *Provider) ensureTemplate(ctx context.Context, class *awsv1.EC2NodeClass, nc *v1.NodeClaim, c cloudprovider.Candidate) (string, error) {
	ami := imageFor(class, c.InstanceType.Labels)
	if ami == nil {
		return "", fmt.Errorf("no image of %s fits %s", class.Name, c.InstanceType.Name)
	}
	labels := map[string]string{}
	for k, v := range nc.Labels {
		labels[k] = v
	}
	ud, err := userdata.For(class.AMIFamily(), userdata.Options{
		ClusterName: p.opts.ClusterName, Endpoint: p.opts.ClusterEndpoint, CABundle: p.opts.ClusterCABundle,
		MaxPods: int32(c.InstanceType.Capacity.Pods().Value()), Labels: labels,
		Taints: append(slices.Clone(nc.Spec.Taints), nc.Spec.StartupTaints...), Kubelet: class.Spec.Kubelet,
		Custom: aws.ToString(class.Spec.UserData), InstanceStorePolicy: instanceStorePolicy(class),
	})
	if err != nil {
		return "", cloudprovider.NewCreateError(err, "InvalidUserData", err.Error())
	}
	groups := make([]string, 0, len(class.Status.SecurityGroups))
	for _, g := range class.Status.SecurityGroups {
		groups = append(groups, g.ID)
	}
	bdms := class.Spec.BlockDeviceMappings
	if len(bdms) == 0 {
		bdms = DefaultBlockDeviceMappings(class.AMIFamily())
	}
	metadata := class.Spec.MetadataOptions
	if metadata == nil { // the API server defaults it; a class from elsewhere gets the same
		metadata = &awsv1.MetadataOptions{HTTPEndpoint: aws.String("enabled"), HTTPProtocolIPv6: aws.String("disabled"),
			HTTPPutResponseHopLimit: aws.Int64(1), HTTPTokens: aws.String("required")}
	}
	return p.templates.Ensure(ctx, LaunchTemplateSpec{
		ClusterName: p.opts.ClusterName, NodeClassName: class.Name, ImageID: ami.ID, UserData: ud,
		SecurityGroupIDs: groups, InstanceProfile: class.Status.InstanceProfile, MetadataOptions: metadata,
		BlockDeviceMappings: bdms, DetailedMonitoring: aws.ToBool(class.Spec.DetailedMonitoring),
		AssociatePublicIP: class.Spec.AssociatePublicIPAddress, Tags: class.Spec.Tags,
	})
}

func instanceStorePolicy(class *awsv1.EC2NodeClass) string {
	if class.Spec.InstanceStorePolicy == nil {
		return ""
	}
	return string(*class.Spec.InstanceStorePolicy)
}

// DeleteLaunchTemplates deletes the class's launch templates (the termination finalizer).
func (p *Provider) DeleteLaunchTemplates(ctx context.Context, className string) (int, error) {
	return p.templates.DeleteAll(ctx, p.opts.ClusterName, className)
}

// capacityTypeOf is the karpenter.sh/capacity-type of an instance.
func capacityTypeOf(inst ec2types.Instance) string {
	if inst.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot {
		return CapacityTypeSpot
	}
	return CapacityTypeOnDemand
}

// toNodeClaim describes an instance as a NodeClaim, with the capacity its class allows.
// classes memoizes class reads across the instances of one List.
func (p *Provider) toNodeClaim(ctx context.Context, inst ec2types.Instance, classes map[string]*awsv1.EC2NodeClass) (*v1.NodeClaim, error) {
	if _, err := p.typeInfos(ctx); err != nil {
		return nil, err
	}
	var class *awsv1.EC2NodeClass
	if name := tagValue(inst.Tags, awsv1.LabelNodeClass); name != "" {
		c, seen := classes[name]
		if !seen {
			c = &awsv1.EC2NodeClass{}
			if err := p.kube.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return nil, fmt.Errorf("getting EC2NodeClass %s: %w", name, err)
				}
				c = nil
			}
			classes[name] = c
		}
		class = c
	}
	return p.toNodeClaimWith(inst, nil, class)
}

// toNodeClaimWith builds the NodeClaim of an instance; base (the NodeClaim being launched)
// contributes its labels and name when given.
func (p *Provider) toNodeClaimWith(inst ec2types.Instance, base *v1.NodeClaim, class *awsv1.EC2NodeClass) (*v1.NodeClaim, error) {
	zone := ""
	if inst.Placement != nil {
		zone = aws.ToString(inst.Placement.AvailabilityZone)
	}
	id := aws.ToString(inst.InstanceId)
	nc := &v1.NodeClaim{}
	if base != nil {
		nc = base.DeepCopy()
	} else {
		nc.Name = tagValue(inst.Tags, awsv1.TagNodeClaim)
		nc.UID = types.UID(tagValue(inst.Tags, TagNodeClaimUID))
		nc.Labels = map[string]string{v1.NodePoolLabelKey: tagValue(inst.Tags, awsv1.TagNodePool)}
		if inst.LaunchTime != nil {
			nc.CreationTimestamp = metav1.NewTime(*inst.LaunchTime)
		}
	}
	if nc.Labels == nil {
		nc.Labels = map[string]string{}
	}
	nc.Status.ProviderID = ProviderID(zone, id)
	nc.Status.ImageID = aws.ToString(inst.ImageId)
	capacityType := capacityTypeOf(inst)
	p.mu.Lock()
	info := p.types[string(inst.InstanceType)]
	p.mu.Unlock()
	if info != nil {
		it := Build(*info, p.pricing, nil, p.buildOptions(class))
		if it != nil {
			maps.Copy(nc.Labels, cloudprovider.OfferingLabels(it, cloudprovider.Offering{Zone: zone, CapacityType: capacityType}))
			nc.Status.Capacity = it.Capacity
			nc.Status.Allocatable = it.Allocatable()
		}
	}
	nc.Labels[v1.LabelInstanceType] = string(inst.InstanceType)
	nc.Labels[v1.LabelTopologyZone] = zone
	nc.Labels[v1.CapacityTypeLabelKey] = capacityType
	if class != nil {
		nc.Labels[awsv1.LabelNodeClass] = class.Name
	}
	if nc.Annotations == nil {
		nc.Annotations = map[string]string{}
	}
	if h := tagValue(inst.Tags, TagNodeClassHash); h != "" {
		nc.Annotations[awsv1.AnnotationNodeClassHash] = h
	}
	return nc, nil
}
