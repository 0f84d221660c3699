package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace is the prefix of every karpenter_* family.
const Namespace = "karpenter"

// More label names, shared by several families.
const (
	LabelResourceType = "resource_type"
	LabelZone         = "zone"
	LabelInstanceType = "instance_type"
	LabelName         = "name"
	LabelNamespace    = "namespace"
)

// DurationBuckets are upstream's buckets for duration histograms, in seconds: controller-runtime's
// reconcile buckets extended to ten minutes. Each call returns a new slice.
func DurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
		1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60, 120, 150, 300, 450, 600}
}

// SummaryObjectives are upstream's quantiles (0, 0.5, 0.9, 0.99, 1) for summaries, each with
// an error of 0.01.
func SummaryObjectives() map[float64]float64 {
	out := map[float64]float64{}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
		out[q] = 0.01
	}
	return out
}

// Register registers c on reg and returns it, or returns the collector of the same type
// already registered there under the same description. A nil reg leaves c unregistered.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering metrics: %w", err)
	}
	return c, nil
}

// registerGauges registers every gauge vector in place (see Register).
func registerGauges(reg prometheus.Registerer, gs ...**prometheus.GaugeVec) error {
	for _, g := range gs {
		got, err := Register(reg, *g)
		if err != nil {
			return err
		}
		*g = got
	}
	return nil
}

func gaugeVec(subsystem, name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
}

func counterVec(subsystem, name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
}

func histogramVec(subsystem, name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help, Buckets: DurationBuckets(),
	}, labels)
}
