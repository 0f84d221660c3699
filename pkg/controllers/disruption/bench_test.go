package disruption

import (
	"context"
	"testing"
)

// benchmarkConsolidation times one consolidation decision (candidates, budgets, multi-node
// then single-node consolidation) on a random cluster of n nodes at ~45 % CPU fill, 3 % of pods
// with do-not-disrupt and 5 % under a PodDisruptionBudget allowing nothing. It reports the
// cluster's price before and after the decision, and the LP lower bound for its pods, and
// the process CPU time per decision next to the wall time (ns/op), which a loaded machine
// inflates.
func benchmarkConsolidation(b *testing.B, n int) {
	w := newWorld(b, 42, worldOptions{nodes: n, fill: 0.45, doNotDisrupt: 0.03, protected: 0.05, budget: "10%", spot: 0.2})
	// Consolidation only: an empty node would otherwise be the (trivial) first decision.
	w.ctrl.opts.Methods = []Method{MultiNodeConsolidation{}, SingleNodeConsolidation{}}
	ctx := context.Background()
	var cmd *Command
	var p *pass
	b.ResetTimer()
	cpu := ProcessCPU()
	for b.Loop() {
		p, cmd, _ = w.decide(ctx)
	}
	cpu = ProcessCPU() - cpu
	b.StopTimer()
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
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

// BenchmarkQuietPass2000 times one pass over a quiet cluster of 2,000 nodes (about 20,000
// pods) in which consolidation already swept every candidate and found nothing: what the
// disruption loop costs every ten seconds while nothing changes (the random world may hold
// consolidations; it is marked quiet by hand, as if they had been applied).
// `go test -run '^$' -bench QuietPass2000 -benchtime=5x ./pkg/controllers/disruption/`
func BenchmarkQuietPass2000(b *testing.B) {
	w := newWorld(b, 7, worldOptions{nodes: 2000, fill: 0.9, budget: "10%"})
	// No command is applied here: emptiness would find the random world's empty nodes
	// every pass.
	w.ctrl.opts.Methods = []Method{Drift{}, MultiNodeConsolidation{}, SingleNodeConsolidation{}}
	ctx := context.Background()
	pass := func() *pass {
		generation := w.ctrl.cluster.PlacementGeneration()
		p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
		w.ctrl.hold(p)
		p.buildCandidates()
		_, _ = w.ctrl.compute(ctx, p, generation)
		return p
	}
	// Sweep until quiet; a command found is not applied, so mark the world quiet by hand
	// after one sweep if consolidation keeps finding something.
	for range 50 {
		if pass(); w.ctrl.quiet != nil {
			break
		}
	}
	if w.ctrl.quiet == nil {
		p := pass()
		w.ctrl.quiet = &quietState{generation: w.ctrl.cluster.PlacementGeneration(), fingerprint: p.fingerprint(), at: w.now,
			budgets: usableBudgets(p), swept: usableBudgets(p), unhealthy: p.unhealthy}
	}
	b.ResetTimer()
	for b.Loop() {
		pass()
	}
	b.StopTimer()
	if p := pass(); !both(w.ctrl.consolidationSkipped(p, w.ctrl.cluster.PlacementGeneration(), p.fingerprint())) {
		b.Fatal("the quiet cluster was simulated again")
	}
	b.ReportMetric(float64(len(w.pods)), "pods")
}

// BenchmarkSimulateOne2000 times one candidate's simulation (its node removed, its pods
// placed on the rest) in a cluster of 2,000 nodes (about 20,000 pods): the unit a
// single-node consolidation sweep repeats once per candidate.
// `go test -run '^$' -bench SimulateOne2000 -benchmem ./pkg/controllers/disruption/`
func BenchmarkSimulateOne2000(b *testing.B) {
	w := newWorld(b, 7, worldOptions{nodes: 2000, fill: 0.9, budget: "10%"})
	p := w.ctrl.newPass(context.Background(), w.now, w.pods, w.pdbs)
	w.ctrl.hold(p)
	p.buildCandidates()
	if len(p.candidates) == 0 {
		b.Fatal("no candidates")
	}
	p.simulate(p.candidates[:1]) // the memo's first fill is not what a sweep repeats
	i := 0
	for b.Loop() {
		p.simulate(p.candidates[i%len(p.candidates) : i%len(p.candidates)+1])
		i++
	}
	b.ReportMetric(float64(len(w.pods)), "pods")
}

func both(a, b bool) bool { return a && b }
