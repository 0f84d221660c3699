package test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricValue returns the value of the counter, gauge or histogram (its sample count) named
// name whose labels include every pair in labels ("key", "value", ...), summed over the
// matching series. A metric that is not registered, or has no matching series, is 0.
func MetricValue(g prometheus.Gatherer, name string, labels ...string) (float64, error) {
	if len(labels)%2 != 0 {
		return 0, fmt.Errorf("reading metric %s: labels must be key/value pairs, got %d strings", name, len(labels))
	}
	families, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gathering metrics: %w", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
	}
	return sum, nil
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// HistogramOf returns the observation count and sum of the histogram collector c (a
// Histogram, or a HistogramVec with one series), failing when it holds no histogram or
// several series.
func HistogramOf(c prometheus.Collector) (uint64, float64, error) {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var found []*dto.Histogram
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			return 0, 0, fmt.Errorf("reading histogram: %w", err)
		}
		if out.Histogram != nil {
			found = append(found, out.Histogram)
		}
	}
	if len(found) != 1 {
		return 0, 0, fmt.Errorf("reading histogram: want one histogram series, got %d", len(found))
	}
	return found[0].GetSampleCount(), found[0].GetSampleSum(), nil
}
