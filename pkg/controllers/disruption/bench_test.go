package disruption

import (
	"context"
	"testing"
)

// benchmarkConsolidation times one consolidation decision (candidates, budgets, multi-node
// then single-node consolidation) on a random cluster of n nodes at ~45 % CPU fill, 3 % of pods
// with do-not-disrupt and 5 % under a PodDisruptionBudget allowing nothing. It reports the
// cluster's price before and after the decision, and the LP lower bound for its pods.
func benchmarkConsolidation(b *testing.B, n int) {
	w := newWorld(b, 42, worldOptions{nodes: n, fill: 0.45, doNotDisrupt: 0.03, protected: 0.05, budget: "10%", spot: 0.2})
	// Consolidation only: an empty node would otherwise be the (trivial) first decision.
	w.ctrl.opts.Methods = []Method{MultiNodeConsolidation{}, SingleNodeConsolidation{}}
	ctx := context.Background()
	var cmd *Command
	var p *pass
	b.ResetTimer()
	for b.Loop() {
		p, cmd, _ = w.decide(ctx)
	}
	b.StopTimer()
	after := w.price
	if cmd != nil {
		after -= cmd.Savings
		b.ReportMetric(float64(len(cmd.Candidates)), "candidates")
	}
	lb := w.lowerBound(p)
	b.ReportMetric(w.price, "$/h-before")
	b.ReportMetric(after, "$/h-after")
	b.ReportMetric(lb, "$/h-lowerbound")
	b.ReportMetric(after/lb, "after/lowerbound")
	b.ReportMetric(float64(len(w.pods)), "pods")
}

func BenchmarkConsolidation100(b *testing.B)  { benchmarkConsolidation(b, 100) }
func BenchmarkConsolidation1000(b *testing.B) { benchmarkConsolidation(b, 1000) }
func BenchmarkConsolidation5000(b *testing.B) { benchmarkConsolidation(b, 5000) }
