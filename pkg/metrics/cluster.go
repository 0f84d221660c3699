package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStateMetrics are the karpenter_cluster_state_* gauges.
type ClusterStateMetrics struct {
	NodeCount    prometheus.Gauge
	Synced       prometheus.Gauge
	UnsyncedTime prometheus.Gauge
}

// NewClusterStateMetrics registers the cluster state gauges on reg (or returns those already there).
func NewClusterStateMetrics(reg prometheus.Registerer) (*ClusterStateMetrics, error) {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "cluster_state", Name: name, Help: help})
	}
	m := &ClusterStateMetrics{
		NodeCount:    gauge("node_count", "Current count of nodes in cluster state."),
		Synced:       gauge("synced", "Returns 1 if cluster state is synced and 0 otherwise."),
		UnsyncedTime: gauge("unsynced_time_seconds", "The time for which cluster state is not synced."),
	}
	var err error
	for _, g := range []*prometheus.Gauge{&m.NodeCount, &m.Synced, &m.UnsyncedTime} {
		if *g, err = Register(reg, *g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// BuildInfo registers karpenter_build_info{version,goversion,commit} on reg and sets it to 1.
func BuildInfo(reg prometheus.Registerer, version, goVersion, commit string) error {
	g, err := Register(reg, gaugeVec("", "build_info", "A metric with a constant '1' value labeled by version, goversion and commit from which karpenter was built.", "version", "goversion", "commit"))
	if err != nil {
		return err
	}
	g.WithLabelValues(version, goVersion, commit).Set(1)
	return nil
}
