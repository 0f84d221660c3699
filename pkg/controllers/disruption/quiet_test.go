package disruption

import (
	"context"
	"testing"
	"time"
)

// counting counts a method's Compute calls.
type counting struct {
	Method
	calls *int
}

func (m counting) Compute(ctx context.Context, p *pass) (*Command, error) {
	*m.calls++
	return m.Method.Compute(ctx, p)
}

// A cluster in which consolidation swept every candidate and found nothing is not simulated
// again every pass while nothing changes; a change in the cluster state, in what the
// fingerprint covers, or ConsolidationRecheck passing brings the methods back.
func TestQuietClusterSkipsConsolidation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 11, worldOptions{nodes: 30, fill: 0.6, budget: "100%"})
	w.converge(t, 300)
	var multi, single int
	w.ctrl.opts.Methods = []Method{Emptiness{}, Drift{}, counting{MultiNodeConsolidation{}, &multi}, counting{SingleNodeConsolidation{}, &single}}
	pass := func(what string) {
		t.Helper()
		generation := w.ctrl.cluster.Generation()
		p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
		w.ctrl.hold(p)
		p.buildCandidates()
		cmd, errs := w.ctrl.compute(ctx, p, generation)
		if cmd != nil || len(errs) > 0 {
			t.Fatalf("%s: the converged cluster gave command %v, errors %v", what, cmd, errs)
		}
		w.now = w.now.Add(10 * time.Second)
	}
	expect := func(what string, ran bool) {
		t.Helper()
		if got := multi > 0 && single > 0; got != ran {
			t.Errorf("%s: consolidation ran = %v (multi-node %d, single-node %d calls), want %v", what, got, multi, single, ran)
		}
		multi, single = 0, 0
	}

	pass("first pass")
	expect("the first pass sweeps every candidate", true)
	for range 5 {
		pass("quiet")
	}
	expect("five quiet passes", false)

	// A Node update that is only a heartbeat is no change.
	nodes := w.ctrl.cluster.Nodes()
	beat := nodes[0].DeepCopy()
	beat.ResourceVersion = "2"
	w.ctrl.cluster.UpdateNode(beat)
	beat = beat.DeepCopy()
	beat.ResourceVersion = "3"
	for i := range beat.Status.Conditions {
		beat.Status.Conditions[i].LastHeartbeatTime.Time = w.now
	}
	pass("after the node's first recorded version")
	multi, single = 0, 0
	w.ctrl.cluster.UpdateNode(beat)
	pass("heartbeat")
	expect("a heartbeat", false)

	// A label change is a change.
	labelled := beat.DeepCopy()
	labelled.ResourceVersion = "4"
	labelled.Labels["team"] = "a"
	w.ctrl.cluster.UpdateNode(labelled)
	pass("label")
	expect("a node's label changed", true)
	pass("quiet again")
	expect("quiet again", false)

	// A PodDisruptionBudget the state does not hold is in the fingerprint.
	pdb := w.pdbs[0].DeepCopy()
	pdb.Status.DisruptionsAllowed = 1
	w.pdbs = append(w.pdbs[1:], pdb)
	pass("pdb")
	expect("a PodDisruptionBudget changed", true)

	// Time alone: after ConsolidationRecheck the cluster is looked at again.
	pass("quiet before the recheck")
	expect("quiet before the recheck", false)
	w.now = w.now.Add(ConsolidationRecheck)
	pass("recheck")
	expect("after ConsolidationRecheck", true)
}
