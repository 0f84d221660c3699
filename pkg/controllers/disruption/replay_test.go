package disruption

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// newDemoReplay is hack/demo's flash sale as it plays on the live cluster, in memory and
// deterministic for a seed:
//   - the peak's 300 pods arrive in batches (the ReplicaSets create them over a few
//     seconds and the provisioner's batch window closes several times), each batch planned
//     by the provisioner's scheduler against the nodes launched for the earlier ones (so the
//     peak has many more, smaller nodes than one plan of 300 pods: 17 to 19 nodes live);
//   - the scale-down deletes, per tier, the pods the ReplicaSet controller ranks first (on
//     the node running most of the tier's pods, ties at random);
//   - pods evicted by a disruption land where kube-scheduler puts them (the feasible node
//     with the highest LeastAllocated + BalancedAllocation score, ties at random), not
//     where our planner would (world.kubeScheduler).
//
// The sample NodePool's disruption settings are kept: budget nodes 10 %, consolidateAfter
// 30 s (every replay step advances a minute, so it never blocks), spot-to-spot off unless
// gate.
func newDemoReplay(tb testing.TB, seed uint64, gate bool) *world {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	its := catalog.Default()
	cloud := fake.New(fake.Options{InstanceTypes: its})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	cluster := state.NewCluster(state.Options{Clock: clk})
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "pool"}}
	pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: corev1.LabelArchStable, Operator: v1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
		{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeSpot, v1.CapacityTypeOnDemand}},
		{Key: "karpenter.k8s.aws/instance-generation", Operator: v1.NodeSelectorOpGt, Values: []string{"4"}},
	}
	pool.Spec.Disruption = v1.Disruption{ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized,
		ConsolidateAfter: v1.MustParseNillableDuration("30s"), Budgets: []v1.Budget{{Nodes: "10%"}}}
	cluster.UpdateNodePool(pool)
	c, err := NewController(Deps{Cluster: cluster, CloudProvider: cloud, Clock: clk,
		Options: Options{MultiNodeTimeBudget: 2 * time.Second, SingleNodeTimeBudget: 2 * time.Second, SpotToSpotConsolidation: gate,
			Methods: []Method{Emptiness{}, MultiNodeConsolidation{}, SingleNodeConsolidation{}}}})
	if err != nil {
		tb.Fatal(err)
	}
	w := &world{ctrl: c, now: now, kubeScheduler: rng}
	// The pods, in the order they are created: the four ReplicaSets interleaved.
	yes := true
	var byTier [][]*corev1.Pod
	for i, n := range demoCounts(300) {
		t := demoShop[i]
		var tier []*corev1.Pod
		for k := range n {
			tier = append(tier, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "flash-sale", Name: fmt.Sprintf("%s-%03d", t.name, k),
				UID: types.UID(fmt.Sprintf("%s-%03d", t.name, k)), Labels: map[string]string{"app": t.name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: t.name, UID: types.UID(t.name), Controller: &yes}}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(t.cpu), corev1.ResourceMemory: resource.MustParse(t.mem)}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}
		byTier = append(byTier, tier)
	}
	var created []*corev1.Pod
	for len(created) < 300 {
		i := rng.IntN(len(byTier))
		if len(byTier[i]) == 0 {
			continue
		}
		created = append(created, byTier[i][0])
		byTier[i] = byTier[i][1:]
	}
	// The batches: 3 to 8 of random sizes.
	nBatches := 3 + rng.IntN(6)
	cuts := []int{0, 300}
	for range nBatches - 1 {
		cuts = append(cuts, 1+rng.IntN(299))
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	np := scheduling.NodePoolFromAPI(pool, its, nil)
	type peakNode struct {
		labels map[string]string
		alloc  corev1.ResourceList
		pods   []*corev1.Pod
	}
	var nodes []*peakNode
	names := map[string]*peakNode{}
	for b := 1; b < len(cuts); b++ {
		snap := &scheduling.Snapshot{NodePools: []scheduling.NodePool{np}}
		for name, n := range names {
			snap.Nodes = append(snap.Nodes, scheduling.ExistingNode{Name: name, Labels: n.labels, Allocatable: n.alloc, Pods: n.pods, NodePool: pool.Name})
		}
		slices.SortFunc(snap.Nodes, func(a, b scheduling.ExistingNode) int { return strings.Compare(a.Name, b.Name) })
		plan := scheduling.Solve(snap, created[cuts[b-1]:cuts[b]])
		if len(plan.Unschedulable) > 0 {
			tb.Fatalf("%d peak pods unschedulable", len(plan.Unschedulable))
		}
		for _, placed := range plan.ExistingNodes {
			names[placed.Name].pods = append(names[placed.Name].pods, placed.Pods...)
		}
		for _, nc := range plan.NewNodeClaims {
			name := fmt.Sprintf("node-%03d", len(nodes))
			it := nc.InstanceTypes[slices.IndexFunc(nc.InstanceTypes, func(it *cloudprovider.InstanceType) bool { return it.Name == nc.Cheapest.InstanceType })]
			w.addNode(name, pool.Name, it, nc.Cheapest)
			labels := map[string]string{v1.NodePoolLabelKey: pool.Name, corev1.LabelHostname: name, v1.LabelTopologyZone: nc.Cheapest.Zone, v1.CapacityTypeLabelKey: nc.Cheapest.CapacityType}
			for k, v := range it.Labels {
				labels[k] = v
			}
			n := &peakNode{labels: labels, alloc: it.Allocatable(), pods: slices.Clone(nc.Pods)}
			nodes = append(nodes, n)
			names[name] = n
		}
	}
	onNode := map[types.UID]string{}
	for name, n := range names {
		for _, pod := range n.pods {
			onNode[pod.UID] = name
		}
	}
	// Scale down: per tier, the ReplicaSet deletes pods on the node running most of the
	// tier's pods first (ties: the newest pod, here at random).
	keep := map[types.UID]bool{}
	for i, n := range demoCounts(20) {
		var tier []*corev1.Pod
		for _, pod := range created {
			if pod.Labels["app"] == demoShop[i].name {
				tier = append(tier, pod)
			}
		}
		for len(tier) > n {
			count := map[string]int{}
			for _, pod := range tier {
				count[onNode[pod.UID]]++
			}
			most := 0
			for _, pod := range tier {
				most = max(most, count[onNode[pod.UID]])
			}
			var victims []int
			for j, pod := range tier {
				if count[onNode[pod.UID]] == most {
					victims = append(victims, j)
				}
			}
			v := victims[rng.IntN(len(victims))]
			tier = slices.Delete(tier, v, v+1)
		}
		for _, pod := range tier {
			keep[pod.UID] = true
		}
	}
	for _, pod := range created {
		if keep[pod.UID] {
			cp := *pod
			cp.Spec.NodeName = onNode[pod.UID]
			cluster.UpdatePod(&cp)
			w.pods = append(w.pods, &cp)
		}
	}
	return w
}

