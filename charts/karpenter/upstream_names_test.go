package chart

// upstreamFamilies are upstream Karpenter's metric families the dashboard may use, with
// their label names. TEMPORARY: replace with pkg/metrics.Upstream() once that list is on main.
func upstreamFamilies() map[string][]string {
	node := []string{"arch", "capacity_type", "instance_type", "nodepool", "os", "region", "windows_build", "zone", "node_name", "phase", "managed"}
	nodeRes := append(append([]string{}, node...), "resource_type")
	return map[string][]string{
		"karpenter_nodes_allocatable":                                   nodeRes,
		"karpenter_nodes_total_pod_requests":                            nodeRes,
		"karpenter_nodes_total_daemon_requests":                         nodeRes,
		"karpenter_pods_state":                                          {"name", "namespace", "owner", "node", "nodepool", "zone", "arch", "capacity_type", "instance_type", "phase"},
		"karpenter_pods_bound_duration_seconds":                         {},
		"karpenter_scheduler_scheduling_duration_seconds":               {"controller"},
		"karpenter_scheduler_unschedulable_pods_count":                  {"controller"},
		"karpenter_nodepools_usage":                                     {"nodepool", "resource_type"},
		"karpenter_nodepools_limit":                                     {"nodepool", "resource_type"},
		"karpenter_nodepools_allowed_disruptions":                       {"nodepool", "reason"},
		"karpenter_nodeclaims_created_total":                            {"reason", "nodepool", "min_values_relaxed"},
		"karpenter_nodeclaims_disrupted_total":                          {"reason", "nodepool", "capacity_type"},
		"karpenter_voluntary_disruption_decisions_total":                {"decision", "reason", "consolidation_type"},
		"karpenter_voluntary_disruption_eligible_nodes":                 {"reason"},
		"karpenter_cluster_utilization_percent":                         {"resource_type"},
		"karpenter_cloudprovider_instance_type_offering_price_estimate": {"instance_type", "capacity_type", "zone"},
	}
}
