package disruption

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestPassFromStateDecidesAsFromPods: a pass built from the cluster state's refs (as
// Reconcile builds it) finds the same candidates, with the same pods, counts and
// disruption costs, and takes the same decision as a pass handed the same pods; and until
// a method asks for a candidate's pods, the candidate holds none.
func TestPassFromStateDecidesAsFromPods(t *testing.T) {
	decided, withPods := 0, 0
	for seed := range uint64(24) {
		o := worldOptions{nodes: 4 + int(seed%9), fill: 0.3 + 0.1*float64(seed%6), budget: "100%", spot: float64(seed%3) * 0.25,
			doNotDisrupt: 0.05, protected: 0.05}
		w := newWorld(t, seed, o)
		ctx := context.Background()

		given := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
		w.ctrl.hold(given)
		given.buildCandidates()
		fromState := w.ctrl.newPass(ctx, w.now, nil, w.pdbs)
		if fromState.refs == nil {
			t.Fatalf("seed %d: a pass built without pods does not read the state's", seed)
		}
		w.ctrl.hold(fromState)
		fromState.buildCandidates()

		if len(given.candidates) != len(fromState.candidates) {
			t.Fatalf("seed %d: %d candidates from the pods, %d from the state", seed, len(given.candidates), len(fromState.candidates))
		}
		for i, want := range given.candidates {
			got := fromState.candidates[i]
			if got.NumPods() > 0 {
				withPods++
				if got.pods != nil || got.load == nil {
					t.Errorf("seed %d: candidate %s holds its pods before any method asked for them", seed, got.Name())
				}
			}
			if got.Name() != want.Name() || got.NumPods() != want.NumPods() || got.DisruptionCost != want.DisruptionCost {
				t.Errorf("seed %d: candidate %d is %s (%d pods, cost %v) from the state, %s (%d pods, cost %v) from the pods",
					seed, i, got.Name(), got.NumPods(), got.DisruptionCost, want.Name(), want.NumPods(), want.DisruptionCost)
			}
			if g, w := podKeys(got.Pods()), podKeys(want.Pods()); !slices.Equal(g, w) {
				t.Errorf("seed %d: candidate %s moves %v from the state, %v from the pods", seed, got.Name(), g, w)
			}
			for _, pod := range got.Pods() {
				for i := range fromState.scratch {
					if pod == &fromState.scratch[i] {
						t.Errorf("seed %d: candidate %s holds pod %s in the pass's scratch", seed, got.Name(), pod.Name)
					}
				}
			}
			if got.NumPods() != len(got.Pods()) {
				t.Errorf("seed %d: candidate %s counted %d pods and has %d", seed, got.Name(), got.NumPods(), len(got.Pods()))
			}
		}

		// The same decision, through every method.
		a, b := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs), w.ctrl.newPass(ctx, w.now, nil, w.pdbs)
		if ga, gb := decideOn(t, w, a), decideOn(t, w, b); ga != gb {
			t.Errorf("seed %d: from the pods %q, from the state %q", seed, ga, gb)
		} else if ga != "nothing" {
			decided++
		}
	}
	if withPods < 24 {
		t.Fatalf("only %d candidates run pods: the comparison is barely exercised", withPods)
	}
	if decided < 5 {
		t.Fatalf("only %d of 24 clusters produced a decision: the comparison is barely exercised", decided)
	}
	t.Logf("%d candidates with pods; %d of 24 clusters produced the same decision both ways", withPods, decided)
}

// TestPassPodsAreThePassTimeState: a candidate's pods are those bound when the pass was
// built, even when the state moved on before a method asked for them.
func TestPassPodsAreThePassTimeState(t *testing.T) {
	w := newWorld(t, 3, worldOptions{nodes: 5, fill: 0.5, budget: "100%"})
	p := w.ctrl.newPass(context.Background(), w.now, nil, w.pdbs)
	w.ctrl.hold(p)
	p.buildCandidates()
	i := slices.IndexFunc(p.candidates, func(c *Candidate) bool { return c.NumPods() > 1 })
	if i < 0 {
		t.Fatal("no candidate with two pods")
	}
	c := p.candidates[i]
	var gone *corev1.Pod
	for _, pod := range w.pods {
		if pod.Spec.NodeName == c.Node.Name {
			gone = pod
			break
		}
	}
	w.ctrl.cluster.DeletePod(types.NamespacedName{Namespace: gone.Namespace, Name: gone.Name})
	if !slices.Contains(podKeys(c.Pods()), gone.Namespace+"/"+gone.Name) {
		t.Errorf("candidate %s lost pod %s/%s deleted after the pass was built: %v", c.Name(), gone.Namespace, gone.Name, podKeys(c.Pods()))
	}
	if q := w.ctrl.newPass(context.Background(), w.now, nil, w.pdbs); slices.Contains(podKeys(q.podsOn(c.Node.Name)), gone.Namespace+"/"+gone.Name) {
		t.Errorf("a pass built after the delete still sees pod %s/%s", gone.Namespace, gone.Name)
	}
}

// decideOn is world.decide on a given pass: the first command of the methods, as text.
func decideOn(t *testing.T, w *world, p *pass) string {
	t.Helper()
	w.ctrl.hold(p)
	p.buildCandidates()
	for _, m := range w.ctrl.opts.Methods {
		cmd, err := m.Compute(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if cmd != nil {
			names := make([]string, len(cmd.Candidates))
			for i, c := range cmd.Candidates {
				names[i] = c.Name()
			}
			return fmt.Sprintf("%s %s %v saves %.6f: %s", m.Name(), cmd.Decision(), names, cmd.Savings, cmd.Why)
		}
	}
	return "nothing"
}

func podKeys(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	slices.Sort(out)
	return out
}