// kubePlace places the moved pods one by one as kube-scheduler's default profile scores
// nodes: among the nodes with room, the highest NodeResourcesFit (LeastAllocated) plus
// NodeResourcesBalancedAllocation score, ties broken at random.
func (w *world) kubePlace(nodes []scheduling.ExistingNode, movers []*corev1.Pod) (map[types.UID]string, []*corev1.Pod) {
	used := map[string][2]int64{}
	for _, pod := range w.pods {
		if pod.Spec.NodeName == "" {
			continue
		}
		u := used[pod.Spec.NodeName]
		r := pod.Spec.Containers[0].Resources.Requests
		u[0] += r.Cpu().MilliValue()
		u[1] += r.Memory().Value()
		used[pod.Spec.NodeName] = u
	}
	for _, pod := range movers { // their old nodes are gone
		u := used[pod.Spec.NodeName]
		r := pod.Spec.Containers[0].Resources.Requests
		u[0] -= r.Cpu().MilliValue()
		u[1] -= r.Memory().Value()
		used[pod.Spec.NodeName] = u
	}
	out := map[types.UID]string{}
	var unplaced []*corev1.Pod
	for _, pod := range movers {
		r := pod.Spec.Containers[0].Resources.Requests
		cpu, mem := r.Cpu().MilliValue(), r.Memory().Value()
		var best []string
		bestScore := -1.0
		for _, n := range nodes {
			u := used[n.Name]
			ac, am := n.Allocatable.Cpu().MilliValue(), n.Allocatable.Memory().Value()
			if u[0]+cpu > ac || u[1]+mem > am {
				continue
			}
			fc, fm := float64(u[0]+cpu)/float64(ac), float64(u[1]+mem)/float64(am)
			least := ((1-fc)*100 + (1-fm)*100) / 2
			d := fc - fm
			if d < 0 {
				d = -d
			}
			balanced := (1 - d/2) * 100
			switch score := float64(int64(least)) + float64(int64(balanced)); {
			case score > bestScore:
				best, bestScore = []string{n.Name}, score
			case score == bestScore:
				best = append(best, n.Name)
			}
		}
		if len(best) == 0 {
			u := *pod
			u.Spec.NodeName = ""
			unplaced = append(unplaced, &u)
			continue
		}
		name := best[w.kubeScheduler.IntN(len(best))]
		u := used[name]
		u[0] += cpu
		u[1] += mem
		used[name] = u
		out[pod.UID] = name
	}
	return out, unplaced
}

