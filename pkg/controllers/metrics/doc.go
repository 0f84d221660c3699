// Package metrics holds the controllers that export upstream's state-derived metric families:
// state (nodes, nodepools, cluster state, instance types; a periodic pass over the cluster),
// pod (karpenter_pods_*) and status (operator_<kind>_status_condition_* for NodePools and
// NodeClaims). The collectors themselves are defined in pkg/metrics.
package metrics
