// Package metrics defines every karpenter_* (and operator_<kind>_*) Prometheus collector the
// controllers and providers write, once, so each is registered once per registerer however
// many writers use it. Add new definitions here rather than in the package that writes them.
//
// upstream.go lists upstream Karpenter's metric families with their label sets and says which
// this project serves (Status); pkg/operator's TestMetricsMatchUpstream scrapes a running
// controller against it. Store keeps state-derived gauges free of series for objects that are
// gone.
package metrics