// TestDemoReplayConverges replays hack/demo's sale (see newDemoReplay) for 12 seeds with
// the sample NodePool's settings (budget 10 %, so one node at a time below 11 nodes) and
// spot-to-spot consolidation on, drives the engine pass after pass to its fixpoint and
// checks the price ends within 10 % of the whole-node lower bound for the 20 pods left, as
// the demo prints it. Taking the single move saving the most each pass ended 10.1 % (seed 3)
// and 13.8 % (seed 11) above it: the moves are now steps towards the consolidation the
// pass would take without the budget (consolidationTarget).
func TestDemoReplayConverges(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			if last, ib := replay(t, seed, true); last > 1.10*ib {
				t.Errorf("ended %.1f%% above the whole-node bound, want within 10 %%", 100*(last/ib-1))
			}
		})
	}
}

// TestDemoReplayDeleteOnly is the replay without spot-to-spot consolidation (the
// controller's default): the spot nodes can only be deleted, so the end is at best the
// cheapest set of the peak's nodes the pods fit on, and for some peaks no such set is within
// 10 % of the bound (seed 7: the best end is one c6g.12xlarge, 230 % above it). It logs the
// figures and checks that every pod keeps a place (apply fails otherwise) and the engine
// reaches its fixpoint.
func TestDemoReplayDeleteOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("about 40 s; it asserts little beyond TestDemoReplayConverges")
	}
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			replay(t, seed, false)
		})
	}
}

// replay plays the seed's sale to the fixpoint and returns the end price and the
// whole-node bound, logging both.
func replay(t *testing.T, seed uint64, gate bool) (last, bound float64) {
	w := newDemoReplay(t, seed, gate)
	p := w.ctrl.newPass(context.Background(), w.now, w.pods, w.pdbs)
	peak := len(p.claims)
	start := w.price
	prices := w.converge(t, 100)
	if len(prices) > 100 {
		t.Fatalf("no fixpoint after 100 decisions")
	}
	p = w.ctrl.newPass(context.Background(), w.now, w.pods, w.pdbs)
	ib, _, _ := w.demoBounds(p)
	last = prices[len(prices)-1]
	var types []string
	for _, nc := range p.claims {
		types = append(types, nc.Labels[v1.LabelInstanceType]+" "+nc.Labels[v1.CapacityTypeLabelKey])
	}
	slices.Sort(types)
	t.Logf("%d nodes $%.4f/h -> $%.4f/h in %d decisions (%d launched for pods kube-scheduler found no room for), on %v; whole-node bound $%.4f/h: %+.1f%%",
		peak, start, last, len(prices)-1, w.pendingLaunches, types, ib, 100*(last/ib-1))
	return last, ib
}

// TestDemoReplayLookahead replays sales whose moves, each saving the most (or stepping
// towards the consolidation target), ended more than 10 % above the whole-node bound
// without the look-ahead (lookahead.go): seed 23 13.8 % above it on three nodes, seed 60
// 24.7 % above it on one m6g.4xlarge, the small nodes deleted onto it one by one. Playing
// each move forward to the end before taking one, they end within 10 % (+3.6 %, +0.0 %).
func TestDemoReplayLookahead(t *testing.T) {
	for _, seed := range []uint64{23, 60} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			if last, ib := replay(t, seed, true); last > 1.10*ib {
				t.Errorf("ended %.1f%% above the whole-node bound, want within 10 %%", 100*(last/ib-1))
			}
		})
	}
}
