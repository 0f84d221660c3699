package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionTypeReady is the SimNodeClass condition the provider checks: a class whose Ready
// condition is False cannot launch. A class without the condition is taken as ready.
const ConditionTypeReady = "Ready"

// SimNodeClassSpec configures the simulated machines of the NodePools that refer to it.
type SimNodeClassSpec struct {
	// Zones the class may launch in; empty means every zone of the catalogue.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Zones []string `json:"zones,omitempty"`
	// InstanceTypes restricts the catalogue to these names; empty means the whole catalogue.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	InstanceTypes []string `json:"instanceTypes,omitempty"`
	// LaunchDelay is how long a launch (the provider's Create) takes; unset means the
	// provider's default.
	// +kubebuilder:validation:Type="string"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	LaunchDelay *metav1.Duration `json:"launchDelay,omitempty"`
	// BootDelay is how long after launch the instance's Node registers; unset means the
	// provider's default.
	// +kubebuilder:validation:Type="string"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	BootDelay *metav1.Duration `json:"bootDelay,omitempty"`
	// ImageID is the machine image instances run; changing it drifts existing instances.
	// +kubebuilder:default:="sim-image-v1"
	// +kubebuilder:validation:MaxLength=128
	// +optional
	ImageID string `json:"imageID,omitempty"`
	// FailRegistration makes instances launched with this class run but never register a
	// Node, as when a kubelet cannot join the cluster.
	// +optional
	FailRegistration bool `json:"failRegistration,omitempty"`
	// InsufficientCapacity lists pools (instance type × zone × capacity type) that have run
	// out of capacity for launches with this class. A launch that picks one fails over to
	// the next cheapest compatible offering, and the pool is reported unavailable for the
	// provider's unavailable-offerings TTL (three minutes by default, as AWS Karpenter
	// caches an InsufficientInstanceCapacity answer), even after it is removed from this
	// list; when no compatible pool is left, the launch fails with insufficient capacity.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	InsufficientCapacity []SimOfferingSelector `json:"insufficientCapacity,omitempty"`
	// LateLaunch makes every launch with this class ambiguous: the launch request times out
	// (the provider's Create returns a timeout error) but the cloud goes on, and the
	// instance appears this long after the request. Until then a retried launch for the
	// same NodeClaim times out too; afterwards it returns the instance. Unset means launches
	// answer normally.
	// +kubebuilder:validation:Type="string"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	LateLaunch *metav1.Duration `json:"lateLaunch,omitempty"`
}

// SimOfferingSelector selects pools of the catalogue. Each field is a glob ("*" matches any
// run of characters, "?" one character); an empty field matches any value.
type SimOfferingSelector struct {
	// InstanceType, e.g. m7i.large or c7*.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9._*?]*$`
	// +optional
	InstanceType string `json:"instanceType,omitempty"`
	// Zone, e.g. us-west-2a.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9._*?]*$`
	// +optional
	Zone string `json:"zone,omitempty"`
	// CapacityType: spot, on-demand or reserved.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9._*?]*$`
	// +optional
	CapacityType string `json:"capacityType,omitempty"`
}

// SimNodeClassStatus is what the simulated cloud observed about the class.
type SimNodeClassStatus struct {
	// Conditions, including Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SimNodeClass is the node class of the simulated cloud.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simnodeclasses,scope=Cluster,categories=karpenter,shortName=simnc
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Image",type="string",JSONPath=".spec.imageID"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type SimNodeClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec SimNodeClassSpec `json:"spec,omitempty"`
	// +optional
	Status SimNodeClassStatus `json:"status,omitempty"`
}

// SimNodeClassList is a list of SimNodeClasses.
//
// +kubebuilder:object:root=true
type SimNodeClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SimNodeClass `json:"items"`
}
