package disruption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	podutil "github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/predicates"
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

// sweeps returns sweep, which runs one pass of the world's controller as Reconcile would
// and returns its command, and pass, which also requires it to find nothing (the world has
// converged, and what changed since gives no command).
func sweeps(ctx context.Context, t *testing.T, w *world) (sweep func(what string) *Command, pass func(what string)) {
	sweep = func(what string) *Command {
		t.Helper()
		generation := w.ctrl.cluster.PlacementGeneration()
		p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
		w.ctrl.hold(p)
		p.buildCandidates()
		cmd, errs := w.ctrl.compute(ctx, p, generation)
		if len(errs) > 0 {
			t.Fatalf("%s: errors %v", what, errs)
		}
		w.now = w.now.Add(10 * time.Second)
		return cmd
	}
	pass = func(what string) {
		t.Helper()
		if cmd := sweep(what); cmd != nil {
			t.Fatalf("%s: the converged cluster gave command %v", what, cmd)
		}
	}
	return sweep, pass
}

// A cluster in which consolidation swept every candidate and found nothing is not simulated
// again every pass while nothing changes; a change in the cluster state, in what the
// fingerprint covers, or ConsolidationRecheck passing brings the methods back.
func TestQuietClusterSkipsConsolidation(t *testing.T) {
	ctx := context.Background()
	w, n, pass := countedWorld(ctx, t)
	expect := func(what string, ran bool) {
		t.Helper()
		if got := n.multi > 0 && n.single > 0; got != ran {
			t.Errorf("%s: consolidation ran = %v (multi-node %d, single-node %d calls), want %v", what, got, n.multi, n.single, ran)
		}
		n.multi, n.single = 0, 0
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
	n.multi, n.single = 0, 0
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
	n.tried = 0
	pass("recheck")
	expect("after ConsolidationRecheck", true)
	p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
	p.buildCandidates()
	if candidates := len(consolidationCandidates(p)); candidates == 0 || n.tried < candidates {
		t.Errorf("after ConsolidationRecheck single-node consolidation simulated %d candidates, want every one (%d)", n.tried, candidates)
	}
}

// Nodes flapping NotReady and Ready again (their leases lapsing under load), with the node
// lifecycle controller's taints and their pods' Ready conditions, do not bring consolidation
// back while it found nothing; a change that can change its decision does: a node that was
// unhealthy at the sweep healthy again (after HealthRecheck), a budget that bound the sweep
// allowing more, a pod deleted, a taint nobody's health put there.
func TestHealthChurnSkipsConsolidation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 11, worldOptions{nodes: 30, fill: 0.6, budget: "10%"})
	w.converge(t, 300)
	var multi, single int
	w.ctrl.opts.Methods = []Method{Emptiness{}, Drift{}, counting{MultiNodeConsolidation{}, &multi}, counting{SingleNodeConsolidation{}, &single}}
	sweep, pass := sweeps(ctx, t, w)
	expect := func(what string, ran bool) {
		t.Helper()
		if got := multi > 0 || single > 0; got != ran {
			t.Errorf("%s: consolidation ran = %v (multi-node %d, single-node %d calls), want %v", what, got, multi, single, ran)
		}
		multi, single = 0, 0
	}
	rv := 100
	update := func(name string, change func(*corev1.Node)) {
		t.Helper()
		for _, n := range w.ctrl.cluster.Nodes() {
			if n.Name == name {
				n = n.DeepCopy()
				rv++
				n.ResourceVersion = fmt.Sprint(rv)
				change(n)
				w.ctrl.cluster.UpdateNode(n)
				return
			}
		}
		t.Fatalf("no node %s", name)
	}
	flap := func(ready bool) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return predicates.IsHealthTaint(&t) })
			status := corev1.ConditionTrue
			if !ready {
				status = corev1.ConditionUnknown
				n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: predicates.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
					corev1.Taint{Key: predicates.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
			}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, LastTransitionTime: metav1.NewTime(w.now)}}
		}
	}
	nodeNames := []string{}
	for _, n := range w.ctrl.cluster.Nodes() {
		nodeNames = append(nodeNames, n.Name)
	}
	slices.Sort(nodeNames)
	if len(nodeNames) < 4 {
		t.Fatalf("the converged world kept %d nodes, want at least 4", len(nodeNames))
	}
	a, b := nodeNames[0], nodeNames[1]

	pass("first pass")
	expect("the first pass sweeps every candidate", true)
	pass("quiet")
	expect("a quiet pass", false)

	// Node a flaps: NotReady and tainted, its pods not Ready, then Ready again.
	update(a, flap(false))
	for i, pod := range w.pods {
		if pod.Spec.NodeName == a {
			p := pod.DeepCopy()
			rv++
			p.ResourceVersion = fmt.Sprint(rv)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			w.ctrl.cluster.UpdatePod(p)
			w.pods[i] = p
		}
	}
	pass("node a NotReady")
	expect("a node turning NotReady, tainted unreachable, its pods not Ready", false)
	update(a, flap(true))
	pass("node a Ready")
	expect("the node Ready again (it was healthy at the sweep)", false)

	// A sweep while b is NotReady: the 10 % budget (its nodes minus b) binds it.
	update(b, flap(false))
	w.now = w.now.Add(ConsolidationRecheck)
	pass("recheck with b NotReady")
	expect("ConsolidationRecheck passed", true)
	pass("quiet with b NotReady")
	expect("quiet with b NotReady", false)
	update(b, flap(true))
	pass("b Ready again")
	expect("b Ready again: its pool's budget allows one more node than at the sweep", true)

	// With a budget that does not bind (100 %, and node c not a candidate: with nodes
	// NotReady the budget still covers every candidate), a node unhealthy at the sweep
	// coming back waits for HealthRecheck, and then brings consolidation back only if it has
	// room for one of the pods consolidation moves: nodes whose leases lapse are mostly full.
	pool := w.ctrl.cluster.NodePools()[0].DeepCopy()
	pool.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "100%"}}
	pool.ResourceVersion = "budget-100"
	w.ctrl.cluster.UpdateNodePool(pool)
	update(nodeNames[2], func(n *corev1.Node) { n.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"} })
	// The full node has no room for the smallest pod; the roomy one, of the nodes with
	// room for it, the most CPU free (how much depends on how well the world converged:
	// the look-ahead's CPU budget can cut it at different moves on a loaded machine).
	full, roomy := "", ""
	{
		p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
		p.buildCandidates()
		least := leastRequests(p)
		most := int64(-1)
		for _, name := range nodeNames {
			cpu := p.nodeList[slices.IndexFunc(p.nodeList, func(n *corev1.Node) bool { return n.Name == name })].Status.Allocatable.Cpu().MilliValue()
			for _, pod := range p.podsOn(name) {
				req := podutil.Requests(pod)
				cpu -= req.Cpu().MilliValue()
			}
			switch {
			case cpu < least.Cpu().MilliValue() && full == "":
				full = name
			case cpu >= least.Cpu().MilliValue() && cpu > most && (&quietState{}).destination(p, name):
				roomy, most = name, cpu
			}
		}
	}
	if full == "" || roomy == "" {
		t.Fatalf("the converged world has no full node (%q) or no node with room (%q)", full, roomy)
	}
	update(full, flap(false))
	update(roomy, flap(false))
	pass("budget 100%, two nodes NotReady")
	expect("a NodePool's budget changed, a node annotated do-not-disrupt", true)
	update(full, flap(true))
	pass("the full node Ready again, budget 100%")
	// Its pool's budget allows one more node now (two NotReady nodes were one more than
	// the candidates left room for): multi-node consolidation may search again.
	if single != 0 {
		t.Errorf("the full node Ready again before HealthRecheck: single-node consolidation ran %d times, want 0", single)
	}
	multi, single = 0, 0
	w.now = w.now.Add(HealthRecheck)
	pass("the full node Ready again, after HealthRecheck")
	expect("the full node Ready again after HealthRecheck (no room for any pod)", false)
	update(roomy, flap(true))
	pass("the node with room Ready again, after HealthRecheck")
	expect("a node with room Ready again, HealthRecheck passed", true)
	pass("quiet")
	expect("quiet", false)

	// A budget of 2 with a node NotReady allows 1; Ready again, 2: multi-node consolidation
	// searches the sets it now allows, single-node consolidation (one candidate at a time,
	// which a budget of 1 allowed already) is not run again.
	pool = pool.DeepCopy()
	pool.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "2"}}
	pool.ResourceVersion = "budget-2"
	w.ctrl.cluster.UpdateNodePool(pool)
	update(full, flap(false))
	pass("budget 2, the full node NotReady")
	expect("a NodePool's budget changed", true)
	pass("quiet")
	expect("quiet", false)
	update(full, flap(true))
	pass("budget 2, the full node Ready again")
	if multi == 0 || single != 0 {
		t.Errorf("budget 1 -> 2: multi-node consolidation ran %d times, single-node %d, want multi-node only", multi, single)
	}
	multi, single = 0, 0
	pass("quiet")
	expect("quiet after multi-node consolidation searched the larger budget", false)

	// Changes that are not health.
	update(a, func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule})
	})
	pass("tainted")
	expect("a taint that is not the lifecycle controller's", true)
	pass("quiet")
	expect("quiet", false)
	gone := w.pods[len(w.pods)-1]
	w.pods = w.pods[:len(w.pods)-1]
	w.ctrl.cluster.DeletePod(types.NamespacedName{Namespace: gone.Namespace, Name: gone.Name})
	sweep("pod deleted") // with a pod fewer a move may exist: only the sweep is asserted
	expect("a pod deleted", true)
}

