package disruption

import (
	"context"
	"fmt"
	"slices"
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

// demoTier is one Deployment of hack/demo's shop.
type demoTier struct {
	name     string
	cpu, mem string
	share    float64
}

var demoShop = []demoTier{{"storefront", "250m", "512Mi", 0.5}, {"checkout", "500m", "1Gi", 0.25}, {"cart", "1", "2Gi", 0.15}, {"search", "2", "4Gi", 0.10}}

// demoCounts splits total pods over the tiers as hack/demo does.
func demoCounts(total int) []int {
	out := make([]int, len(demoShop))
	assigned := 0
	for i, t := range demoShop {
		n := int(float64(total) * t.share)
		if i == len(demoShop)-1 {
			n = total - assigned
		}
		out[i] = n
		assigned += n
	}
	return out
}

// newDemoWorld is hack/demo's flash sale in memory: the sample NodePool (amd64 or arm64,
// spot or on-demand, generation > 4, budget 10 % in the sample), the peak's pods planned by the
// scheduler and launched at their cheapest options, then the Deployments scaled down to
// after pods the way a ReplicaSet picks its victims (from the node running most of its
// pods first), which leaves the survivors spread over many nodes.
func newDemoWorld(tb testing.TB, peak, after int, spotToSpot bool, budget string, consolidateAfter ...string) *world {
	tb.Helper()
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
		ConsolidateAfter: v1.MustParseNillableDuration(append(consolidateAfter, "0s")[0]), Budgets: []v1.Budget{{Nodes: budget}}}
	cluster.UpdateNodePool(pool)
	c, err := NewController(Deps{Cluster: cluster, CloudProvider: cloud, Clock: clk,
		Options: Options{MultiNodeTimeBudget: 2 * time.Second, SingleNodeTimeBudget: 2 * time.Second, SpotToSpotConsolidation: spotToSpot,
			Methods: []Method{Emptiness{}, MultiNodeConsolidation{}, SingleNodeConsolidation{}}}})
	if err != nil {
		tb.Fatal(err)
	}
	w := &world{ctrl: c, now: now}
	var pods []*corev1.Pod
	yes := true
	for i, n := range demoCounts(peak) {
		t := demoShop[i]
		for k := range n {
			pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "flash-sale", Name: fmt.Sprintf("%s-%03d", t.name, k),
				UID: types.UID(fmt.Sprintf("%s-%03d", t.name, k)), Labels: map[string]string{"app": t.name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: t.name, UID: types.UID(t.name), Controller: &yes}}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(t.cpu), corev1.ResourceMemory: resource.MustParse(t.mem)}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}
	}
	snap := &scheduling.Snapshot{NodePools: []scheduling.NodePool{scheduling.NodePoolFromAPI(pool, its, nil)}}
	plan := scheduling.Solve(snap, pods)
	if len(plan.Unschedulable) > 0 {
		tb.Fatalf("%d peak pods unschedulable", len(plan.Unschedulable))
	}
	// Scale down: per tier, delete from the node running most of the tier's pods first.
	onNode := map[types.UID]string{}
	for i, nc := range plan.NewNodeClaims {
		for _, pod := range nc.Pods {
			onNode[pod.UID] = fmt.Sprintf("node-%03d", i)
		}
	}
	keep := map[types.UID]bool{}
	for i, n := range demoCounts(after) {
		var tier []*corev1.Pod
		for _, pod := range pods {
			if pod.Labels["app"] == demoShop[i].name {
				tier = append(tier, pod)
			}
		}
		for len(tier) > n {
			count := map[string]int{}
			for _, pod := range tier {
				count[onNode[pod.UID]]++
			}
			victim := 0
			for j, pod := range tier {
				if count[onNode[pod.UID]] > count[onNode[tier[victim].UID]] {
					victim = j
				}
			}
			tier = slices.Delete(tier, victim, victim+1)
		}
		for _, pod := range tier {
			keep[pod.UID] = true
		}
	}
	for i, nc := range plan.NewNodeClaims {
		name := fmt.Sprintf("node-%03d", i)
		it := nc.InstanceTypes[slices.IndexFunc(nc.InstanceTypes, func(it *cloudprovider.InstanceType) bool { return it.Name == nc.Cheapest.InstanceType })]
		w.addNode(name, pool.Name, it, nc.Cheapest)
		for _, pod := range nc.Pods {
			if keep[pod.UID] {
				cp := *pod
				cp.Spec.NodeName = name
				cluster.UpdatePod(&cp)
				w.pods = append(w.pods, &cp)
			}
		}
	}
	return w
}

