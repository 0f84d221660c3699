package metrics

import (
	"fmt"
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
	// The same samples again are no write; a changed value is.
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 4}})
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 5}})
	if v := testutil.ToFloat64(m.Usage.With(l("a", "cpu"))); v != 5 {
		t.Fatalf("a cpu = %v after a new value, want 5", v)
	}
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 5}, {m.Usage, l("a", "memory"), 7}})
	if n := testutil.CollectAndCount(m.Usage); n != 3 {
		t.Fatalf("after a sample added series = %d, want 3", n)
	}
	s.Update("a", []Sample{{m.Usage, l("a", "cpu"), 5}})
	if n := testutil.CollectAndCount(m.Usage); n != 2 {
		t.Fatalf("after a sample removed series = %d, want 2", n)
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

// BenchmarkStoreReplaceAllUnchanged is one metrics pass re-setting 5,000 instance-type
// offering series that did not change (what the state metrics controller does every 5 s).
func BenchmarkStoreReplaceAllUnchanged(b *testing.B) {
	reg := prometheus.NewRegistry()
	m, err := NewNodePoolMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	samples := func() map[string][]Sample {
		var out []Sample
		for i := range 5000 {
			out = append(out, Sample{m.Usage, prometheus.Labels{LabelNodePool: fmt.Sprint("type-", i), LabelResourceType: "cpu"}, float64(i)})
		}
		return map[string][]Sample{"instancetypes": out}
	}
	s := NewStore()
	s.ReplaceAll(samples())
	next := samples()
	b.ReportAllocs()
	for b.Loop() {
		s.ReplaceAll(next)
	}
}
