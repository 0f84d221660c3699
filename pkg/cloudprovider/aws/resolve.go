package aws

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	corev1 "k8s.io/api/core/v1"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// tagFilters turns selector tags into EC2 filters; "*" matches any value.
func tagFilters(tags map[string]string) []ec2types.Filter {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []ec2types.Filter
	for _, k := range keys {
		if tags[k] == "*" {
			out = append(out, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{k}})
		} else {
			out = append(out, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
		}
	}
	return out
}

// ResolveSubnets returns the subnets the terms select, the most free addresses first.
func ResolveSubnets(ctx context.Context, api EC2API, terms []awsv1.SubnetSelectorTerm) ([]awsv1.Subnet, error) {
	seen := map[string]ec2types.Subnet{}
	for _, t := range terms {
		in := &ec2.DescribeSubnetsInput{Filters: tagFilters(t.Tags)}
		if t.ID != "" {
			in.SubnetIds = []string{t.ID}
		}
		out, err := api.DescribeSubnets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describing subnets: %w", err)
		}
		for _, s := range out.Subnets {
			seen[aws.ToString(s.SubnetId)] = s
		}
	}
	subnets := make([]ec2types.Subnet, 0, len(seen))
	for _, s := range seen {
		subnets = append(subnets, s)
	}
	sort.Slice(subnets, func(i, j int) bool {
		a, b := aws.ToInt32(subnets[i].AvailableIpAddressCount), aws.ToInt32(subnets[j].AvailableIpAddressCount)
		if a != b {
			return a > b
		}
		return aws.ToString(subnets[i].SubnetId) < aws.ToString(subnets[j].SubnetId)
	})
	out := make([]awsv1.Subnet, 0, len(subnets))
	for _, s := range subnets {
		out = append(out, awsv1.Subnet{ID: aws.ToString(s.SubnetId), Zone: aws.ToString(s.AvailabilityZone), ZoneID: aws.ToString(s.AvailabilityZoneId)})
	}
	return out, nil
}

// ResolveSecurityGroups returns the security groups the terms select, by ID.
func ResolveSecurityGroups(ctx context.Context, api EC2API, terms []awsv1.SecurityGroupSelectorTerm) ([]awsv1.SecurityGroup, error) {
	seen := map[string]awsv1.SecurityGroup{}
	for _, t := range terms {
		in := &ec2.DescribeSecurityGroupsInput{Filters: tagFilters(t.Tags)}
		if t.ID != "" {
			in.GroupIds = []string{t.ID}
		}
		if t.Name != "" {
			in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("group-name"), Values: []string{t.Name}})
		}
		out, err := api.DescribeSecurityGroups(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describing security groups: %w", err)
		}
		for _, g := range out.SecurityGroups {
			seen[aws.ToString(g.GroupId)] = awsv1.SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName)}
		}
	}
	out := make([]awsv1.SecurityGroup, 0, len(seen))
	for _, g := range seen {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// aliasQuery is one SSM parameter of an alias and the node requirements its image serves.
type aliasQuery struct {
	path         string
	requirements []corev1.NodeSelectorRequirement
}

// AliasParameters lists the SSM parameters of an alias (../shared/data/ami-ssm-paths.json):
// standard and NVIDIA variants for x86_64 and arm64.
func AliasParameters(family, version, k8sVersion string) ([]aliasQuery, error) {
	arch := func(a string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{a}}
	}
	noGPU := corev1.NodeSelectorRequirement{Key: catalog.LabelInstanceGPUCount, Operator: corev1.NodeSelectorOpDoesNotExist}
	gpu := corev1.NodeSelectorRequirement{Key: catalog.LabelInstanceGPUCount, Operator: corev1.NodeSelectorOpExists}
	if k8sVersion == "" {
		return nil, errors.New("resolving alias: the Kubernetes version is unknown")
	}
	var out []aliasQuery
	switch family {
	case "al2023":
		for _, v := range []struct{ ec2Arch, arch, variant string }{{"x86_64", "amd64", "standard"}, {"arm64", "arm64", "standard"}, {"x86_64", "amd64", "nvidia"}, {"arm64", "arm64", "nvidia"}} {
			leaf := "recommended"
			if version != "latest" {
				leaf = fmt.Sprintf("amazon-eks-node-al2023-%s-%s-%s-%s", v.ec2Arch, v.variant, k8sVersion, version)
			}
			req := noGPU
			if v.variant == "nvidia" {
				req = gpu
			}
			out = append(out, aliasQuery{
				path:         fmt.Sprintf("/aws/service/eks/optimized-ami/%s/amazon-linux-2023/%s/%s/%s/image_id", k8sVersion, v.ec2Arch, v.variant, leaf),
				requirements: []corev1.NodeSelectorRequirement{arch(v.arch), req},
			})
		}
	case "bottlerocket":
		version = strings.TrimPrefix(version, "v")
		for _, v := range []struct{ suffix, ec2Arch, arch string }{{"", "x86_64", "amd64"}, {"", "arm64", "arm64"}, {"-nvidia", "x86_64", "amd64"}, {"-nvidia", "arm64", "arm64"}} {
			req := noGPU
			if v.suffix != "" {
				req = gpu
			}
			out = append(out, aliasQuery{
				path:         fmt.Sprintf("/aws/service/bottlerocket/aws-k8s-%s%s/%s/%s/image_id", k8sVersion, v.suffix, v.ec2Arch, version),
				requirements: []corev1.NodeSelectorRequirement{arch(v.arch), req},
			})
		}
	default:
		return nil, fmt.Errorf("resolving alias: family %q is not supported by this provider (al2023, bottlerocket)", family)
	}
	return out, nil
}

