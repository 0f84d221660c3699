package disruption

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
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
			// Every state the replay goes through, before its decision is applied.
			w.play(t, func(*pass, *Command) bool {
				w.ctrl.opts.noLookahead = true
				defer func() { w.ctrl.opts.noLookahead = false }()
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
				return true
			})
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
// than 12 % above it and 4 % on average (60 seeds: 58 within 10 %, mean +1.8 %, worst
// +10.5 %; without the look-ahead 52 and +5.1 %, worst +24.7 %). Set DEMO_REPLAY_SEEDS to run it.
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

// TestSpreadStrands: kube-scheduler puts each evicted pod on the least allocated node with
// room, not where it fits best, so the largest pod, placed first, can take the room two
// smaller ones needed, and one of them then fits nowhere (our packing would place all
// three). spread returns such a pod apart, for the rollout to launch a node for it, instead
// of reporting the move as one it cannot model.
func TestSpreadStrands(t *testing.T) {
	node := func(name, cpu string, used ...*corev1.Pod) scheduling.ExistingNode {
		return scheduling.ExistingNode{Name: name, Pods: used,
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi")}}
	}
	pod := func(name, cpu string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}
		return p
	}
	// a: 4 CPU free, b: 3 CPU free of 4. Packing puts the 3-CPU pod on b and both 2-CPU
	// pods on a; kube-scheduler puts the 3-CPU pod on a (the emptier), one 2-CPU pod on b,
	// and the other finds 1 CPU on each.
	nodes := []scheduling.ExistingNode{node("a", "4"), node("b", "4", pod("resident", "1"))}
	placed, stranded, ok := spread(nodes, []*corev1.Pod{pod("m1", "2"), pod("m2", "2"), pod("large", "3")})
	if !ok {
		t.Fatal("spread could not model plain pods")
	}
	if len(placed["a"]) != 1 || placed["a"][0].Name != "large" || len(placed["b"]) != 1 {
		t.Errorf("placed %v, want the large pod on a and one 2-CPU pod on b", placedNames(placed))
	}
	if len(stranded) != 1 || stranded[0].Name != "m2" {
		t.Errorf("stranded %d pods, want m2 (placed largest first, then by name)", len(stranded))
	}
}

func placedNames(placed map[string][]*corev1.Pod) map[string][]string {
	out := map[string][]string{}
	for n, pods := range placed {
		for _, p := range pods {
			out[n] = append(out[n], p.Name)
		}
	}
	return out
}

// TestSpreadAdmitsTolerations: every live pod carries the not-ready and unreachable
// NoExecute tolerations of the DefaultTolerationSeconds admission plugin; the model of
// kube-scheduler must still place it (rather than hand every live move to the packing
// scheduler), and must keep a pod off a node whose NoSchedule taint it does not tolerate.
func TestSpreadAdmitsTolerations(t *testing.T) {
	seconds := int64(300)
	defaults := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
	}
	node := func(name, cpu string, taints ...corev1.Taint) scheduling.ExistingNode {
		return scheduling.ExistingNode{Name: name, Taints: taints,
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi")}}
	}
	pod := func(name string, tols ...corev1.Toleration) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}
		p.Spec.Tolerations = tols
		return p
	}
	dedicated := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	// The tainted node is the least allocated: an admitted pod would go there.
	nodes := []scheduling.ExistingNode{node("small", "2"), node("large", "16", dedicated)}
	placed, _, ok := spread(nodes, []*corev1.Pod{pod("web", defaults...)})
	if !ok || len(placed["small"]) != 1 {
		t.Fatalf("a pod with the default tolerations: placed %v (ok %v), want on small", placed, ok)
	}
	tolerating := append(slices.Clone(defaults), corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule})
	placed, _, ok = spread(nodes, []*corev1.Pod{pod("gpu", tolerating...)})
	if !ok || len(placed["large"]) != 1 {
		t.Fatalf("a pod tolerating the taint: placed %v (ok %v), want on large (least allocated)", placed, ok)
	}
}

// TestLookaheadSaysWhy: on a replayed sale where the look-ahead changes the outcome (seed
// 60: 24.7 % above the whole-node bound without it), a pass whose look-ahead picks another
// move than the engine's records its run (for the controller's log) and the command's
// reason says why: both end prices and the move it replaced.
func TestLookaheadSaysWhy(t *testing.T) {
	w := newDemoReplay(t, 60, true)
	runs, overridden := 0, 0
	w.play(t, func(p *pass, cmd *Command) bool {
		if la := p.lookaheadRun; la != nil {
			runs++
			if la.played < 1 || la.played > la.moves || la.end > la.engineEnd+priceEpsilon {
				t.Fatalf("look-ahead run %+v: played must be 1..moves and its pick must not end dearer than the engine's move", *la)
			}
			if !la.kept {
				overridden++
				if cmd == nil || !strings.Contains(cmd.Why, "look-ahead: played forward the cluster ends at") {
					t.Fatalf("the look-ahead replaced the engine's move but the command says %v", cmd)
				}
			}
		}
		return true
	})
	if overridden == 0 {
		t.Fatalf("%d look-ahead runs, none replaced the engine's move", runs)
	}
	t.Logf("%d look-ahead runs, %d replaced the engine's move", runs, overridden)
}

// TestLookaheadRunsWhileACommandSettles: a command stays in flight for Settle (30 s) after
// its candidates are gone, protecting its replacements, and live the next move comes
// sooner than that. The look-ahead must still run then (it was skipped whenever any command
// was held, so it never ran on a live cluster), and not while a command's candidates are
// still there.
func TestLookaheadRunsWhileACommandSettles(t *testing.T) {
	w := newDemoReplay(t, 26, true)
	ctx := context.Background()
	ran := false
	w.play(t, func(p *pass, _ *Command) bool {
		ran = p.lookaheadRun != nil
		return !ran
	})
	if !ran {
		t.Fatal("no pass ran the look-ahead")
	}
	w.ctrl.commands = map[string]*inflight{"settling": {id: "settling", candidates: []string{"gone-already"}, replacements: []string{"landed-replacement"}}}
	if p, cmd, _ := w.decide(ctx); cmd == nil || p.lookaheadRun == nil {
		t.Fatalf("with a settling command: move %v, look-ahead ran %v; want a move and the look-ahead run", cmd, p.lookaheadRun != nil)
	}
	p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
	draining := p.claims[0].Name
	w.ctrl.commands = map[string]*inflight{"draining": {id: "draining", candidates: []string{draining}}}
	if p, cmd, _ := w.decide(ctx); cmd == nil || p.lookaheadRun != nil {
		t.Fatalf("while nodeclaim %s is drained: move %v, look-ahead ran %v; want a move without it", draining, cmd, p.lookaheadRun != nil)
	}
	w.ctrl.commands = nil
}

// play drives the replay pass after pass, applying each decision, until the engine's
// fixpoint or until visit, called on every pass before its decision is applied, returns
// false.
func (w *world) play(t *testing.T, visit func(p *pass, cmd *Command) bool) {
	t.Helper()
	for range 100 {
		p, cmd, _ := w.decide(context.Background())
		if !visit(p, cmd) {
			return
		}
		if cmd == nil {
			if p.sweptAll {
				return
			}
			continue
		}
		if err := w.apply(p, cmd); err != nil {
			t.Fatal(err)
		}
	}
}
