package aws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/apimachinery/pkg/api/resource"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
)

// LaunchTemplatePrefix starts the name of every launch template Karpenter creates.
const LaunchTemplatePrefix = "karpenter.k8s.aws/"

// LaunchTemplateSpec is everything a launch template holds. Equal specs share a template:
// the name is the hash of the spec.
type LaunchTemplateSpec struct {
	ClusterName         string                      `json:"clusterName"`
	NodeClassName       string                      `json:"nodeClassName"`
	ImageID             string                      `json:"imageID"`
	UserData            string                      `json:"userData"`
	SecurityGroupIDs    []string                    `json:"securityGroupIDs"`
	InstanceProfile     string                      `json:"instanceProfile"`
	MetadataOptions     *awsv1.MetadataOptions      `json:"metadataOptions,omitempty"`
	BlockDeviceMappings []*awsv1.BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`
	DetailedMonitoring  bool                        `json:"detailedMonitoring"`
	AssociatePublicIP   *bool                       `json:"associatePublicIP,omitempty"`
	Tags                map[string]string           `json:"tags,omitempty"`
}

// Hash is a stable hash of the spec (JSON with sorted map keys, FNV-64a).
func (s LaunchTemplateSpec) Hash() string {
	b, err := json.Marshal(s) // maps marshal with sorted keys
	if err != nil {
		panic(fmt.Sprintf("hashing launch template spec: %v", err)) // plain data always marshals
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// Name is the template's name, derived from the hash.
func (s LaunchTemplateSpec) Name() string { return LaunchTemplatePrefix + s.Hash() }

// DefaultBlockDeviceMappings are the volumes of a family when the class names none: a 20Gi
// encrypted gp3 root volume (Bottlerocket: a 4Gi OS volume plus a 20Gi data volume).
func DefaultBlockDeviceMappings(family string) []*awsv1.BlockDeviceMapping {
	gp3 := func(device string, size string, root bool) *awsv1.BlockDeviceMapping {
		q := resource.MustParse(size)
		return &awsv1.BlockDeviceMapping{DeviceName: aws.String(device), RootVolume: root, EBS: &awsv1.BlockDevice{
			VolumeSize: &q, VolumeType: aws.String("gp3"), Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true),
		}}
	}
	if family == awsv1.AMIFamilyBottlerocket {
		return []*awsv1.BlockDeviceMapping{gp3("/dev/xvda", "4Gi", false), gp3("/dev/xvdb", "20Gi", true)}
	}
	return []*awsv1.BlockDeviceMapping{gp3("/dev/xvda", "20Gi", true)}
}

// launchTemplates creates templates on demand and remembers the ones it knows exist.
type launchTemplates struct {
	api   EC2API
	mu    sync.Mutex
	known map[string]bool
}

// Ensure returns the name of the spec's template, creating it when missing.
func (l *launchTemplates) Ensure(ctx context.Context, spec LaunchTemplateSpec) (string, error) {
	name := spec.Name()
	l.mu.Lock()
	known := l.known[name]
	l.mu.Unlock()
	if known {
		return name, nil
	}
	out, err := l.api.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil && !isEC2NotFound(err) {
		return "", fmt.Errorf("describing launch template %s: %w", name, err)
	}
	if err != nil || len(out.LaunchTemplates) == 0 {
		// Names are hashes of the content, so a template created meanwhile by a concurrent
		// Ensure is the same template.
		if _, err := l.api.CreateLaunchTemplate(ctx, createInput(name, spec)); err != nil && !isLaunchTemplateExists(err) {
			return "", fmt.Errorf("creating launch template %s: %w", name, err)
		}
	}
	l.mu.Lock()
	l.known[name] = true
	l.mu.Unlock()
	return name, nil
}

func createInput(name string, s LaunchTemplateSpec) *ec2.CreateLaunchTemplateInput {
	data := &ec2types.RequestLaunchTemplateData{
		ImageId:            aws.String(s.ImageID),
		UserData:           aws.String(base64.StdEncoding.EncodeToString([]byte(s.UserData))),
		IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(s.InstanceProfile)},
		Monitoring:         &ec2types.LaunchTemplatesMonitoringRequest{Enabled: aws.Bool(s.DetailedMonitoring)},
	}
	if s.AssociatePublicIP != nil {
		data.NetworkInterfaces = []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: aws.Int32(0), AssociatePublicIpAddress: s.AssociatePublicIP, Groups: s.SecurityGroupIDs,
		}}
	} else {
		data.SecurityGroupIds = s.SecurityGroupIDs
	}
	if m := s.MetadataOptions; m != nil {
		data.MetadataOptions = &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointState(aws.ToString(m.HTTPEndpoint)),
			HttpProtocolIpv6:        ec2types.LaunchTemplateInstanceMetadataProtocolIpv6(aws.ToString(m.HTTPProtocolIPv6)),
			HttpTokens:              ec2types.LaunchTemplateHttpTokensState(aws.ToString(m.HTTPTokens)),
			HttpPutResponseHopLimit: aws.Int32(int32(aws.ToInt64(m.HTTPPutResponseHopLimit))),
		}
	}
	for _, b := range s.BlockDeviceMappings {
		if b == nil || b.EBS == nil {
			continue
		}
		ebs := &ec2types.LaunchTemplateEbsBlockDeviceRequest{
			DeleteOnTermination: b.EBS.DeleteOnTermination, Encrypted: b.EBS.Encrypted, KmsKeyId: b.EBS.KMSKeyID,
			SnapshotId: b.EBS.SnapshotID, VolumeType: ec2types.VolumeType(aws.ToString(b.EBS.VolumeType)),
		}
		if b.EBS.IOPS != nil {
			ebs.Iops = aws.Int32(int32(*b.EBS.IOPS))
		}
		if b.EBS.Throughput != nil {
			ebs.Throughput = aws.Int32(int32(*b.EBS.Throughput))
		}
		if b.EBS.VolumeSize != nil {
			ebs.VolumeSize = aws.Int32(int32(b.EBS.VolumeSize.ScaledValue(resource.Giga)))
			if gib := b.EBS.VolumeSize.Value() >> 30; gib > 0 && b.EBS.VolumeSize.Value()%(1<<30) == 0 {
				ebs.VolumeSize = aws.Int32(int32(gib))
			}
		}
		data.BlockDeviceMappings = append(data.BlockDeviceMappings, ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: b.DeviceName, Ebs: ebs})
	}
	tags := []ec2types.Tag{
		{Key: aws.String(awsv1.TagManagedLaunchTemplate), Value: aws.String(s.ClusterName)},
		{Key: aws.String(awsv1.LabelNodeClass), Value: aws.String(s.NodeClassName)},
		{Key: aws.String(awsv1.TagClusterPrefix + s.ClusterName), Value: aws.String("owned")},
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	return &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: data,
		TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: tags}},
	}
}

// DeleteAll deletes every template this cluster created for the class and returns how many.
func (l *launchTemplates) DeleteAll(ctx context.Context, clusterName, className string) (int, error) {
	in := &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + awsv1.TagManagedLaunchTemplate), Values: []string{clusterName}},
		{Name: aws.String("tag:" + awsv1.LabelNodeClass), Values: []string{className}},
	}}
	deleted := 0
	for {
		out, err := l.api.DescribeLaunchTemplates(ctx, in)
		if err != nil {
			return deleted, fmt.Errorf("describing launch templates of %s: %w", className, err)
		}
		for _, lt := range out.LaunchTemplates {
			name := aws.ToString(lt.LaunchTemplateName)
			if _, err := l.api.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId}); err != nil && !isEC2NotFound(err) {
				return deleted, fmt.Errorf("deleting launch template %s: %w", name, err)
			}
			l.mu.Lock()
			delete(l.known, name)
			l.mu.Unlock()
			deleted++
		}
		if aws.ToString(out.NextToken) == "" {
			return deleted, nil
		}
		in.NextToken = out.NextToken
	}
}
