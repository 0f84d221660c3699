package disruption

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/record"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
)

// TestPropertyDecisionsAreSafe: on random clusters (mixed shapes, fill, spot, budgets,
// do-not-disrupt and PDB-protected pods) the decision never exceeds the budget, never
// takes a node a PDB or do-not-disrupt protects, never strands a pod (each moved pod fits
// on what remains plus the replacement's cheapest type) and never raises the price.
func TestPropertyDecisionsAreSafe(t *testing.T) {
	budgets := []string{"1", "2", "20%", "100%"}
	decided := 0
	byType := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		o := worldOptions{nodes: 1 + int(seed%13), fill: 0.3 + float64(seed%5)*0.1, doNotDisrupt: 0.03, protected: 0.05,
			budget: budgets[seed%4], spot: float64(seed%3) * 0.25}
		w := newWorld(t, seed, o)
		p, cmd, _ := w.decide(context.Background())
		if cmd == nil {
			continue
		}
		decided++
		byType[cmd.Method+"/"+cmd.Decision()]++
		if allowed := p.ledger.Allowed("default", cmd.Reason); allowed != budget.Unlimited && len(cmd.Candidates) > allowed {
			t.Errorf("seed %d: %d candidates, budget %s allows %d", seed, len(cmd.Candidates), o.budget, allowed)
		}
		for _, c := range cmd.Candidates {
			in := Input{NodeClaim: c.NodeClaim, Node: c.Node, NodePool: c.NodePool, Pods: p.podsOn(c.Node.Name), PDBs: p.pdbs, Now: p.now}
			if b := Eligible(in); b != nil {
				t.Errorf("seed %d: candidate %s is not eligible: %v", seed, c.Name(), b)
			}
			for _, pod := range p.podsOn(c.Node.Name) {
				if pod.Annotations[v1.DoNotDisruptAnnotationKey] == "true" || pod.Labels["app"] == "ledger" {
					t.Errorf("seed %d: candidate %s runs protected pod %s", seed, c.Name(), pod.Name)
				}
			}
		}
		if why := holds(p, cmd); why != "" {
			t.Errorf("seed %d: %s strands pods: %s", seed, cmd.Why, why)
		}
		before, after := 0.0, 0.0
		for _, c := range cmd.Candidates {
			before += c.Price
		}
		for _, r := range cmd.Replacements {
			after += r.Cheapest.Price
		}
		if after >= before {
			t.Errorf("seed %d: %s does not lower the price: $%.4f -> $%.4f", seed, cmd.Why, before, after)
		}
	}
	if decided < 10 {
		t.Fatalf("only %d of 40 random clusters produced a decision: the property is barely exercised", decided)
	}
	t.Logf("%d of 40 random clusters produced a decision: %v", decided, byType)
	if byType["multi-node consolidation/delete"]+byType["single-node consolidation/delete"] == 0 || byType["multi-node consolidation/replace"]+byType["single-node consolidation/replace"] == 0 {
		t.Errorf("want both consolidation deletes and replaces among the decisions, got %v", byType)
	}
}

// TestMultiNodeReasonsReachUnconsolidatable: on full spot nodes (no spot-to-spot
// replacement) nothing consolidates. Single-node consolidation, out of time after one
// candidate, explains only that one; multi-node consolidation's reasons explain the others,
// so every candidate gets an Unconsolidatable event (on its NodeClaim and Node), once.
func TestMultiNodeReasonsReachUnconsolidatable(t *testing.T) {
	w := newWorld(t, 5, worldOptions{nodes: 6, fill: 2, budget: "100%", spot: 1}) // filled until pods no longer fit
	w.ctrl.opts.Methods = []Method{MultiNodeConsolidation{}, SingleNodeConsolidation{}}
	w.ctrl.opts.SingleNodeTimeBudget = time.Nanosecond
	rec := record.NewFakeRecorder(100)
	w.ctrl.recorder = rec
	p, cmd, _ := w.decide(context.Background())
	if cmd != nil {
		t.Fatalf("want no decision on full spot nodes, got %s", cmd.Why)
	}
	if len(p.candidates) != 6 {
		t.Fatalf("%d candidates, want 6", len(p.candidates))
	}
	drain := func() (single, multi int) {
		for {
			select {
			case e := <-rec.Events:
				if !strings.Contains(e, "Unconsolidatable") {
					continue
				}
				if strings.Contains(e, "multi-node consolidation") {
					multi++
				} else {
					single++
				}
			default:
				return single, multi
			}
		}
	}
	w.ctrl.explainBlocked(p)
	single, multi := drain()
	if single != 2 || multi != 10 {
		t.Fatalf("Unconsolidatable events: %d from single-node consolidation (want 2: one node and its NodeClaim), %d from multi-node (want 10)", single, multi)
	}
	w.ctrl.explainBlocked(p)
	if single, multi := drain(); single+multi != 0 {
		t.Fatalf("the same reasons again raised %d events, want none", single+multi)
	}
}
