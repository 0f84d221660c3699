// Package node counts managed Nodes coming and going: karpenter_nodes_created_total (nodes
// created after the controller started, so a restart does not count them twice),
// karpenter_nodes_termination_duration_seconds (deletion request → gone) and
// karpenter_nodes_lifetime_duration_seconds (creation → gone).
package node
