// Package state exports, every few seconds, the metric families that describe the cluster as
// a whole: karpenter_nodes_* resource gauges, karpenter_cluster_utilization_percent,
// karpenter_cluster_state_*, karpenter_nodepools_{usage,limit} and the cloud provider's
// karpenter_cloudprovider_instance_type_* gauges. Series of objects that are gone are deleted.
package state