// trying counts the candidates single-node consolidation simulated in its passes.
type trying struct {
	Method
	tried *int
}

func (m trying) Compute(ctx context.Context, p *pass) (*Command, error) {
	cmd, err := m.Method.Compute(ctx, p)
	*m.tried += len(p.tried)
	return cmd, err
}

// counts are the calls of the consolidation methods and the candidates single-node
// consolidation simulated.
type counts struct{ multi, single, tried int }

// countedWorld is a converged world of 30 nodes whose consolidation methods are counted,
// and its pass (see sweeps).
func countedWorld(ctx context.Context, t *testing.T) (*world, *counts, func(what string)) {
	w := newWorld(t, 11, worldOptions{nodes: 30, fill: 0.6, budget: "100%"})
	w.converge(t, 300)
	n := &counts{}
	w.ctrl.opts.Methods = []Method{Emptiness{}, Drift{}, counting{MultiNodeConsolidation{}, &n.multi}, counting{trying{SingleNodeConsolidation{}, &n.tried}, &n.single}}
	_, pass := sweeps(ctx, t, w)
	return w, n, pass
}

// Candidates joining a sweep one after another (nodes whose consolidateAfter ends after a
// scale-up, each NodeClaim's Consolidatable condition written as it does) are tried on their
// own: the candidates tried before in the same state are not simulated again, and
// multi-node consolidation does not search the same candidates within the same budgets
// twice in one state.
func TestSweepGoesOnAsCandidatesJoin(t *testing.T) {
	ctx := context.Background()
	w, n, pass := countedWorld(ctx, t)

	// consolidateAfter 1m; half the NodeClaims had a pod event 30 s ago, the others 2m ago.
	pool := w.ctrl.cluster.NodePools()[0].DeepCopy()
	pool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("1m")
	pool.ResourceVersion = "after-1m"
	w.ctrl.cluster.UpdateNodePool(pool)
	claims := w.ctrl.cluster.NodeClaims()
	slices.SortFunc(claims, func(a, b *v1.NodeClaim) int { return strings.Compare(a.Name, b.Name) })
	if len(claims) < 4 {
		t.Fatalf("the converged world kept %d NodeClaims, want at least 4", len(claims))
	}
	late := len(claims) / 2
	podEvent := func(nc *v1.NodeClaim, at time.Time, rv string) {
		nc = nc.DeepCopy()
		nc.ResourceVersion = rv
		nc.Status.LastPodEventTime = metav1.NewTime(at)
		w.ctrl.cluster.UpdateNodeClaim(nc)
	}
	for i, nc := range claims {
		at := w.now.Add(-2 * time.Minute)
		if i < late {
			at = w.now.Add(-30 * time.Second)
		}
		podEvent(nc, at, "event-1")
	}
	pass("half the candidates")
	if want := len(claims) - late; n.tried != want || n.multi != 1 {
		t.Errorf("first pass: single-node consolidation tried %d candidates, multi-node searched %d times; want %d and 1", n.tried, n.multi, want)
	}
	n.multi, n.single, n.tried = 0, 0, 0

	// 40 s on, the others' consolidateAfter has ended and their Consolidatable conditions
	// are written: they join the sweep.
	w.now = w.now.Add(30 * time.Second)
	generation := w.ctrl.cluster.PlacementGeneration()
	for _, nc := range w.ctrl.cluster.NodeClaims() {
		nc = nc.DeepCopy()
		nc.ResourceVersion = "consolidatable"
		nc.Status.Conditions = append(nc.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeConsolidatable, Status: metav1.ConditionTrue, Reason: "Consolidatable", LastTransitionTime: metav1.NewTime(w.now)})
		w.ctrl.cluster.UpdateNodeClaim(nc)
	}
	if got := w.ctrl.cluster.PlacementGeneration(); got != generation {
		t.Errorf("writing the Consolidatable conditions moved the placement generation %d -> %d", generation, got)
	}
	pass("the others joined")
	if n.tried != late || n.multi != 1 {
		t.Errorf("after %d candidates joined: single-node consolidation tried %d candidates, multi-node searched %d times; want %d and 1", late, n.tried, n.multi, late)
	}
	n.multi, n.single, n.tried = 0, 0, 0
	pass("quiet")
	if n.multi+n.single+n.tried != 0 {
		t.Errorf("quiet: multi-node %d, single-node %d calls (%d tried), want none", n.multi, n.single, n.tried)
	}

	// A single-node sweep spread over passes by its time budget: multi-node consolidation
	// searches once, not every pass of it.
	w.ctrl.opts.SingleNodeTimeBudget = time.Nanosecond
	w.ctrl.opts.SingleNodeImproveBudget = time.Nanosecond
	pool = pool.DeepCopy()
	pool.ResourceVersion = "label"
	pool.Labels = map[string]string{"team": "a"}
	w.ctrl.cluster.UpdateNodePool(pool)
	passes := 0
	for ; passes < 3*len(claims); passes++ {
		pass(fmt.Sprintf("sweep pass %d", passes))
		if n.single == 0 {
			break
		}
		n.single = 0
	}
	if n.multi != 1 || passes < 2 || n.tried != len(claims) {
		t.Errorf("a sweep over %d passes: multi-node searched %d times, single-node tried %d candidates; want 1 and %d", passes, n.multi, n.tried, len(claims))
	}
}
