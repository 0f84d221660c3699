package metrics

import (
	"time"

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

// NodeMetrics are the karpenter_nodes_* gauges computed from the cluster's nodes and pods
// when scraped (about ten series per node: at 2,000 nodes, stored series held tens of MiB),
// and karpenter_cluster_utilization_percent.
type NodeMetrics struct {
	Allocatable         *ComputedGauge
	TotalPodRequests    *ComputedGauge
	TotalPodLimits      *ComputedGauge
	TotalDaemonRequests *ComputedGauge
	TotalDaemonLimits   *ComputedGauge
	SystemOverhead      *ComputedGauge
	CurrentLifetime     *ComputedGauge
	ClusterUtilization  *ComputedGauge
}

// All are the families, in a fixed order.
func (m *NodeMetrics) All() []*ComputedGauge {
	return []*ComputedGauge{m.Allocatable, m.TotalPodRequests, m.TotalPodLimits, m.TotalDaemonRequests,
		m.TotalDaemonLimits, m.SystemOverhead, m.CurrentLifetime, m.ClusterUtilization}
}

// NewNodeMetrics registers the node gauges on reg (or returns those already there).
func NewNodeMetrics(reg prometheus.Registerer) (*NodeMetrics, error) {
	withResource := append(NodeLabels(), LabelResourceType)
	gaugeVec := func(subsystem, name, help string, labels ...string) *ComputedGauge {
		return NewComputedGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
	}
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
	for _, g := range []**ComputedGauge{&m.Allocatable, &m.TotalPodRequests, &m.TotalPodLimits, &m.TotalDaemonRequests,
		&m.TotalDaemonLimits, &m.SystemOverhead, &m.CurrentLifetime, &m.ClusterUtilization} {
		var err error
		if *g, err = Register(reg, *g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// lifetimeBuckets are upstream's buckets for node lifetimes: 15 minutes to 30 days.
func lifetimeBuckets() []float64 {
	day := 24 * time.Hour
	var out []float64
	for _, d := range []time.Duration{15 * time.Minute, 30 * time.Minute, 45 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
		6 * time.Hour, 8 * time.Hour, 10 * time.Hour, 12 * time.Hour, 16 * time.Hour, 20 * time.Hour,
		day, 2 * day, 3 * day, 5 * day, 10 * day, 15 * day, 20 * day, 25 * day, 30 * day} {
		out = append(out, d.Seconds())
	}
	return out
}

// NodeLifecycleMetrics count managed nodes coming and going.
type NodeLifecycleMetrics struct {
	// Created counts managed nodes that appeared, by nodepool and zone.
	Created *prometheus.CounterVec
	// TerminationDuration observes a managed node's deletion request → gone, by nodepool.
	TerminationDuration *prometheus.SummaryVec
	// LifetimeDuration observes a managed node's creation → gone, by nodepool.
	LifetimeDuration *prometheus.HistogramVec
}

// NewNodeLifecycleMetrics registers the families on reg (or returns those already there).
func NewNodeLifecycleMetrics(reg prometheus.Registerer) (*NodeLifecycleMetrics, error) {
	m := &NodeLifecycleMetrics{
		Created: counterVec("nodes", "created_total", "Number of nodes created in total by Karpenter, by nodepool and zone.", LabelNodePool, LabelZone),
		TerminationDuration: prometheus.NewSummaryVec(prometheus.SummaryOpts{Namespace: Namespace, Subsystem: "nodes", Name: "termination_duration_seconds",
			Help: "The time taken between a node's deletion request and the removal of its finalizer, by nodepool.", Objectives: SummaryObjectives()}, []string{LabelNodePool}),
		LifetimeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "nodes", Name: "lifetime_duration_seconds",
			Help: "The lifetime duration of the nodes since creation, by nodepool.", Buckets: lifetimeBuckets()}, []string{LabelNodePool}),
	}
	var err error
	if m.Created, err = Register(reg, m.Created); err != nil {
		return nil, err
	}
	if m.TerminationDuration, err = Register(reg, m.TerminationDuration); err != nil {
		return nil, err
	}
	if m.LifetimeDuration, err = Register(reg, m.LifetimeDuration); err != nil {
		return nil, err
	}
	return m, nil
}

// NodeClaimTerminationDuration returns karpenter_nodeclaims_termination_duration_seconds
// {nodepool}: a NodeClaim's deletion request → gone.
func NodeClaimTerminationDuration(reg prometheus.Registerer) (*prometheus.SummaryVec, error) {
	return Register(reg, prometheus.NewSummaryVec(prometheus.SummaryOpts{Namespace: Namespace, Subsystem: "nodeclaims", Name: "termination_duration_seconds",
		Help: "Duration of NodeClaim termination in seconds, by nodepool.", Objectives: SummaryObjectives()}, []string{LabelNodePool}))
}