// addNode adds an initialized NodeClaim and its ready Node of the type at the option.
func (w *world) addNode(name, pool string, it *cloudprovider.InstanceType, o scheduling.Option) {
	cluster := w.ctrl.cluster
	labels := map[string]string{v1.NodePoolLabelKey: pool, corev1.LabelHostname: name, v1.LabelTopologyZone: o.Zone, v1.CapacityTypeLabelKey: o.CapacityType}
	for k, v := range it.Labels {
		labels[k] = v
	}
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels, CreationTimestamp: metav1.NewTime(w.now.Add(-time.Hour))}}
	nc.Spec.ExpireAfter = v1.MustParseNillableDuration("720h")
	nc.Status.ProviderID, nc.Status.NodeName = "fake://"+name, name
	nc.Status.Allocatable, nc.Status.Capacity = it.Allocatable(), it.Capacity
	nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(w.now.Add(-time.Hour))}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{ProviderID: nc.Status.ProviderID},
		Status: corev1.NodeStatus{Allocatable: it.Allocatable(), Capacity: it.Capacity, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	cluster.UpdateNodeClaim(nc)
	cluster.UpdateNode(node)
	w.price += o.Price
}

// demoBounds are the whole-node and LP lower bounds and a fresh plan's price for the
// world's pods on the demo pool.
func (w *world) demoBounds(p *pass) (integer, lp, fresh float64) {
	unbound := make([]*corev1.Pod, 0, len(w.pods))
	for _, pod := range w.pods {
		unbound = append(unbound, p.unbound(pod))
	}
	snap := &scheduling.Snapshot{NodePools: p.schedPools, DaemonSets: p.snap().DaemonSets}
	return scheduling.IntegerLowerBound(snap, unbound), scheduling.LowerBound(snap, unbound), scheduling.Solve(snap, unbound).Price
}

// TestDemoConverges plays hack/demo's sale (300 pods, then 20) in memory and reports where
// consolidation ends against the bounds, without and with spot-to-spot consolidation.
//
// The sale leaves 4 c6g.12xlarge, an m6g.2xlarge and two mediums (all spot) holding the
// 20 pods, with a budget of 1 node at a time. Without spot-to-spot consolidation the nodes
// can only be deleted, and no set of them without a 12xlarge holds the pods: one 12xlarge
// is the best end state here. (Live, the provisioner launches the peak in batches, on 17
// to 19 nodes with many small ones, and deleting alone reached the whole-node bound on
// 2026-11-30: this in-memory peak, one plan of 7 nodes, is the hard case.) With it, single-node consolidation must delete the 12xlarges
// first and replace the last one by a node the size of what does not fit on the small
// ones: it then ends within 10 % of the whole-node bound. It used to see only the one
// candidate the budget's count allowed (the m6g.2xlarge, fewest pods) and take the first
// move that worked, piling every pod onto a 12xlarge replaced at last by a c6g.4xlarge,
// 10.1 % above the bound.
func TestDemoConverges(t *testing.T) {
	for _, gate := range []bool{false, true} {
		t.Run(fmt.Sprintf("spotToSpot=%v", gate), func(t *testing.T) {
			w := newDemoWorld(t, 300, 20, gate, "10%")
			start := w.price
			prices := w.converge(t, 100)
			p := w.ctrl.newPass(context.Background(), w.now, w.pods, w.pdbs)
			ib, lp, fresh := w.demoBounds(p)
			last := prices[len(prices)-1]
			var types []string
			for _, nc := range p.claims {
				types = append(types, nc.Labels[v1.LabelInstanceType]+" "+nc.Labels[v1.CapacityTypeLabelKey])
			}
			slices.Sort(types)
			t.Logf("$%.4f/h -> $%.4f/h in %d decisions, on %v; whole-node bound $%.4f/h (%.1f%% above), LP $%.4f/h (%.1f%% above), fresh plan $%.4f/h",
				start, last, len(prices)-1, types, ib, 100*(last/ib-1), lp, 100*(last/lp-1), fresh)
			if gate && last > 1.10*ib {
				t.Errorf("ended %.1f%% above the whole-node bound, want within 10 %%", 100*(last/ib-1))
			}
		})
	}
}

