package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// InstanceTypeMetrics are the karpenter_cloudprovider_instance_type_* gauges. (The call
// duration and error families are the cloud provider decorator's, in pkg/cloudprovider/metrics.)
type InstanceTypeMetrics struct {
	CPUCores              *prometheus.GaugeVec
	MemoryBytes           *prometheus.GaugeVec
	OfferingAvailable     *prometheus.GaugeVec
	OfferingPriceEstimate *prometheus.GaugeVec
}

// NewInstanceTypeMetrics registers the instance type gauges on reg (or returns those already there).
func NewInstanceTypeMetrics(reg prometheus.Registerer) (*InstanceTypeMetrics, error) {
	m := &InstanceTypeMetrics{
		CPUCores:              gaugeVec("cloudprovider", "instance_type_cpu_cores", "VCPUs cores for a given instance type.", LabelInstanceType),
		MemoryBytes:           gaugeVec("cloudprovider", "instance_type_memory_bytes", "Memory, in bytes, for a given instance type.", LabelInstanceType),
		OfferingAvailable:     gaugeVec("cloudprovider", "instance_type_offering_available", "Instance type offering availability, based on instance type, capacity type, and zone.", LabelInstanceType, LabelCapacityType, LabelZone),
		OfferingPriceEstimate: gaugeVec("cloudprovider", "instance_type_offering_price_estimate", "Instance type offering estimated hourly price used when making informed decisions on node cost calculation, based on instance type, capacity type, and zone.", LabelInstanceType, LabelCapacityType, LabelZone),
	}
	if err := registerGauges(reg, &m.CPUCores, &m.MemoryBytes, &m.OfferingAvailable, &m.OfferingPriceEstimate); err != nil {
		return nil, err
	}
	return m, nil
}
