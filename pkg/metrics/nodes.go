package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Node label names: the well-known node labels upstream puts on its node gauges (the part
// after the "/", in snake case), then the node's name, phase and whether Karpenter manages it.
const (
	LabelArch         = "arch"
	LabelOS           = "os"
	LabelRegion       = "region"
	LabelWindowsBuild = "windows_build"
	LabelNodeName     = "node_name"
	LabelPhase        = "phase"
	LabelManaged      = "managed"
)

// NodeLabels are the labels of karpenter_nodes_current_lifetime_seconds; the resource
// gauges add LabelResourceType. A new slice each call.
func NodeLabels() []string {
	return []string{LabelArch, LabelCapacityType, LabelInstanceType, LabelNodePool, LabelOS, LabelRegion,
		LabelWindowsBuild, LabelZone, LabelNodeName, LabelPhase, LabelManaged}
}

// NodeMetrics are the karpenter_nodes_* gauges filled from the cluster's nodes and pods, and
// karpenter_cluster_utilization_percent.
type NodeMetrics struct {
	Allocatable         *prometheus.GaugeVec
	TotalPodRequests    *prometheus.GaugeVec
	TotalPodLimits      *prometheus.GaugeVec
	TotalDaemonRequests *prometheus.GaugeVec
	TotalDaemonLimits   *prometheus.GaugeVec
	SystemOverhead      *prometheus.GaugeVec
	CurrentLifetime     *prometheus.GaugeVec
	ClusterUtilization  *prometheus.GaugeVec
}

// NewNodeMetrics registers the node gauges on reg (or returns those already there).
func NewNodeMetrics(reg prometheus.Registerer) (*NodeMetrics, error) {
	withResource := append(NodeLabels(), LabelResourceType)
	m := &NodeMetrics{
		Allocatable:         gaugeVec("nodes", "allocatable", "Node allocatable are the resources allocatable by nodes.", withResource...),
		TotalPodRequests:    gaugeVec("nodes", "total_pod_requests", "Node total pod requests are the resources requested by pods bound to nodes, including the DaemonSet pods.", withResource...),
		TotalPodLimits:      gaugeVec("nodes", "total_pod_limits", "Node total pod limits are the resources specified by pod limits, including the DaemonSet pods.", withResource...),
		TotalDaemonRequests: gaugeVec("nodes", "total_daemon_requests", "Node total daemon requests are the resource requested by DaemonSet pods bound to nodes.", withResource...),
		TotalDaemonLimits:   gaugeVec("nodes", "total_daemon_limits", "Node total daemon limits are the resources specified by DaemonSet pod limits.", withResource...),
		SystemOverhead:      gaugeVec("nodes", "system_overhead", "Node system daemon overhead are the resources reserved for system overhead, the difference between the node's capacity and allocatable values are reported by the status.", withResource...),
		CurrentLifetime:     gaugeVec("nodes", "current_lifetime_seconds", "Node age in seconds.", NodeLabels()...),
		ClusterUtilization:  gaugeVec("cluster", "utilization_percent", "Utilization of allocatable resources by pod requests, by resource_type.", LabelResourceType),
	}
	if err := registerGauges(reg, &m.Allocatable, &m.TotalPodRequests, &m.TotalPodLimits, &m.TotalDaemonRequests,
		&m.TotalDaemonLimits, &m.SystemOverhead, &m.CurrentLifetime, &m.ClusterUtilization); err != nil {
		return nil, err
	}
	return m, nil
}
