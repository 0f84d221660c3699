package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNodeClaimsDisruptedIsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NodeClaimsDisrupted(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NodeClaimsDisrupted(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	a.WithLabelValues(ReasonEmpty, "default", "spot").Inc()
	b.WithLabelValues(ReasonEmpty, "default", "spot").Inc()
	if got := testutil.ToFloat64(a.WithLabelValues(ReasonEmpty, "default", "spot")); got != 2 {
		t.Fatalf("counter = %v, want 2 (one shared collector)", got)
	}
}