// ResolveAMIs returns the images the class selects: for each set of node requirements
// (architecture, GPU or not) the newest image that is not deprecated, or the newest
// deprecated one when nothing else is left.
func ResolveAMIs(ctx context.Context, ec2api EC2API, ssmapi SSMAPI, class *awsv1.EC2NodeClass, k8sVersion string, now time.Time) ([]awsv1.AMI, error) {
	type candidate struct {
		image        ec2types.Image
		requirements []corev1.NodeSelectorRequirement
	}
	var cands []candidate
	describe := func(in *ec2.DescribeImagesInput, reqs []corev1.NodeSelectorRequirement) error {
		out, err := ec2api.DescribeImages(ctx, in)
		if err != nil {
			return fmt.Errorf("describing images: %w", err)
		}
		for _, img := range out.Images {
			r := reqs
			if r == nil {
				r = []corev1.NodeSelectorRequirement{{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{archOf(img.Architecture)}}}
			}
			cands = append(cands, candidate{image: img, requirements: r})
		}
		return nil
	}
	ssmImage := func(name string) (string, error) {
		out, err := ssmapi.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			return "", err
		}
		v := aws.ToString(out.Parameter.Value)
		if !strings.HasPrefix(v, "ami-") {
			return "", fmt.Errorf("SSM parameter %s holds %q, not an image ID", name, v)
		}
		return v, nil
	}
	for _, t := range class.Spec.AMISelectorTerms {
		switch {
		case t.Alias != "":
			family, version, _ := strings.Cut(t.Alias, "@")
			queries, err := AliasParameters(strings.ToLower(family), version, k8sVersion)
			if err != nil {
				return nil, err
			}
			for _, q := range queries {
				id, err := ssmImage(q.path)
				if err != nil {
					continue // a variant without a parameter (e.g. no arm64 NVIDIA image) is skipped
				}
				if err := describe(&ec2.DescribeImagesInput{ImageIds: []string{id}}, q.requirements); err != nil {
					return nil, err
				}
			}
		case t.SSMParameter != "":
			id, err := ssmImage(t.SSMParameter)
			if err != nil {
				return nil, fmt.Errorf("reading amiSelectorTerms ssmParameter %s: %w", t.SSMParameter, err)
			}
			if err := describe(&ec2.DescribeImagesInput{ImageIds: []string{id}}, nil); err != nil {
				return nil, err
			}
		case t.ID != "":
			if err := describe(&ec2.DescribeImagesInput{ImageIds: []string{t.ID}}, nil); err != nil {
				return nil, err
			}
		default:
			in := &ec2.DescribeImagesInput{Filters: tagFilters(t.Tags)}
			if t.Name != "" {
				in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("name"), Values: []string{t.Name}})
			}
			if t.Owner != "" {
				in.Owners = []string{t.Owner}
			}
			if err := describe(in, nil); err != nil {
				return nil, err
			}
		}
	}
	// Newest first, non-deprecated before deprecated; keep the first per requirement set.
	deprecated := func(img ec2types.Image) bool {
		d, err := time.Parse(time.RFC3339, aws.ToString(img.DeprecationTime))
		return err == nil && !d.After(now)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		di, dj := deprecated(cands[i].image), deprecated(cands[j].image)
		if di != dj {
			return !di
		}
		return aws.ToString(cands[i].image.CreationDate) > aws.ToString(cands[j].image.CreationDate)
	})
	seen := map[string]bool{}
	var out []awsv1.AMI
	for _, c := range cands {
		key := fmt.Sprint(c.requirements)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, awsv1.AMI{ID: aws.ToString(c.image.ImageId), Name: aws.ToString(c.image.Name), Deprecated: deprecated(c.image), Requirements: c.requirements})
	}
	return out, nil
}

