package cloudprovider

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// InstanceTypeLabelDomain is the domain of the provider labels (karpenter.k8s.aws/instance-*,
// shared by the AWS provider, the catalogue and the simulated cloud) that a node gets only
// from its instance type.
const InstanceTypeLabelDomain = "karpenter.k8s.aws"

// IsInstanceTypeLabel reports whether key is one of those labels: a NodePool requirement on
// it chooses among types and never labels a node whose type lacks it, so a type without the
// label fails In and Gt and meets NotIn and DoesNotExist, as upstream's well-known labels.
func IsInstanceTypeLabel(key string) bool {
	domain, _, ok := strings.Cut(key, "/")
	return ok && domain == InstanceTypeLabelDomain
}

// InstanceType is one machine shape a provider can launch, with the places and prices it can
// be launched at. It is a fact sheet: the scheduler compiles it into its own compact form.
type InstanceType struct {
	// Name is the provider's name for the shape, e.g. "m7i.large"; it is also the value of
	// the node.kubernetes.io/instance-type label.
	Name string
	// Labels are the single-valued well-known labels a node of this type carries
	// (instance-type, arch, os, and provider labels such as karpenter.k8s.aws/instance-family).
	// Zone and capacity type are not here: they vary per offering.
	Labels map[string]string
	// Capacity is what the machine has: cpu, memory, pods, ephemeral-storage, extended resources.
	Capacity corev1.ResourceList
	// Overhead is what the machine keeps for itself; allocatable = Capacity - Overhead.Total().
	Overhead Overhead
	// Offerings are the zone × capacity-type combinations this type can be launched in.
	Offerings []Offering
}

// Overhead is capacity a node keeps away from pods.
type Overhead struct {
	// VM is lost to the hypervisor and the operating system.
	VM corev1.ResourceList
	// KubeReserved is reserved for the kubelet and the container runtime.
	KubeReserved corev1.ResourceList
	// SystemReserved is reserved for system daemons.
	SystemReserved corev1.ResourceList
	// EvictionThreshold is kept free so the kubelet can evict before the node runs out.
	EvictionThreshold corev1.ResourceList
}

// Total is the sum of every part of the overhead.
func (o Overhead) Total() corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, part := range []corev1.ResourceList{o.VM, o.KubeReserved, o.SystemReserved, o.EvictionThreshold} {
		for name, q := range part {
			sum := total[name]
			sum.Add(q)
			total[name] = sum
		}
	}
	return total
}

// Allocatable is what pods can request on a node of this type.
func (it *InstanceType) Allocatable() corev1.ResourceList {
	alloc := corev1.ResourceList{}
	overhead := it.Overhead.Total()
	for name, q := range it.Capacity {
		a := q.DeepCopy()
		if o, ok := overhead[name]; ok {
			a.Sub(o)
		}
		if a.Sign() < 0 {
			a.Set(0)
		}
		alloc[name] = a
	}
	return alloc
}

// Offering is one place and purchase option an instance type can be launched with.
type Offering struct {
	Zone         string
	CapacityType string // karpenter.sh/capacity-type value: "on-demand", "spot" or "reserved"
	// PricePerHour is in US dollars.
	PricePerHour float64
	// Available is false when the provider knows it cannot launch this offering right now
	// (for example after an insufficient-capacity error).
	Available bool
}
