package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// NodePoolMetrics are karpenter_nodepools_usage and karpenter_nodepools_limit. (The allowed
// disruptions gauge belongs to disruption.)
type NodePoolMetrics struct {
	Usage *prometheus.GaugeVec
	Limit *prometheus.GaugeVec
}

// NewNodePoolMetrics registers the nodepool gauges on reg (or returns those already there).
func NewNodePoolMetrics(reg prometheus.Registerer) (*NodePoolMetrics, error) {
	m := &NodePoolMetrics{
		Usage: gaugeVec("nodepools", "usage", "The amount of resources that have been provisioned for a nodepool, by nodepool and resource_type.", LabelNodePool, LabelResourceType),
		Limit: gaugeVec("nodepools", "limit", "Limits specified on the nodepool that restrict the quantity of resources provisioned, by nodepool and resource_type.", LabelNodePool, LabelResourceType),
	}
	if err := registerGauges(reg, &m.Usage, &m.Limit); err != nil {
		return nil, err
	}
	return m, nil
}
