package test

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// InstanceTypeOption changes an instance type InstanceType builds.
type InstanceTypeOption func(*cloudprovider.InstanceType)

// InstanceType returns an amd64 Linux instance type with the cpu and memory ("2", "8Gi"),
// 110 pods, and one available on-demand offering in zone-a at $0.1/h unless options say
// otherwise.
func InstanceType(name, cpu, memory string, opts ...InstanceTypeOption) *cloudprovider.InstanceType {
	it := &cloudprovider.InstanceType{
		Name:   name,
		Labels: map[string]string{v1.LabelInstanceType: name, v1.LabelArch: v1.ArchitectureAmd64, v1.LabelOS: v1.OSLinux},
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
			corev1.ResourcePods:   resource.MustParse("110"),
		},
		Offerings: []cloudprovider.Offering{{Zone: "zone-a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: 0.1, Available: true}},
	}
	for _, o := range opts {
		o(it)
	}
	return it
}

// WithOfferings replaces the offerings.
func WithOfferings(offerings ...cloudprovider.Offering) InstanceTypeOption {
	return func(it *cloudprovider.InstanceType) { it.Offerings = offerings }
}

// WithPrice sets the price of every offering.
func WithPrice(perHour float64) InstanceTypeOption {
	return func(it *cloudprovider.InstanceType) {
		for i := range it.Offerings {
			it.Offerings[i].PricePerHour = perHour
		}
	}
}

// WithResource adds a capacity, e.g. an extended resource ("example.com/gpu", "1").
func WithResource(name corev1.ResourceName, quantity string) InstanceTypeOption {
	return func(it *cloudprovider.InstanceType) { it.Capacity[name] = resource.MustParse(quantity) }
}

// WithKubeReserved sets what the kubelet keeps for itself ("100m", "256Mi").
func WithKubeReserved(cpu, memory string) InstanceTypeOption {
	return func(it *cloudprovider.InstanceType) {
		it.Overhead.KubeReserved = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
	}
}

// WithLabel adds a label the instance type's nodes carry.
func WithLabel(key, value string) InstanceTypeOption {
	return func(it *cloudprovider.InstanceType) { it.Labels[key] = value }
}

// Offering is an available offering.
func Offering(zone, capacityType string, perHour float64) cloudprovider.Offering {
	return cloudprovider.Offering{Zone: zone, CapacityType: capacityType, PricePerHour: perHour, Available: true}
}
