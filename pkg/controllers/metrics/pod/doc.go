// Package pod exports karpenter_pods_state (one series per pod, labelled with its node's
// nodepool, zone, arch, capacity type and instance type, computed from the cache when
// scraped), karpenter_pods_startup_duration_seconds
// and karpenter_pods_bound_duration_seconds (observed once per pod seen pending), and the
// per-pod karpenter_pods_unbound_time_seconds / unstarted_time_seconds gauges.
package pod