// TestMultiNodeSearchesTheExpensiveNodesTheBudgetAllows: after the demo's sale with a
// budget of 3 nodes, the 3 candidates cheapest to disrupt are the small nodes (2 pods
// each, $0.15/h together) while three c6g.12xlarge ($0.65/h each) hold 3 or 4 pods. Multi-
// node consolidation must delete the expensive ones, not pile the small ones' pods on them.
func TestMultiNodeSearchesTheExpensiveNodesTheBudgetAllows(t *testing.T) {
	w := newDemoWorld(t, 300, 20, false, "3")
	w.ctrl.opts.Methods = []Method{MultiNodeConsolidation{}}
	_, cmd, _ := w.decide(context.Background())
	if cmd == nil {
		t.Fatal("no decision")
	}
	for _, c := range cmd.Candidates {
		if c.InstanceType == nil || c.InstanceType.Name != "c6g.12xlarge" {
			t.Fatalf("%s: it disrupts %s (%s), want only c6g.12xlarge nodes", cmd.Why, c.Name(), c.NodeClaim.Labels[v1.LabelInstanceType])
		}
	}
	if len(cmd.Candidates) != 3 || cmd.Savings < 3*0.65 {
		t.Fatalf("%s: %d candidates saving $%.4f/h, want the 3 the budget allows, saving about $1.96/h", cmd.Why, len(cmd.Candidates), cmd.Savings)
	}
}

// TestSingleNodeWaitsForTheBetterMove: after the demo's sale the four c6g.12xlarge just
// received pods (as the least allocated nodes do when others are drained), so consolidateAfter
// (30 s) keeps them from consolidating while the small nodes could be deleted now, piling
// their pods onto the 12xlarges. Single-node consolidation waits instead; once the
// 12xlarges are consolidatable it deletes one. Pod events that never stop are waited out
// for at most twice consolidateAfter. This is the engine's wait; the look-ahead is off, as
// once the wait ends it may take another move whose rollout ends cheaper (here a small
// node's delete, ending at $0.1984/h against $0.2066/h), which its own tests cover.
func TestSingleNodeWaitsForTheBetterMove(t *testing.T) {
	w := newDemoWorld(t, 300, 20, true, "10%", "30s")
	w.ctrl.opts.Methods = []Method{SingleNodeConsolidation{}}
	w.ctrl.opts.noLookahead = true
	touch := func() { // a pod event on every 12xlarge now
		p := w.ctrl.newPass(context.Background(), w.now, w.pods, w.pdbs)
		for _, nc := range p.claims {
			if nc.Labels[v1.LabelInstanceType] == "c6g.12xlarge" {
				cp := nc.DeepCopy()
				cp.Status.LastPodEventTime = metav1.NewTime(w.now)
				w.ctrl.cluster.UpdateNodeClaim(cp)
			}
		}
	}
	// Every other node's consolidateAfter has passed (they were created an hour ago).
	touch()
	if _, cmd, _ := w.decide(context.Background()); cmd != nil {
		t.Fatalf("consolidated %s (%s) while a 12xlarge waits for consolidateAfter", cmd.names(), cmd.Why)
	}
	w.now = w.now.Add(31 * time.Second)
	_, cmd, _ := w.decide(context.Background())
	if cmd == nil || cmd.Candidates[0].InstanceType.Name != "c6g.12xlarge" {
		t.Fatalf("after consolidateAfter: %v, want a c6g.12xlarge consolidated", cmd)
	}
	// Pod events that never stop (the move above was not applied): a new wait begins, and
	// ends 60 s (twice consolidateAfter) after it began.
	for range 4 {
		touch()
		w.now = w.now.Add(25 * time.Second)
		touch()
		if _, cmd, _ := w.decide(context.Background()); cmd != nil {
			return
		}
	}
	t.Fatal("still waiting 75 s after the wait began, with pod events on the 12xlarges every pass")
}
