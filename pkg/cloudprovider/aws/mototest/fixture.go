package mototest

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSMPrefix is where Fixture puts the EKS image parameters: moto refuses names under /aws,
// so tests read them through RewriteSSM, which maps /aws/service/ here.
const SSMPrefix = "/moto"

// Fixture is a VPC with one tagged subnet per zone, a tagged security group and images.
type Fixture struct {
	VPC            string
	Subnets        map[string]string // zone → subnet ID
	SecurityGroup  string
	ImageAMD64     string
	ImageARM64     string
	DiscoveryKey   string
	DiscoveryValue string
}

// Zones the fixture creates subnets in.
var Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// NewFixture creates the VPC, subnets, security group, and the AL2023 and Bottlerocket SSM
// alias parameters of k8sVersion (latest, standard variant, x86_64 and arm64) under SSMPrefix.
func NewFixture(ctx context.Context, c Clients, cluster, k8sVersion string) (*Fixture, error) {
	f := &Fixture{Subnets: map[string]string{}, DiscoveryKey: "karpenter.sh/discovery", DiscoveryValue: cluster}
	tag := []ec2types.Tag{{Key: aws.String(f.DiscoveryKey), Value: aws.String(cluster)}}
	vpc, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		return nil, fmt.Errorf("creating VPC: %w", err)
	}
	f.VPC = aws.ToString(vpc.Vpc.VpcId)
	for i, zone := range Zones {
		s, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i)), AvailabilityZone: aws.String(zone),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet, Tags: tag}},
		})
		if err != nil {
			return nil, fmt.Errorf("creating subnet in %s: %w", zone, err)
		}
		f.Subnets[zone] = aws.ToString(s.Subnet.SubnetId)
	}
	sg, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(cluster + "-nodes"), Description: aws.String("nodes"), VpcId: vpc.Vpc.VpcId,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tag}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating security group: %w", err)
	}
	f.SecurityGroup = aws.ToString(sg.GroupId)
	for _, arch := range []string{"x86_64", "arm64"} {
		out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: aws.String("architecture"), Values: []string{arch}}}})
		if err != nil {
			return nil, fmt.Errorf("describing %s images: %w", arch, err)
		}
		if len(out.Images) == 0 {
			return nil, fmt.Errorf("moto has no %s image", arch)
		}
		sort.Slice(out.Images, func(i, j int) bool { return aws.ToString(out.Images[i].ImageId) < aws.ToString(out.Images[j].ImageId) })
		id := aws.ToString(out.Images[0].ImageId)
		if arch == "x86_64" {
			f.ImageAMD64 = id
		} else {
			f.ImageARM64 = id
		}
		for _, name := range []string{
			fmt.Sprintf("%s/aws/service/eks/optimized-ami/%s/amazon-linux-2023/%s/standard/recommended/image_id", SSMPrefix, k8sVersion, arch),
			fmt.Sprintf("%s/aws/service/bottlerocket/aws-k8s-%s/%s/latest/image_id", SSMPrefix, k8sVersion, arch),
		} {
			if _, err := c.SSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(id), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
				return nil, fmt.Errorf("putting %s: %w", name, err)
			}
		}
	}
	return f, nil
}

// SSMGetter is the SSM call the provider makes.
type SSMGetter interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// RewriteSSM reads /aws/service/... parameters from SSMPrefix/aws/service/..., where
// NewFixture puts them.
type RewriteSSM struct{ Inner SSMGetter }

// GetParameter reads the rewritten name.
func (r RewriteSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	cp := *in
	if name := aws.ToString(in.Name); len(name) > 5 && name[:5] == "/aws/" {
		cp.Name = aws.String(SSMPrefix + name)
	}
	return r.Inner.GetParameter(ctx, &cp, opts...)
}

// FleetSecurityGroups works around a moto gap: its CreateFleet ignores the launch
// template's security groups, which EC2 applies. After a fleet launches, it sets the
// instances' groups as EC2 would have.
type FleetSecurityGroups struct {
	Inner  FleetCreator
	Groups []string
}

// FleetCreator is the EC2 call FleetSecurityGroups wraps plus the one it repairs with.
type FleetCreator interface {
	CreateFleet(context.Context, *ec2.CreateFleetInput, ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	ModifyInstanceAttribute(context.Context, *ec2.ModifyInstanceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
}

// CreateFleet creates the fleet, then applies the groups to its instances.
func (f FleetSecurityGroups) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	out, err := f.Inner.CreateFleet(ctx, in, opts...)
	if err != nil || len(f.Groups) == 0 {
		return out, err
	}
	for _, inst := range out.Instances {
		for _, id := range inst.InstanceIds {
			if _, err := f.Inner.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), Groups: f.Groups}); err != nil {
				return out, fmt.Errorf("applying security groups to %s: %w", id, err)
			}
		}
	}
	return out, nil
}
