package disruption

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// TestLookaheadRollsTheEnginesMoves: a rollout plays, after its first move, the moves the
// engine would take (pass.next), so the look-ahead never prefers a move on the strength of
// a continuation the engine would not follow. At every decision of two replayed sales,
// next on a fresh pass must choose what single-node consolidation without the look-ahead
// chooses (the same candidate, deleted or replaced by the same instance type).
func TestLookaheadRollsTheEnginesMoves(t *testing.T) {
	// Seed 2 has a move the consolidation target steers (a greedy next fails there).
	for _, seed := range []uint64{2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := newDemoReplay(t, seed, true)
			ctx := context.Background()
			compared := 0
			for range 100 {
				w.ctrl.opts.noLookahead = true
				p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
				w.ctrl.hold(p)
				p.buildCandidates()
				want, err := SingleNodeConsolidation{}.Compute(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				q := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
				w.ctrl.hold(q)
				q.buildCandidates()
				if got := q.next(nil); describeMove(got) != describeMove(want) {
					t.Fatalf("decision %d: next chose %s, single-node consolidation %s", compared, describeMove(got), describeMove(want))
				}
				if want != nil {
					compared++
				}
				w.ctrl.opts.noLookahead = false
				dp, cmd, _ := w.decide(ctx)
				if cmd == nil {
					if dp.sweptAll {
						break
					}
					continue
				}
				if err := w.apply(dp, cmd); err != nil {
					t.Fatal(err)
				}
			}
			if compared == 0 {
				t.Fatal("no single-node move was compared")
			}
			t.Logf("%d single-node moves compared", compared)
		})
	}
}

func describeMove(cmd *Command) string {
	if cmd == nil {
		return "nothing"
	}
	s := ""
	for _, c := range cmd.Candidates {
		s += c.Name() + " "
	}
	for _, r := range cmd.Replacements {
		s += "-> " + r.Cheapest.InstanceType + " " + r.Cheapest.CapacityType
	}
	return s
}

// TestTargetAfter: the rollouts take the consolidation target once a move is done as what is
// left of it: a move within it leaves its other nodes and the rest of its savings, a move
// outside it leaves it whole, a move taking all of it or all its savings leaves none.
func TestTargetAfter(t *testing.T) {
	cand := func(name string) *Candidate {
		return &Candidate{NodeClaim: &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}}
	}
	a, b, c, d := cand("a"), cand("b"), cand("c"), cand("d")
	target := &Command{Candidates: []*Candidate{a, b, c}, Savings: 1.0}
	for _, tc := range []struct {
		name  string
		move  *Command
		left  string
		saves float64
	}{
		{"within", &Command{Candidates: []*Candidate{b}, Savings: 0.3}, "a c ", 0.7},
		{"outside", &Command{Candidates: []*Candidate{d}, Savings: 0.2}, "a b c ", 1.0},
		{"all of it", &Command{Candidates: []*Candidate{a, b, c}, Savings: 1.0}, "nothing", 0},
		{"all its savings", &Command{Candidates: []*Candidate{a}, Savings: 1.0}, "nothing", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass{target: target, targetDone: true}
			left := p.targetAfter(tc.move)
			if got := describeMove(left); got != tc.left {
				t.Fatalf("left %q, want %q", got, tc.left)
			}
			if left != nil && math.Abs(left.Savings-tc.saves) > 1e-9 {
				t.Fatalf("left saving %.4f, want %.4f", left.Savings, tc.saves)
			}
			if len(target.Candidates) != 3 || target.Savings != 1.0 {
				t.Fatal("targetAfter changed the pass's target")
			}
		})
	}
}

// TestDemoReplaySeeds replays hack/demo's sale for seeds 1..DEMO_REPLAY_SEEDS (spot-to-spot
// on; about 2 s a seed) and checks how close to the whole-node bound they end: none more
// than 12 % above it and 4 % on average (60 seeds: 57 within 10 %, mean +2.2 %; without
// the look-ahead 55 and +4.4 %, worst +24.7 %). Set DEMO_REPLAY_SEEDS to run it.
func TestDemoReplaySeeds(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DEMO_REPLAY_SEEDS"))
	if n <= 0 {
		t.Skip("set DEMO_REPLAY_SEEDS=60 to replay 60 sales (about 2 minutes)")
	}
	sum, within := 0.0, 0
	for seed := 1; seed <= n; seed++ {
		last, ib := replay(t, uint64(seed), true)
		above := 100 * (last/ib - 1)
		sum += above
		if above <= 10 {
			within++
		}
		if above > 12 {
			t.Errorf("seed %d ended %.1f%% above the whole-node bound", seed, above)
		}
	}
	t.Logf("%d of %d sales within 10 %% of the whole-node bound, mean %+.2f %%", within, n, sum/float64(n))
	if sum/float64(n) > 4 {
		t.Errorf("mean %.2f %% above the whole-node bound, want at most 4 %%", sum/float64(n))
	}
}
