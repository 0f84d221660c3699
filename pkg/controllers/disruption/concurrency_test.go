package disruption

import (
	"maps"
	"slices"
	"testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// driftedNodes creates n small nodes, each running a 1-CPU pod (too much for two to share a
// small replacement), all Drifted.
func driftedNodes(h *harness, n int) []string {
	h.t.Helper()
	var out []string
	for i := range n {
		nc, node := h.node("old-"+string(rune('a'+i)), "small")
		h.pod("p-"+string(rune('a'+i)), node.Name, "1")
		h.setCondition(nc.Name, v1.ConditionTypeDrifted, "NodePoolDrifted")
		out = append(out, nc.Name)
	}
	return out
}

// inFlight returns the candidates of the controller's in-flight commands, by command.
func inFlight(c *Controller) map[string][]string {
	out := map[string][]string{}
	for id, f := range c.commands {
		if f.phase == phaseWaiting {
			out[id] = slices.Clone(f.candidates)
		}
	}
	return out
}

// TestDriftKeepsCommandsInFlightUpToTheBudget: with a budget of 2 and three drifted nodes,
// the first pass starts one command, the next pass (after a restart) a second one while the
// first is still waiting for its replacement (the ledger counts the first's tainted node),
// and the third pass starts nothing: the ledger refuses a third. A controller restarted
// again recovers both commands, launches nothing twice and finishes both; the third node's
// turn comes once the first two are gone.
func TestDriftKeepsCommandsInFlightUpToTheBudget(t *testing.T) {
	h := newHarness(t, "2", "Never")
	olds := driftedNodes(h, 3)

	first := h.reconcile().Started
	if first == nil || first.Method != "drift" || len(first.Candidates) != 1 || len(first.Replacements) != 1 {
		t.Fatalf("first pass started %+v, want one drift replace", first)
	}
	// A restart between the two: the new process resumes the first command and starts the
	// second next to it (within the same second, counting its ids from 1 again).
	h.ctrl = h.newController()
	second := h.reconcile().Started
	if second == nil || second.Method != "drift" || len(second.Candidates) != 1 || len(second.Replacements) != 1 {
		t.Fatalf("second pass started %+v, want a second drift replace while the first is in flight", second)
	}
	if first.Candidates[0].Name() == second.Candidates[0].Name() {
		t.Fatalf("both commands took %s", first.Candidates[0].Name())
	}
	if got := inFlight(h.ctrl); len(got) != 2 {
		t.Fatalf("in flight %v, want 2 commands", got)
	}
	if res := h.reconcile(); res.Started != nil {
		t.Fatalf("a third command %s started, the budget of 2 is used by the two in flight", res.Started.Why)
	}
	if got := len(h.tainted()); got != 2 {
		t.Fatalf("%d nodes tainted, want 2 (budget 2)", got)
	}
	if got := len(h.replacements()); got != 2 {
		t.Fatalf("%d replacements, want 2", got)
	}

	// Restart with both commands in flight.
	before := inFlight(h.ctrl)
	h.ctrl = h.newController()
	if res := h.reconcile(); res.Started != nil || len(res.Aborted) != 0 {
		t.Fatalf("the restarted controller started %+v, aborted %v", res.Started, res.Aborted)
	}
	after := inFlight(h.ctrl)
	if !maps.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("recovered %v, want the two commands %v", after, before)
	}
	reps := h.replacements()
	if len(reps) != 2 || len(h.tainted()) != 2 {
		t.Fatalf("after the restart: %d replacements, tainted %v; want 2 and 2", len(reps), h.tainted())
	}
	for _, r := range reps {
		h.initialize(r)
	}
	h.clock.Step(DefaultValidationTTL)
	res := h.reconcile()
	slices.Sort(res.Deleted)
	want := []string{first.Candidates[0].Name(), second.Candidates[0].Name()}
	slices.Sort(want)
	if !slices.Equal(res.Deleted, want) || len(res.Aborted) != 0 {
		t.Fatalf("deleted %v aborted %v, want %v", res.Deleted, res.Aborted, want)
	}
	if res.Started != nil {
		t.Fatalf("started %s while the two deleted nodes still count against the budget", res.Started.Why)
	}
	h.finishTerminations()
	third := h.reconcile().Started
	if third == nil || len(third.Candidates) != 1 || slices.Contains(want, third.Candidates[0].Name()) || !slices.Contains(olds, third.Candidates[0].Name()) {
		t.Fatalf("started %+v, want the third drifted node once the first two are gone", third)
	}
	if got := len(h.ctrl.commands); got != 3 {
		t.Fatalf("%d commands held (two draining, one waiting), want 3: a new command must not reuse a recovered one's id", got)
	}
}

// TestTwoMethodsShareTheBudgetAcrossPasses: budget 2, an empty node and two drifted nodes
// with pods: emptiness takes one slot, drift the other on the next pass, and nothing
// more starts while both are in flight.
func TestTwoMethodsShareTheBudgetAcrossPasses(t *testing.T) {
	h := newHarness(t, "2", "0s")
	h.node("empty", "small")
	for _, s := range []string{"a", "b"} {
		nc, node := h.node("drifted-"+s, "small")
		h.pod("p-"+s, node.Name, "1900m")
		h.setCondition(nc.Name, v1.ConditionTypeDrifted, "NodePoolDrifted")
	}
	methods := map[string]int{}
	for range 4 {
		if res := h.reconcile(); res.Started != nil {
			methods[res.Started.Method] += len(res.Started.Candidates)
		}
	}
	if methods["emptiness"] != 1 || methods["drift"] != 1 {
		t.Fatalf("disrupted by method %v, want one empty node and one drifted node", methods)
	}
	if got := len(h.tainted()); got != 2 {
		t.Fatalf("%d nodes tainted, want 2 (budget 2)", got)
	}
}
