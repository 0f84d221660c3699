package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SimInstanceSpec is everything the simulated cloud knows about one instance, so that a new
// provider can rebuild its state (and the Node) from the API server alone.
type SimInstanceSpec struct {
	// InstanceType is the catalogue name, e.g. m7i.large.
	InstanceType string `json:"instanceType"`
	// Zone the instance runs in.
	Zone string `json:"zone"`
	// CapacityType is on-demand or spot.
	CapacityType string `json:"capacityType"`
	// PricePerHour in US dollars, as a decimal string.
	// +optional
	PricePerHour string `json:"pricePerHour,omitempty"`
	// NodeClaim is the name of the NodeClaim the instance was launched for.
	NodeClaim string `json:"nodeClaim"`
	// NodeClaimUID is that NodeClaim's UID, when it had one; launches are idempotent per UID.
	// +optional
	NodeClaimUID string `json:"nodeClaimUID,omitempty"`
	// NodeClass is the name of the SimNodeClass it was launched with.
	// +optional
	NodeClass string `json:"nodeClass,omitempty"`
	// ImageID the instance runs.
	// +optional
	ImageID string `json:"imageID,omitempty"`
	// Labels the instance's Node registers with.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Taints the instance's Node registers with.
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
	// Capacity of the machine.
	Capacity corev1.ResourceList `json:"capacity"`
	// Allocatable is what pods can use on it.
	Allocatable corev1.ResourceList `json:"allocatable"`
	// LaunchTime is when the launch finished, on the provider's clock, to the microsecond
	// (BootDelay counts from it, so it must not be rounded to the second).
	LaunchTime Instant `json:"launchTime"`
	// BootDelay is how long after LaunchTime the Node registers.
	// +optional
	BootDelay metav1.Duration `json:"bootDelay,omitempty"`
	// FailRegistration means the Node never registers.
	// +optional
	FailRegistration bool `json:"failRegistration,omitempty"`
}

// SimInstanceStatus holds what happened to the instance after launch.
type SimInstanceStatus struct {
	// InterruptedAt is when a spot interruption was announced for the instance.
	// +optional
	InterruptedAt *metav1.Time `json:"interruptedAt,omitempty"`
}

// SimInstance records one simulated instance. Its name is the instance ID (i-…) and the
// name of its Node. It has no status subresource: only the provider writes it, whole.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=siminstances,scope=Cluster,categories=karpenter,shortName=simi
// +kubebuilder:printcolumn:name="Type",type="string",JSONPath=".spec.instanceType"
// +kubebuilder:printcolumn:name="Zone",type="string",JSONPath=".spec.zone"
// +kubebuilder:printcolumn:name="Capacity",type="string",JSONPath=".spec.capacityType"
// +kubebuilder:printcolumn:name="NodeClaim",type="string",JSONPath=".spec.nodeClaim"
// +kubebuilder:printcolumn:name="Price",type="string",JSONPath=".spec.pricePerHour",priority=1
// +kubebuilder:printcolumn:name="Interrupted",type="date",JSONPath=".status.interruptedAt"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type SimInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SimInstanceSpec `json:"spec"`
	// +optional
	Status SimInstanceStatus `json:"status,omitempty"`
}

// SimInstanceList is a list of SimInstances.
//
// +kubebuilder:object:root=true
type SimInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SimInstance `json:"items"`
}
