package metrics

import (
	"slices"
	"strings"
)

// This file keeps upstream Karpenter's metric families (names and label sets) so a test can
// compare them with what a running controller serves.
//
// Source: the metrics reference page of upstream's documentation (the "preview" version of
// website/content/en/preview/reference/metrics.md in aws/karpenter-provider-aws, generated
// from kubernetes-sigs/karpenter), for the names; the label sets are the ones upstream's
// source registers (kubernetes-sigs/karpenter pkg/metrics/metrics.go,
// pkg/controllers/metrics/{node,pod,nodepool}, pkg/controllers/provisioning/scheduling/metrics.go,
// pkg/cloudprovider/metrics; awslabs/operatorpkg status for operator_*). Read, not copied.
//
// Left out on purpose: controller_runtime_*, workqueue_*, client_go_*, leader_election_*
// (served by the libraries themselves), aws_sdk_go_* and the EC2NodeClass families (the
// AWS provider's), the cloudprovider batcher (an AWS implementation detail) and the
// deprecated kind-less operator_status_condition_* / operator_termination_* families.

// Family is one upstream metric family.
type Family struct {
	Name string
	// Labels are the label names, sorted.
	Labels []string
}

// Implementation says how this project serves an upstream family.
type Implementation int

const (
	// Missing: not served yet.
	Missing Implementation = iota
	// Implemented: served with upstream's name and label set.
	Implemented
	// LabelDrift: served under upstream's name with a different label set (see Drift).
	LabelDrift
)

func fam(name string, labels ...string) Family {
	l := slices.Clone(labels)
	slices.Sort(l)
	return Family{Name: name, Labels: l}
}

func nodeResourceLabels() []string { return append(NodeLabels(), LabelResourceType) }

func statusFamilies(kind string) []Family {
	p := "operator_" + kind + "_"
	return []Family{
		fam(p+"status_condition_count", "namespace", "name", "type", "status", "reason"),
		fam(p+"status_condition_current_status_seconds", "namespace", "name", "type", "status", "reason"),
		fam(p+"status_condition_transitions_total", "type", "status", "reason"),
		fam(p+"status_condition_transition_seconds", "type", "status"),
		fam(p+"termination_current_time_seconds", "namespace", "name"),
		fam(p+"termination_duration_seconds", "namespace", "name"),
	}
}

// Upstream returns upstream's families, a new slice each call.
func Upstream() []Family {
	out := []Family{
		fam("karpenter_build_info", "version", "goversion", "commit"),

		fam("karpenter_nodeclaims_created_total", "reason", "nodepool", "min_values_relaxed"),
		fam("karpenter_nodeclaims_terminated_total", "nodepool", "capacity_type", "zone"),
		fam("karpenter_nodeclaims_disrupted_total", "reason", "nodepool", "capacity_type"),
		fam("karpenter_nodeclaims_unhealthy_disrupted_total", "condition", "nodepool", "image_id"),
		fam("karpenter_nodeclaims_termination_duration_seconds", "nodepool"),
		fam("karpenter_nodeclaims_instance_termination_duration_seconds", "nodepool"),

		fam("karpenter_nodes_allocatable", nodeResourceLabels()...),
		fam("karpenter_nodes_total_pod_requests", nodeResourceLabels()...),
		fam("karpenter_nodes_total_pod_limits", nodeResourceLabels()...),
		fam("karpenter_nodes_total_daemon_requests", nodeResourceLabels()...),
		fam("karpenter_nodes_total_daemon_limits", nodeResourceLabels()...),
		fam("karpenter_nodes_system_overhead", nodeResourceLabels()...),
		fam("karpenter_nodes_current_lifetime_seconds", NodeLabels()...),
		fam("karpenter_nodes_created_total", "nodepool", "zone"),
		fam("karpenter_nodes_terminated_total", "nodepool", "zone"),
		fam("karpenter_nodes_termination_duration_seconds", "nodepool"),
		fam("karpenter_nodes_lifetime_duration_seconds", "nodepool"),
		fam("karpenter_nodes_drained_total", "nodepool"),
		fam("karpenter_nodes_eviction_requests_total", "code"),

		fam("karpenter_pods_state", PodStateLabels()...),
		fam("karpenter_pods_startup_duration_seconds"),
		fam("karpenter_pods_bound_duration_seconds"),
		fam("karpenter_pods_unbound_time_seconds", "name", "namespace"),
		fam("karpenter_pods_unstarted_time_seconds", "name", "namespace"),
		fam("karpenter_pods_scheduling_decision_duration_seconds"),
		fam("karpenter_pods_provisioning_bound_duration_seconds"),
		fam("karpenter_pods_provisioning_startup_duration_seconds"),
		fam("karpenter_pods_provisioning_unbound_time_seconds", "name", "namespace"),
		fam("karpenter_pods_provisioning_unstarted_time_seconds", "name", "namespace"),
		fam("karpenter_pods_provisioning_scheduling_undecided_time_seconds", "name", "namespace"),

		fam("karpenter_scheduler_scheduling_duration_seconds", "controller"),
		fam("karpenter_scheduler_queue_depth", "controller", "scheduling_id"),
		fam("karpenter_scheduler_unfinished_work_seconds", "controller", "scheduling_id"),
		fam("karpenter_scheduler_ignored_pods_count"),
		fam("karpenter_scheduler_unschedulable_pods_count", "controller"),

		fam("karpenter_nodepools_usage", "nodepool", "resource_type"),
		fam("karpenter_nodepools_limit", "nodepool", "resource_type"),
		fam("karpenter_nodepools_allowed_disruptions", "nodepool", "reason"),

		fam("karpenter_voluntary_disruption_decisions_total", "decision", "reason", "consolidation_type"),
		fam("karpenter_voluntary_disruption_eligible_nodes", "reason"),
		fam("karpenter_voluntary_disruption_decision_evaluation_duration_seconds", "method", "consolidation_type"),
		fam("karpenter_voluntary_disruption_queue_failures_total", "decision", "reason", "consolidation_type"),
		fam("karpenter_voluntary_disruption_consolidation_timeouts_total", "consolidation_type"),
		// In the reference page from v1.14 on, for the Balanced consolidation policy.
		fam("karpenter_consolidation_score", "decision", "nodepool", "policy"),
		fam("karpenter_consolidation_moves_total", "decision", "nodepool", "policy"),

		fam("karpenter_interruption_received_messages_total", "message_type"),
		fam("karpenter_interruption_deleted_messages_total"),
		fam("karpenter_interruption_message_queue_duration_seconds"),

		fam("karpenter_cluster_utilization_percent", "resource_type"),
		fam("karpenter_cluster_state_node_count"),
		fam("karpenter_cluster_state_synced"),
		fam("karpenter_cluster_state_unsynced_time_seconds"),

		fam("karpenter_cloudprovider_duration_seconds", "controller", "method", "provider"),
		fam("karpenter_cloudprovider_errors_total", "controller", "method", "provider", "error"),
		fam("karpenter_cloudprovider_instance_type_cpu_cores", "instance_type"),
		fam("karpenter_cloudprovider_instance_type_memory_bytes", "instance_type"),
		fam("karpenter_cloudprovider_instance_type_offering_available", "instance_type", "capacity_type", "zone"),
		fam("karpenter_cloudprovider_instance_type_offering_price_estimate", "instance_type", "capacity_type", "zone"),
	}
	out = append(out, statusFamilies("nodepool")...)
	return append(out, statusFamilies("nodeclaim")...)
}

