package v1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Subnet is a subnet the class resolved.
type Subnet struct {
	// ID of the subnet.
	// +required
	ID string `json:"id"`
	// Zone of the subnet.
	// +required
	Zone string `json:"zone"`
	// ZoneID of the subnet's zone.
	// +optional
	ZoneID string `json:"zoneID,omitempty"`
}

// SecurityGroup is a security group the class resolved.
type SecurityGroup struct {
	// ID of the group.
	// +required
	ID string `json:"id"`
	// Name of the group.
	// +optional
	Name string `json:"name,omitempty"`
}

// AMI is an image the class resolved, with the node requirements it serves (its
// architecture, and GPU or not).
type AMI struct {
	// ID of the image.
	// +required
	ID string `json:"id"`
	// Name of the image.
	// +optional
	Name string `json:"name,omitempty"`
	// Deprecated is true when the image is past its deprecation time.
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`
	// Requirements a node must meet to boot this image.
	// +required
	Requirements []corev1.NodeSelectorRequirement `json:"requirements"`
}

// EC2NodeClassStatus is what the controllers resolved from the spec.
type EC2NodeClassStatus struct {
	// Subnets resolved from subnetSelectorTerms.
	// +optional
	Subnets []Subnet `json:"subnets,omitempty"`
	// SecurityGroups resolved from securityGroupSelectorTerms.
	// +optional
	SecurityGroups []SecurityGroup `json:"securityGroups,omitempty"`
	// AMIs resolved from amiSelectorTerms.
	// +optional
	AMIs []AMI `json:"amis,omitempty"`
	// InstanceProfile instances launch with.
	// +optional
	InstanceProfile string `json:"instanceProfile,omitempty"`
	// Conditions: SubnetsReady, SecurityGroupsReady, AMIsReady, InstanceProfileReady,
	// ValidationSucceeded and the root Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IsReady reports whether the class's Ready condition is True.
func (in *EC2NodeClass) IsReady() bool {
	return meta.IsStatusConditionTrue(in.Status.Conditions, ConditionTypeReady)
}
