package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
)

// NodeClassHashVersion is the version of NodeClassHash's scheme.
const NodeClassHashVersion = "v1"

// NodeClassHash hashes the launch-relevant spec fields that are not resolved from AWS
// (selector terms drift through the resolved status instead): user data, tags, kubelet,
// block devices, metadata options, monitoring, public IP, instance store, AMI family.
func NodeClassHash(class *awsv1.EC2NodeClass) string {
	s := class.Spec
	b, err := json.Marshal(struct {
		UserData, AMIFamily                   string
		Tags                                  map[string]string
		Kubelet                               *awsv1.KubeletConfiguration
		BlockDeviceMappings                   []*awsv1.BlockDeviceMapping
		MetadataOptions                       *awsv1.MetadataOptions
		DetailedMonitoring, AssociatePublicIP *bool
		InstanceStorePolicy                   *awsv1.InstanceStorePolicy
	}{derefString(s.UserData), class.AMIFamily(), s.Tags, s.Kubelet, s.BlockDeviceMappings, s.MetadataOptions, s.DetailedMonitoring, s.AssociatePublicIPAddress, s.InstanceStorePolicy})
	if err != nil {
		panic(fmt.Sprintf("hashing node class: %v", err)) // plain data always marshals
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%d", h.Sum64())
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ResolveStatus fills the class's status from AWS: subnets, security groups, images and
// instance profile, each with its condition, then ValidationSucceeded and the root Ready
// (True when every other condition is True). It returns an error only for failed AWS calls;
// a selector that matches nothing is a False condition, not an error.
func (p *Provider) ResolveStatus(ctx context.Context, class *awsv1.EC2NodeClass) error {
	gen := class.Generation
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionTrue
		if !ok {
			status = metav1.ConditionFalse
		} else {
			reason, msg = t, ""
		}
		meta.SetStatusCondition(&class.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	var errs []error

	subnets, err := ResolveSubnets(ctx, p.clients.EC2, class.Spec.SubnetSelectorTerms)
	if err != nil {
		errs = append(errs, err)
		set(awsv1.ConditionTypeSubnetsReady, false, "SubnetsNotResolved", err.Error())
	} else {
		class.Status.Subnets = subnets
		set(awsv1.ConditionTypeSubnetsReady, len(subnets) > 0, "SubnetsNotFound", "subnetSelectorTerms match no subnet")
	}

	groups, err := ResolveSecurityGroups(ctx, p.clients.EC2, class.Spec.SecurityGroupSelectorTerms)
	if err != nil {
		errs = append(errs, err)
		set(awsv1.ConditionTypeSecurityGroupsReady, false, "SecurityGroupsNotResolved", err.Error())
	} else {
		class.Status.SecurityGroups = groups
		set(awsv1.ConditionTypeSecurityGroupsReady, len(groups) > 0, "SecurityGroupsNotFound", "securityGroupSelectorTerms match no security group")
	}

	amis, err := ResolveAMIs(ctx, p.clients.EC2, p.clients.SSM, class, p.opts.KubernetesVersion, p.clock.Now())
	if err != nil {
		errs = append(errs, err)
		set(awsv1.ConditionTypeAMIsReady, false, "AMINotResolved", err.Error())
	} else {
		class.Status.AMIs = amis
		set(awsv1.ConditionTypeAMIsReady, len(amis) > 0, "AMINotFound", "amiSelectorTerms match no image")
	}

	if class.DeletionTimestamp.IsZero() {
		profile, err := EnsureInstanceProfile(ctx, p.clients.IAM, p.opts.ClusterName, p.clients.Region, class)
		if err != nil {
			errs = append(errs, err)
			set(awsv1.ConditionTypeInstanceProfileReady, false, "InstanceProfileNotReady", err.Error())
		} else {
			class.Status.InstanceProfile = profile
			set(awsv1.ConditionTypeInstanceProfileReady, true, "", "")
		}
	}

	family := class.AMIFamily()
	switch family {
	case awsv1.AMIFamilyAL2023, awsv1.AMIFamilyBottlerocket, awsv1.AMIFamilyCustom:
		set(awsv1.ConditionTypeValidationSucceeded, true, "", "")
	default:
		set(awsv1.ConditionTypeValidationSucceeded, false, "UnsupportedAMIFamily", fmt.Sprintf("amiFamily %s is not supported by this provider (AL2023, Bottlerocket, Custom)", family))
	}

	ready, notReady := true, ""
	for _, t := range []string{awsv1.ConditionTypeSubnetsReady, awsv1.ConditionTypeSecurityGroupsReady, awsv1.ConditionTypeAMIsReady, awsv1.ConditionTypeInstanceProfileReady, awsv1.ConditionTypeValidationSucceeded} {
		if !meta.IsStatusConditionTrue(class.Status.Conditions, t) {
			ready = false
			if notReady == "" {
				notReady = t
			}
		}
	}
	if ready {
		set(awsv1.ConditionTypeReady, true, "", "")
	} else {
		set(awsv1.ConditionTypeReady, false, "NotReady", notReady+" is not True")
	}
	if len(errs) > 0 {
		return fmt.Errorf("resolving EC2NodeClass %s: %v", class.Name, errs)
	}
	return nil
}