// implemented are the families this project serves with upstream's labels.
var implemented = []string{
	"karpenter_build_info",
	"karpenter_nodes_allocatable", "karpenter_nodes_total_pod_requests", "karpenter_nodes_total_pod_limits",
	"karpenter_nodes_total_daemon_requests", "karpenter_nodes_total_daemon_limits", "karpenter_nodes_system_overhead",
	"karpenter_nodes_current_lifetime_seconds",
	"karpenter_nodeclaims_created_total", "karpenter_nodeclaims_disrupted_total", "karpenter_nodeclaims_termination_duration_seconds",
	"karpenter_nodes_created_total", "karpenter_nodes_termination_duration_seconds", "karpenter_nodes_lifetime_duration_seconds",
	"karpenter_pods_state", "karpenter_pods_startup_duration_seconds", "karpenter_pods_bound_duration_seconds",
	"karpenter_pods_unbound_time_seconds", "karpenter_pods_unstarted_time_seconds",
	"karpenter_pods_provisioning_bound_duration_seconds", "karpenter_pods_provisioning_startup_duration_seconds",
	"karpenter_pods_provisioning_unbound_time_seconds", "karpenter_pods_provisioning_unstarted_time_seconds",
	"karpenter_scheduler_scheduling_duration_seconds", "karpenter_scheduler_queue_depth",
	"karpenter_scheduler_ignored_pods_count",
	// pkg/controllers/nodeclaim/termination
	"karpenter_nodes_terminated_total", "karpenter_nodeclaims_terminated_total",
	"karpenter_scheduler_unfinished_work_seconds", "karpenter_scheduler_unschedulable_pods_count",
	"karpenter_nodepools_usage", "karpenter_nodepools_limit",
	"karpenter_cluster_utilization_percent", "karpenter_cluster_state_node_count", "karpenter_cluster_state_synced",
	"karpenter_cluster_state_unsynced_time_seconds",
	"karpenter_cloudprovider_duration_seconds", "karpenter_cloudprovider_errors_total",
	"karpenter_cloudprovider_instance_type_cpu_cores", "karpenter_cloudprovider_instance_type_memory_bytes",
	"karpenter_cloudprovider_instance_type_offering_available", "karpenter_cloudprovider_instance_type_offering_price_estimate",
	// pkg/metrics/disruption.go, written by the disruption engine
	"karpenter_voluntary_disruption_decisions_total", "karpenter_voluntary_disruption_eligible_nodes",
	"karpenter_voluntary_disruption_decision_evaluation_duration_seconds", "karpenter_nodepools_allowed_disruptions",
	"karpenter_consolidation_score", "karpenter_consolidation_moves_total",
	// pkg/metrics/interruption.go, written by the AWS interruption controller
	"karpenter_interruption_received_messages_total", "karpenter_interruption_deleted_messages_total",
	"karpenter_interruption_message_queue_duration_seconds",
}

// drift are families served under upstream's name with other labels: the label set served
// and why.
var drift = map[string]struct {
	labels []string
	why    string
}{}

// Status says how the project serves the upstream family name.
func Status(name string) Implementation {
	if _, ok := drift[name]; ok {
		return LabelDrift
	}
	if slices.Contains(implemented, name) || strings.HasPrefix(name, "operator_nodepool_status_condition_") ||
		strings.HasPrefix(name, "operator_nodeclaim_status_condition_") || strings.HasPrefix(name, "operator_nodepool_termination_") ||
		strings.HasPrefix(name, "operator_nodeclaim_termination_") {
		return Implemented
	}
	return Missing
}

// Drift returns the label set served for a LabelDrift family and why it differs.
func Drift(name string) (labels []string, why string) {
	d := drift[name]
	return slices.Clone(d.labels), d.why
}
