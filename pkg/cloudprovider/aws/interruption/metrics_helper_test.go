package interruption_test

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// metricsFor returns the deleted-messages counter registered on reg.
func metricsFor(reg prometheus.Registerer) (prometheus.Collector, error) {
	m, err := metrics.Interruption(reg)
	if err != nil {
		return nil, err
	}
	return m.Deleted, nil
}
