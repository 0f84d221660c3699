package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStoreReplacesAndDeletes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewNodePoolMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore()
	l := func(np, r string) prometheus.Labels {
		return prometheus.Labels{LabelNodePool: np, LabelResourceType: r}
	}
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 2}, {m.Usage, l("a", "memory"), 10}})
	s.Update("b", []Sample{{m.Usage, l("b", "cpu"), 1}})
	if n := testutil.CollectAndCount(m.Usage); n != 3 {
		t.Fatalf("series = %d, want 3", n)
	}
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 4}})
	if n := testutil.CollectAndCount(m.Usage); n != 2 {
		t.Fatalf("after update series = %d, want 2 (memory of a deleted)", n)
	}
	if v := testutil.ToFloat64(m.Usage.With(l("a", "cpu"))); v != 4 {
		t.Fatalf("a cpu = %v, want 4", v)
	}
	s.ReplaceAll(map[string][]Sample{"b": {{m.Usage, l("b", "cpu"), 3}}})
	if n := testutil.CollectAndCount(m.Usage); n != 1 {
		t.Fatalf("after ReplaceAll series = %d, want 1", n)
	}
	s.Delete("b")
	if n := testutil.CollectAndCount(m.Usage); n != 0 {
		t.Fatalf("after Delete series = %d, want 0", n)
	}
}

func TestUpstreamListIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Upstream() {
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
	}
	for _, name := range implemented {
		if !seen[name] {
			t.Errorf("implemented %s is not an upstream family", name)
		}
	}
	for name := range drift {
		if !seen[name] {
			t.Errorf("drifting %s is not an upstream family", name)
		}
	}
}

func TestSchedulingDurationHasUpstreamName(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := SchedulingDuration(reg)
	if err != nil {
		t.Fatal(err)
	}
	h.WithLabelValues("provisioner").Observe(0.3)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "karpenter_scheduler_scheduling_duration_seconds" {
		t.Fatalf("families = %v", mfs)
	}
	if got := len(mfs[0].GetMetric()[0].GetHistogram().GetBucket()); got != len(DurationBuckets()) {
		t.Fatalf("buckets = %d, want upstream's %d", got, len(DurationBuckets()))
	}
}