func archOf(a ec2types.ArchitectureValues) string {
	if a == ec2types.ArchitectureValuesArm64 {
		return "arm64"
	}
	return "amd64"
}

// InstanceProfileName is the name of the profile created for a class's role: the cluster
// name and a hash of region and class name, as short as IAM allows.
func InstanceProfileName(clusterName, region, className string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(region + "/" + className))
	name := fmt.Sprintf("%s_%d", clusterName, h.Sum64())
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}

// EnsureInstanceProfile returns the class's instance profile: spec.instanceProfile as it is,
// or the profile created for spec.role (created, and given the role, when missing).
func EnsureInstanceProfile(ctx context.Context, api IAMAPI, clusterName, region string, class *awsv1.EC2NodeClass) (string, error) {
	if class.Spec.InstanceProfile != nil {
		name := *class.Spec.InstanceProfile
		if _, err := api.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)}); err != nil {
			return "", fmt.Errorf("getting spec.instanceProfile %s: %w", name, err)
		}
		return name, nil
	}
	name := InstanceProfileName(clusterName, region, class.Name)
	out, err := api.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	var profile *iamtypes.InstanceProfile
	switch {
	case err == nil:
		profile = out.InstanceProfile
	case isIAMNotFound(err):
		created, err := api.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
			InstanceProfileName: aws.String(name),
			Tags: []iamtypes.Tag{
				{Key: aws.String(awsv1.TagClusterPrefix + clusterName), Value: aws.String("owned")},
				{Key: aws.String(awsv1.LabelNodeClass), Value: aws.String(class.Name)},
			},
		})
		if err != nil {
			return "", fmt.Errorf("creating instance profile %s: %w", name, err)
		}
		profile = created.InstanceProfile
	default:
		return "", fmt.Errorf("getting instance profile %s: %w", name, err)
	}
	role := class.Spec.Role
	if i := strings.LastIndex(role, "/"); i >= 0 { // a role ARN
		role = role[i+1:]
	}
	for _, r := range profile.Roles {
		if aws.ToString(r.RoleName) == role {
			return name, nil
		}
	}
	for _, r := range profile.Roles { // a profile holds one role
		if _, err := api.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: r.RoleName}); err != nil {
			return "", fmt.Errorf("removing role %s from instance profile %s: %w", aws.ToString(r.RoleName), name, err)
		}
	}
	if _, err := api.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: aws.String(role)}); err != nil {
		return "", fmt.Errorf("adding role %s to instance profile %s: %w", role, name, err)
	}
	return name, nil
}

// DeleteInstanceProfile deletes the profile created for the class's role, if any.
func DeleteInstanceProfile(ctx context.Context, api IAMAPI, clusterName, region string, class *awsv1.EC2NodeClass) error {
	if class.Spec.InstanceProfile != nil {
		return nil // not ours
	}
	name := InstanceProfileName(clusterName, region, class.Name)
	out, err := api.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if isIAMNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting instance profile %s: %w", name, err)
	}
	for _, r := range out.InstanceProfile.Roles {
		if _, err := api.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: r.RoleName}); err != nil && !isIAMNotFound(err) {
			return fmt.Errorf("removing role from instance profile %s: %w", name, err)
		}
	}
	if _, err := api.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String(name)}); err != nil && !isIAMNotFound(err) {
		return fmt.Errorf("deleting instance profile %s: %w", name, err)
	}
	return nil
}
