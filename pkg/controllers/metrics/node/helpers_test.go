package node

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// dtoMetric reads the one histogram series of a vector.
type dtoMetric struct {
	count uint64
	sum   float64
}

func (m *dtoMetric) read(t *testing.T, h *prometheus.HistogramVec) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(h); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("want one histogram series, got %v", mfs)
	}
	hist := mfs[0].GetMetric()[0].GetHistogram()
	m.count, m.sum = hist.GetSampleCount(), hist.GetSampleSum()
}
